"""Compute API (Nova v2.1): ``POST /servers/{id}/action {"os-getConsoleOutput": {"length": N}}``.

Answers 200 ``{"output": "..."}``: the last ``length`` lines of the server's serial console log (all of
it when ``length`` is absent, null or -1), read by the agent of the server's host
(:mod:`twinstack.core.compute.console`). A server not placed on a host yet is 409, as in Nova; a host
that does not answer in time is 504-like (Nova's 500 "Unable to get console").
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from fastapi.responses import JSONResponse

from twinstack.api.compute.common import find_server
from twinstack.api.compute.deps import ComputeDep
from twinstack.api.deps import CallerDep
from twinstack.core.compute.console import ConsoleRequest
from twinstack.core.errors import BadRequest, CloudError, Conflict, NotFound

ACTION = "os-getConsoleOutput"
POLICY = "os_compute_api:os-console-output"
WAIT_SECONDS = 30.0


class ConsoleUnavailable(CloudError):
    status = 500


def _length(payload: Any) -> int | None:
    value = payload.get("length") if isinstance(payload, dict) else None
    if value is None:
        return None
    try:
        length = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute length. Value: {value}.") from None
    if length < -1:
        raise BadRequest(f"Invalid input for field/attribute length. Value: {value}. {value} is less than -1")
    return None if length == -1 else length


def console_output(payload: Any, server_id: str, caller: CallerDep, compute: ComputeDep) -> JSONResponse:
    length = _length(payload)
    instance = find_server(compute, caller, server_id, POLICY)
    if instance.host is None:
        raise Conflict(f"Instance {server_id} is not ready")
    service = compute.service
    request = ConsoleRequest(service.runtime, service.bus, instance.host, instance.uuid, length,
                             cell_buses=service.cell_buses, cell=instance.cell)
    try:
        answer = request.answer.result(timeout=WAIT_SECONDS)
    except FutureTimeout:
        request.abandon()
        raise ConsoleUnavailable(f"Unable to get console output: host {instance.host} did not answer") from None
    if not answer.ok:
        raise NotFound(answer.fault or "Guest does not have a console available.")
    return JSONResponse({"output": answer.output})
