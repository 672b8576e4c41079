"""Arranging the hostile-input tests: one cloud per module with live planes, an admin and two members of two
projects, every service's OpenAPI document, and schemathesis run over it in-process.

The fuzzing is CI-sized and deterministic: a few examples per operation, hypothesis derandomized (the same
cases on every run), no example database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.compute_helpers import Member, make_member
from tests.api.volume_helpers import running_planes
from tests.conftest import Api, make_settings
from twinstack.api.services import SERVICES
from twinstack.cloud import open_cloud
from twinstack.core.clock import ManualClock
from twinstack.loadbalancer_plane import start_loadbalancer
from twinstack.setup_cloud import bootstrap

PREFIXES = [service.prefix for service in SERVICES]
"""Where each service is mounted; each serves its OpenAPI document at ``<prefix>/openapi.json``."""
SCHEMA_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
"""A valid request: no 5xx, a documented status, and a body of the documented type and shape."""


@dataclass
class HostileCloud:
    api: Api
    alice: Member
    """A member of project ``alpha``."""
    bob: Member
    """A member of project ``beta``."""


def hostile_cloud(tmp_path: Path) -> Iterator[HostileCloud]:
    """A bootstrapped cloud with live compute, block storage and load-balancing planes, for a module fixture to
    ``yield from``."""
    cloud = open_cloud(make_settings(tmp_path), clock=ManualClock(start=time.time()))
    bootstrap(cloud)
    api = Api(cloud)
    planes = running_planes(api)
    start_loadbalancer(cloud, next(planes).compute)  # the load balancers' worker and simulated amphorae too
    try:
        yield HostileCloud(api, make_member(api, "alice", "alpha"), make_member(api, "bob", "beta"))
    finally:
        planes.close()
        cloud.close()


def service_schema(api: Api, prefix: str) -> Any:
    """The service's OpenAPI document as it serves it, loaded by schemathesis to call the whole app (every
    middleware included) in-process."""
    return schemathesis.openapi.from_asgi(f"{prefix}/openapi.json", api.http.app)


def _takes_json_body(operation: Any) -> bool:
    body = operation.definition.raw.get("requestBody", {})
    return "application/json" in body.get("content", {})


def fuzz(api: Api, prefix: str, token: str, *, max_examples: int, negative: bool = False) -> list[str]:
    """Every failure schemathesis finds in the service at ``prefix`` called with ``token``: one line each.

    Positive cases (valid by the document) are held to the document: no 5xx, documented status, content
    type and body. Negative cases (bodies the document says are invalid) only to no 5xx; they are made for
    operations taking a JSON body, where a document can say what is invalid.
    """
    mode = schemathesis.GenerationMode.NEGATIVE if negative else schemathesis.GenerationMode.POSITIVE
    checks = [not_a_server_error] if negative else SCHEMA_CHECKS
    failures: list[str] = []
    for result in service_schema(api, prefix).get_all_operations():
        operation = result.ok()
        if not negative or _takes_json_body(operation):
            failures += _fuzz_operation(operation, f"{operation.method.upper()} {prefix}{operation.path}", token,
                                        mode, checks, max_examples)
    return failures


def _fuzz_operation(operation: Any, label: str, token: str, mode: schemathesis.GenerationMode, checks: list[Any],
                    max_examples: int) -> list[str]:
    failures: list[str] = []

    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(headers={"X-Auth-Token": token}, checks=checks)
        except FailureGroup as exc:  # every check that failed, with a curl line to reproduce it
            failures.append(f"{label}: {exc}")

    run()
    return failures
