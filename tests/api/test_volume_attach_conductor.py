"""``server add volume`` / ``server remove volume`` through the conductor, as Nova's API casts to its compute manager:
the API reserves, the conductor has the host connect (or disconnect) under a deadline and records the instance
action's ``compute_attach_volume`` (``compute_detach_volume``) event. The conductor here gives a command 1 s."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from tests.api.compute_helpers import Nova
from tests.api.volume_fixtures import cinder, nova, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import Cinder, Planes, wait_until
from twinstack.core.compute import volume_attach
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.rpc.bus import send
from twinstack.rpc.conductor import CONDUCTOR_TOPIC, AttachVolume
from twinstack.rpc.messages import Message
from twinstack.rpc.volume import ConnectVolume, DisconnectVolume

QUICK = ConductorSettings(build_timeout=1.0, service_down_time=60, check_interval=0.2)


@pytest.fixture
def conductor_settings() -> ConductorSettings:
    return QUICK


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """The commands the conductor's attach flow sends to hosts."""
    seen: list[Message] = []
    real = volume_attach.send

    def spy(bus: Any, topic: str, message: Message, reply_to: str | None = None) -> None:
        seen.append(message)
        real(bus, topic, message, reply_to=reply_to)

    monkeypatch.setattr(volume_attach, "send", spy)
    return seen


def host_volumes(planes: Planes) -> Any:
    assert planes.volume.host_volumes is not None
    return planes.volume.host_volumes


def attach(nova: Nova, server_id: str, volume_id: str) -> None:
    response = nova.post(f"/servers/{server_id}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": volume_id}})
    assert response.status_code == 200, response.text


def action(nova: Nova, server_id: str, name: str) -> dict[str, Any]:
    """The server's latest instance action called ``name``, with its events (admin: with their tracebacks)."""
    listed = nova.at("2.62").get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    request_id = next(a for a in listed if a["action"] == name)["request_id"]
    shown: dict[str, Any] = nova.at("2.62").get(
        f"/servers/{server_id}/os-instance-actions/{request_id}").json()["instanceAction"]
    return shown


def finished_event(nova: Nova, server_id: str, name: str, event: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = [e for e in action(nova, server_id, name)["events"] if e["event"] == event]
        return bool(found) and found[0]["finish_time"] is not None

    wait_until(done, f"{event} did not finish")
    [only] = found
    return only


def test_an_attach_the_host_answers_is_the_conductors_event_and_so_is_the_detach(nova: Nova, cinder: Cinder) -> None:
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    event = finished_event(nova, server["id"], "attach_volume", "compute_attach_volume")
    assert event["result"] == "Success" and event["host"] == server["OS-EXT-SRV-ATTR:host"]
    assert action(nova, server["id"], "attach_volume")["message"] is None
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    cinder.wait_for(volume["id"], "available")
    assert finished_event(nova, server["id"], "detach_volume", "compute_detach_volume")["result"] == "Success"


def test_an_attach_whose_host_never_answers_ends_available_with_an_action_fault(
        nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message]) -> None:
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    host = server["OS-EXT-SRV-ATTR:host"]
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    host_volumes(planes).silent.add(host)
    started = time.monotonic()
    attach(nova, server["id"], volume["id"])
    waiting = cinder.volume(volume["id"])
    assert waiting["status"] in ("reserved", "attaching")
    back = cinder.wait_for(volume["id"], "available", timeout=10)
    assert time.monotonic() - started >= QUICK.build_timeout  # given up at the deadline, not before
    assert back["attachments"] == []
    assert cinder.get(f"/attachments?volume_id={volume['id']}").json()["attachments"] == []
    assert nova.get(f"/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"] == []
    event = finished_event(nova, server["id"], "attach_volume", "compute_attach_volume")
    assert event["result"] == "Error" and "timed out" in event["traceback"] and host in event["traceback"]
    assert action(nova, server["id"], "attach_volume")["message"] == "Error"
    assert nova.server(server["id"])["status"] == "ACTIVE"  # a failed attach leaves the server as it was
    [disconnect] = [m for m in sent if isinstance(m, DisconnectVolume)]  # should it connect late, it lets go
    assert (disconnect.host, disconnect.volume_id) == (host, volume["id"])
    [message] = cinder.get("/messages").json()["messages"]
    assert message["resource_uuid"] == volume["id"] and message["user_message"].startswith("attach volume")
    host_volumes(planes).silent.discard(host)
    attach(nova, server["id"], volume["id"])  # free again: a later attach works
    cinder.wait_for(volume["id"], "in-use")


def test_a_host_failing_the_connect_leaves_the_volume_available(nova: Nova, cinder: Cinder, planes: Planes) -> None:
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    host_volumes(planes).failing.add(server["OS-EXT-SRV-ATTR:host"])
    attach(nova, server["id"], volume["id"])
    event = finished_event(nova, server["id"], "attach_volume", "compute_attach_volume")
    assert event["result"] == "Error" and "Simulated failure to connect" in event["traceback"]
    assert cinder.volume(volume["id"])["status"] == "available"
    assert cinder.volume(volume["id"])["attachments"] == []


def test_a_detach_the_host_fails_rolls_back_to_in_use_and_can_be_asked_again(
        nova: Nova, cinder: Cinder, planes: Planes) -> None:
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    host = server["OS-EXT-SRV-ATTR:host"]
    host_volumes(planes).failing.add(host)
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    event = finished_event(nova, server["id"], "detach_volume", "compute_detach_volume")
    assert event["result"] == "Error"
    rolled_back = cinder.volume(volume["id"])
    assert rolled_back["status"] == "in-use" and [a["server_id"] for a in rolled_back["attachments"]] == [
        server["id"]]
    host_volumes(planes).failing.discard(host)
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    cinder.wait_for(volume["id"], "available")


def test_a_redelivered_attach_is_harmless(nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message]) -> None:
    """The bus may deliver AttachVolume twice: while its connect is waited for (one connect, one event), and after
    the attachment completed (nothing changes)."""
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    hosts = host_volumes(planes)
    hosts.behaviour = replace(hosts.behaviour, attach_seconds=0.6)  # the connect takes a while
    attach(nova, server["id"], volume["id"])
    request_id = action(nova, server["id"], "attach_volume")["request_id"]
    attachment_id = cinder.get(f"/attachments?volume_id={volume['id']}").json()["attachments"][0]["id"]
    again = AttachVolume(instance_uuid=server["id"], volume_id=volume["id"], attachment_id=attachment_id,
                         request_id=request_id)
    send(planes.compute.bus, CONDUCTOR_TOPIC, again)  # while the first is under way (the host takes 0.6 s)
    time.sleep(0.2)
    assert cinder.volume(volume["id"])["status"] == "attaching", "the redelivery came after the connect"
    cinder.wait_for(volume["id"], "in-use")
    send(planes.compute.bus, CONDUCTOR_TOPIC, again)  # after it completed
    time.sleep(0.3)
    events = [e for e in action(nova, server["id"], "attach_volume")["events"] if e["event"] == "compute_attach_volume"]
    assert [e["result"] for e in events] == ["Success"]
    assert cinder.volume(volume["id"])["status"] == "in-use"
    assert len(cinder.volume(volume["id"])["attachments"]) == 1
    assert len([m for m in sent if isinstance(m, ConnectVolume)]) == 1
