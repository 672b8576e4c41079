"""A plane started again over a cloud's database, before its agents register again (issue #9): what the broker kept
for the conductor (builds) reaches it first, and must find the hosts known and what they hold counted. Seen in
tests/api/test_fault_kill_serve.py: a restarted ``serve`` refused such builds ("Every host that passed the filters
lost its claim") and the claim a killed attempt had made stayed, held by a server in ERROR on no host."""

from __future__ import annotations

import time
import uuid

from tests.api.compute_helpers import Nova, start_plane
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane, build_compute_plane
from twinstack.core.compute import states
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.filter_scheduler import scheduler_factory
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.rpc.bus import send
from twinstack.rpc.compute import CONDUCTOR_TOPIC
from twinstack.rpc.conductor import BuildInstances


def restarted_without_agents(api: Api) -> ComputePlane:
    """The plane as a restarted ``serve`` has it before its agent registers: its hosts only in the host store."""
    plane = build_compute_plane(api.cloud.sessions, SqlBackedPlacement(api.cloud.sessions), scheduler_factory(),
                                None, speed=1.0, conductor_settings=ConductorSettings(
                                    build_timeout=60, service_down_time=60, check_interval=5))
    api.cloud.compute = plane.context()
    return plane


def placed(plane: ComputePlane, server_id: str) -> str:
    """The host the conductor placed the server on (its spawn is never answered: no agent runs)."""
    deadline = time.monotonic() + 10
    while True:
        instance = plane.instances.get(server_id)
        assert instance is not None
        assert instance.vm_state == states.BUILDING, f"{instance.vm_state}: {instance.fault}"
        if instance.host is not None:
            return instance.host
        assert time.monotonic() < deadline, "the build was never placed"
        time.sleep(0.05)


def held(api: Api, consumer: str) -> dict[str, dict[str, int]]:
    with api.cloud.sessions() as session:
        found = sql.consumer_allocations(session, consumer)
        return {provider: dict(a.resources) for provider, a in found.allocations.items()}


def test_a_restarted_plane_places_builds_before_its_agents_register_and_drops_a_killed_attempts_claim(
        api: Api) -> None:
    start_plane(api.cloud).stop()  # the hosts registered once: their records and providers are in the database

    plane = restarted_without_agents(api)
    try:
        server = str(Nova(api).boot("early")["id"])
        first_host = placed(plane, server)
        assert len(held(api, server)) == 1, "claimed once, on the host it was placed on"

        # as a conductor killed between its claim and recording the host leaves it: building on no host, the claim
        # in SQL; the broker hands its build to the next conductor
        instance = plane.instances.get(server)
        assert instance is not None
        instance.host = instance.node = None
        instance.task_state = states.SCHEDULING
        plane.instances.save(instance)
    finally:
        plane.stop()

    again = restarted_without_agents(api)
    try:
        send(again.bus, CONDUCTOR_TOPIC, BuildInstances(instance_uuids=[server], request_id=f"req-{uuid.uuid4()}"))
        host = placed(again, server)
        claims = held(api, server)
        assert len(claims) == 1, f"one claim, where it was placed: {claims} (first placed on {first_host})"
        with api.cloud.sessions() as session:
            provider = sql.get_provider(session, next(iter(claims)))
        assert provider.name == host
    finally:
        again.stop()
        api.cloud.compute = None
