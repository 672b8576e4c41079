"""The Placement workload, the same HTTP calls for either side: populate providers, list candidates, claim.

A side is a base URL and the headers that authenticate to it (a Keystone token for Twinstack, noauth2's
``admin`` for OpenStack Placement); every call says microversion 1.39, which both serve.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.placement import REQUEST

MICROVERSION = "placement 1.39"
#: The inventory every provider gets, as the issue fixes it.
INVENTORY = {
    "VCPU": {"total": 64, "allocation_ratio": 4.0, "max_unit": 64},
    "MEMORY_MB": {"total": 262144, "allocation_ratio": 1.0, "max_unit": 262144},
    "DISK_GB": {"total": 4000, "allocation_ratio": 1.0, "max_unit": 4000},
}
RESOURCES = ",".join(f"{rc}:{n}" for rc, n in REQUEST.items())

Call = Callable[[httpx.AsyncClient], Awaitable[bool]]


@dataclass
class Side:
    """One Placement endpoint and the providers created on it so far (the same UUIDs on both sides)."""

    name: str
    url: str
    headers: dict[str, str]
    status: Callable[[], str] = lambda: "unknown"
    """Whether the side's server still runs, and its log's end (said when it stops answering)."""
    providers: list[str] = field(default_factory=list)

    @property
    def request_headers(self) -> dict[str, str]:
        return {**self.headers, "OpenStack-API-Version": MICROVERSION}

    def client(self, concurrency: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        return httpx.AsyncClient(base_url=self.url, limits=limits, timeout=600, headers=self.request_headers)


_ATTEMPTS = 24
"""Tries of one populating request (see :func:`_retrying`)."""


async def _retrying(client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any], expect: int) -> None:
    """Send until the answer is ``expect``; a 5xx (SQLite busy under several writer processes) is retried, and so
    is a refused or dropped connection (a uWSGI listen queue full while its workers catch up on a loaded machine:
    once seen in CI; and a peer's stall of several seconds on a machine running two test suites at once), each after
    a growing pause: about half a minute in all before the error is the run's."""
    for attempt in range(_ATTEMPTS):
        try:
            answer = await client.request(method, url, json=body)
        except httpx.TransportError:
            if attempt == _ATTEMPTS - 1:
                raise
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
            continue
        if answer.status_code == expect:
            return
        if answer.status_code < 500:
            break
        await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text[:500]}")


async def populate(side: Side, uuids: list[str], concurrency: int) -> None:
    """Create each provider not yet on ``side`` and set its inventory: ``POST /resource_providers`` then
    ``PUT /resource_providers/{uuid}/inventories`` (generation 0). Placement has no bulk call for either."""
    todo = uuids[len(side.providers):]
    queue = iter(todo)
    async with side.client(concurrency) as client:

        async def worker() -> None:
            for rp in queue:
                await _retrying(client, "POST", "/resource_providers", {"name": f"cn-{rp}", "uuid": rp}, 200)
                await _retrying(client, "PUT", f"/resource_providers/{rp}/inventories",
                                {"resource_provider_generation": 0, "inventories": INVENTORY}, 200)

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        except httpx.TransportError as exc:
            raise RuntimeError(f"{side.name} at {side.url} stopped answering ({exc!r}); its server: "
                               f"{side.status()}") from exc
    side.providers.extend(todo)


def candidates(side: Side, limit: int | None, expect: int) -> Call:
    """``GET /allocation_candidates`` for the benchmark's request; ok when it lists ``expect`` candidates."""
    query = f"{side.url}/allocation_candidates?resources={RESOURCES}" + (f"&limit={limit}" if limit else "")
    headers = side.request_headers

    async def call(client: httpx.AsyncClient) -> bool:
        answer = await client.get(query, headers=headers)
        return answer.status_code == 200 and len(answer.json()["allocation_requests"]) == expect

    return call


def claims(side: Side, seed: int) -> Call:
    """``PUT /allocations/{new consumer}`` of the benchmark's request on a random provider (seeded, so both
    sides claim on the same providers in the same order)."""
    rng = random.Random(seed)
    headers = side.request_headers

    async def call(client: httpx.AsyncClient) -> bool:
        answer = await client.put(f"{side.url}/allocations/{uuid.uuid4()}", headers=headers, json={
            "allocations": {rng.choice(side.providers): {"resources": REQUEST}}, "project_id": "bench",
            "user_id": "bench", "consumer_generation": None, "consumer_type": "INSTANCE"})
        return answer.status_code == 204

    return call
