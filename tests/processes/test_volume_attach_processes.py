"""``server add volume`` / ``server remove volume`` across processes: the API (``serve --no-plane``) casts
AttachVolume to a ``twinstack conductor`` process over RabbitMQ, which has the host's volume connector in a
``twinstack agent`` process connect it and answer on the conductor's own reply topic; the detach goes the same way.
Through openstacksdk, on a fresh PostgreSQL database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cluster import fresh_postgres, local_cluster
from benchmarks.scale_out import agent_arguments, connect, wait_for
from tests.rpc.broker import delete_prefix, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FAST_VOLUMES = {"TWINSTACK_VOLUME__CREATE_SECONDS": "0.2", "TWINSTACK_VOLUME__DELETE_SECONDS": "0.2",
                "TWINSTACK_VOLUME__ATTACH_SECONDS": "0.2", "TWINSTACK_VOLUME__REPORT_SECONDS": "1"}


def event_of(conn: Any, server_id: str, action: str, event: str) -> dict[str, Any] | None:
    """The finished ``event`` of the server's latest ``action`` (None while it runs)."""
    listed = conn.compute.get(f"/servers/{server_id}/os-instance-actions", microversion="2.62").json()
    request_id = next(a["request_id"] for a in listed["instanceActions"] if a["action"] == action)
    shown = conn.compute.get(f"/servers/{server_id}/os-instance-actions/{request_id}", microversion="2.62").json()
    found = [e for e in shown["instanceAction"]["events"] if e["event"] == event and e["finish_time"]]
    return found[0] if found else None


def test_an_attach_and_a_detach_go_through_a_conductor_process(tmp_path: Path) -> None:
    prefix = unique_prefix()
    try:
        with fresh_postgres() as database, local_cluster(tmp_path, database, prefix, FAST_VOLUMES) as cluster:
            cluster.serve(1)
            cluster.conductor("conductor-a")
            cluster.agent("agent1", *agent_arguments(tmp_path, "agent1", 2, 0, boot_seconds=0.5))
            cluster.wait_serving()
            conn = connect(cluster)
            wait_for("hosts registering", lambda: len(list(conn.compute.hypervisors())) >= 2, 120, cluster)
            flavor = conn.compute.find_flavor("m1.tiny")
            image = conn.image.find_image("twinstack-test")
            server = conn.compute.create_server(name="vm", flavor_id=flavor.id, image_id=image.id, networks="none")
            wait_for("the server booting", lambda: conn.compute.get_server(server.id).status == "ACTIVE", 60,
                     cluster)
            volume = conn.block_storage.create_volume(size=1, name="data")
            wait_for("the volume", lambda: conn.block_storage.get_volume(volume.id).status == "available", 60,
                     cluster)
            conn.compute.create_volume_attachment(server.id, volume_id=volume.id)
            wait_for("the attach", lambda: conn.block_storage.get_volume(volume.id).status == "in-use", 60, cluster)
            host = conn.compute.get_server(server.id).compute_host
            attached = event_of(conn, server.id, "attach_volume", "compute_attach_volume")
            assert attached is not None and attached["result"] == "Success" and attached["host"] == host
            [attachment] = conn.block_storage.get_volume(volume.id).attachments
            assert attachment["server_id"] == server.id and attachment["host_name"] == host
            conn.compute.delete_volume_attachment(server.id, volume.id)
            wait_for("the detach", lambda: conn.block_storage.get_volume(volume.id).status == "available", 60,
                     cluster)
            deadline = time.monotonic() + 30
            while (detached := event_of(conn, server.id, "detach_volume", "compute_detach_volume")) is None:
                assert time.monotonic() < deadline, "the detach event did not finish"
                time.sleep(0.3)
            assert detached["result"] == "Success"
            cluster.check_alive()
    finally:
        delete_prefix(prefix)
