"""What becomes of a server's volume attachment when an attach or a detach does not go as planned: answers that
come late or another way, servers that move or go meanwhile, casts that are lost or fail. The conductor gives a
command 1 s, and an attachment nothing drives is given up 0.5 s after that."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from tests.api.compute_helpers import Nova
from tests.api.test_volume_attach_conductor import action, attach, finished_event, host_volumes, sent
from tests.api.volume_fixtures import cinder, nova, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import Cinder, Planes, wait_until
from twinstack.core.compute.conductor import ConductorSettings
from twinstack.core.compute.service import ComputeService
from twinstack.core.volume.server_volumes import HostAttachments
from twinstack.rpc.bus import send
from twinstack.rpc.conductor import CONDUCTOR_TOPIC, AttachVolume, DetachVolume
from twinstack.rpc.messages import Message
from twinstack.rpc.volume import VOLUME_TOPIC, ConnectVolume, DisconnectVolume, HostVolumeResult

__all__ = ["sent"]  # the spy fixture, used by name
QUICK = ConductorSettings(build_timeout=1.0, service_down_time=60, check_interval=0.2, attachment_grace=0.5)


@pytest.fixture
def conductor_settings() -> ConductorSettings:
    return QUICK


def ready(nova: Nova, cinder: Cinder) -> tuple[dict[str, Any], dict[str, Any]]:
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    return server, cinder.wait_for(cinder.create(size=1)["id"], "available")


def attachment_id(cinder: Cinder, volume_id: str) -> str:
    found: str = cinder.get(f"/attachments?volume_id={volume_id}").json()["attachments"][0]["id"]
    return found


def on_runtime(planes: Planes, change: Any) -> None:
    """Run ``change`` on the conductor's thread and wait for it."""
    done: list[bool] = []
    planes.compute.runtime.call_soon(lambda: (change(), done.append(True)))
    wait_until(lambda: bool(done), "the runtime did not run the change")


def test_an_attach_that_block_storage_completed_before_the_deadline_stays_attached(
        nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message]) -> None:
    """The host's answer reached the volume manager, not this conductor: at the deadline the attachment is
    attached, so the attach worked; no disconnect goes to the host and no Error is recorded."""
    server, volume = ready(nova, cinder)
    host = server["OS-EXT-SRV-ATTR:host"]
    host_volumes(planes).silent.add(host)
    attach(nova, server["id"], volume["id"])
    wait_until(lambda: cinder.volume(volume["id"])["status"] == "attaching", "the connect was not sent")
    attached = attachment_id(cinder, volume["id"])
    send(planes.compute.bus, VOLUME_TOPIC, HostVolumeResult(command_id=f"connect-{attached}", action="connect",
                                                            host=host, attachment_id=attached, ok=True))
    cinder.wait_for(volume["id"], "in-use")
    event = finished_event(nova, server["id"], "attach_volume", "compute_attach_volume")
    assert event["result"] == "Success"
    assert cinder.volume(volume["id"])["status"] == "in-use"
    assert not [m for m in sent if isinstance(m, DisconnectVolume)]


def test_a_detach_given_up_at_its_deadline_is_done_when_the_host_then_says_so(
        nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message]) -> None:
    server, volume = ready(nova, cinder)
    host = server["OS-EXT-SRV-ATTR:host"]
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    attached = attachment_id(cinder, volume["id"])
    host_volumes(planes).silent.add(host)
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    event = finished_event(nova, server["id"], "detach_volume", "compute_detach_volume")
    assert event["result"] == "Error" and "timed out" in event["traceback"]
    assert cinder.volume(volume["id"])["status"] == "in-use"  # rolled back, as Cinder's roll_detaching
    [disconnect] = [m for m in sent if isinstance(m, DisconnectVolume)]
    send(planes.compute.bus, CONDUCTOR_TOPIC, HostVolumeResult(
        command_id=disconnect.command_id, action="disconnect", host=host, attachment_id=attached, ok=True))
    done = cinder.wait_for(volume["id"], "available")
    assert done["attachments"] == []
    assert nova.get(f"/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"] == []


def test_an_attach_to_a_server_that_began_a_task_is_given_up(nova: Nova, cinder: Cinder, planes: Planes,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server, volume = ready(nova, cinder)
    casts: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ComputeService, "attach_volume", lambda self, *args: casts.append(args))
    attach(nova, server["id"], volume["id"])
    [(uuid, volume_id, reserved, _user, _request)] = casts

    def start_moving() -> None:
        instance = planes.compute.conductor.instances.get(uuid)
        assert instance is not None
        planes.compute.conductor.instances.save(replace(instance, task_state="migrating"))

    on_runtime(planes, start_moving)
    send(planes.compute.bus, CONDUCTOR_TOPIC, AttachVolume(instance_uuid=uuid, volume_id=volume_id,
                                                           attachment_id=reserved, request_id="req-moving"))
    back = cinder.wait_for(volume["id"], "available")
    assert back["attachments"] == []
    [message] = cinder.get("/messages").json()["messages"]
    assert message["resource_uuid"] == volume["id"]


def test_a_servers_delete_mid_attach_leaves_nothing_waited_for(nova: Nova, cinder: Cinder, planes: Planes) -> None:
    server, volume = ready(nova, cinder)
    host_volumes(planes).silent.add(server["OS-EXT-SRV-ATTR:host"])
    attach(nova, server["id"], volume["id"])
    flow = planes.compute.conductor.volume_attach
    wait_until(lambda: flow.in_flight() == 1, "the connect was not sent")
    assert nova.delete(f"/servers/{server['id']}").status_code == 204
    nova.wait_gone(server["id"])
    wait_until(lambda: flow.in_flight() == 0, "the deleted server's connect is still waited for")
    assert cinder.wait_for(volume["id"], "available")["attachments"] == []


def test_an_attached_attachment_is_never_forgotten(nova: Nova, cinder: Cinder, planes: Planes) -> None:
    """A redelivered AttachVolume finding the server on no host forgets a reservation, never an attachment."""
    server, volume = ready(nova, cinder)
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    HostAttachments(planes.volume.service).forget(attachment_id(cinder, volume["id"]))
    kept = cinder.volume(volume["id"])
    assert kept["status"] == "in-use" and [a["server_id"] for a in kept["attachments"]] == [server["id"]]


# nothing drives it any more


def test_a_lost_attach_cast_is_given_up_by_the_sweep(nova: Nova, cinder: Cinder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server, volume = ready(nova, cinder)
    monkeypatch.setattr(ComputeService, "attach_volume", lambda self, *args: None)
    started = time.monotonic()
    attach(nova, server["id"], volume["id"])
    assert cinder.volume(volume["id"])["status"] == "reserved"
    back = cinder.wait_for(volume["id"], "available", timeout=10)
    assert time.monotonic() - started >= QUICK.build_timeout + QUICK.attachment_grace
    assert back["attachments"] == []


def test_a_lost_detach_cast_is_rolled_back_by_the_sweep(nova: Nova, cinder: Cinder,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server, volume = ready(nova, cinder)
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    monkeypatch.setattr(ComputeService, "detach_volume", lambda self, *args: None)
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    assert cinder.volume(volume["id"])["status"] == "detaching"
    back = cinder.wait_for(volume["id"], "in-use", timeout=10)
    assert [a["server_id"] for a in back["attachments"]] == [server["id"]]
    monkeypatch.undo()
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    cinder.wait_for(volume["id"], "available")


def test_a_failed_attach_cast_undoes_the_reservation(nova: Nova, cinder: Cinder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server, volume = ready(nova, cinder)

    def unreachable(self: ComputeService, *args: Any) -> None:
        raise ConnectionError("the bus is unreachable")

    monkeypatch.setattr(ComputeService, "attach_volume", unreachable)
    with pytest.raises(ConnectionError):
        nova.post(f"/servers/{server['id']}/os-volume_attachments", json={"volumeAttachment": {
            "volumeId": volume["id"]}})
    assert cinder.volume(volume["id"])["status"] == "available"
    assert cinder.volume(volume["id"])["attachments"] == []


def test_a_redelivered_attach_finding_it_connecting_on_another_host_gives_it_up(
        nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message], monkeypatch: pytest.MonkeyPatch) -> None:
    """The attachment was connecting on a host the server is no longer on (it moved, its conductor restarted):
    the attach is given up, not left 'attaching' for good, and that host told to let go."""
    server, volume = ready(nova, cinder)
    casts: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ComputeService, "attach_volume", lambda self, *args: casts.append(args))
    attach(nova, server["id"], volume["id"])
    [(uuid, volume_id, reserved, _user, request_id)] = casts
    elsewhere = next(h for h in host_volumes(planes).hosts if h != server["OS-EXT-SRV-ATTR:host"])
    updated = cinder.put(f"/attachments/{reserved}", json={"attachment": {"connector": {"host": elsewhere}}})
    assert updated.status_code == 200, updated.text
    assert cinder.volume(volume["id"])["status"] == "attaching"
    send(planes.compute.bus, CONDUCTOR_TOPIC, AttachVolume(instance_uuid=uuid, volume_id=volume_id,
                                                           attachment_id=reserved, request_id=request_id))
    assert cinder.wait_for(volume["id"], "available")["attachments"] == []
    assert not [m for m in sent if isinstance(m, ConnectVolume)]


def test_a_redelivered_detach_while_its_disconnect_is_under_way_sends_one(
        nova: Nova, cinder: Cinder, planes: Planes, sent: list[Message]) -> None:
    server, volume = ready(nova, cinder)
    attach(nova, server["id"], volume["id"])
    cinder.wait_for(volume["id"], "in-use")
    attached = attachment_id(cinder, volume["id"])
    hosts = host_volumes(planes)
    hosts.behaviour = replace(hosts.behaviour, attach_seconds=0.6)  # the disconnect takes a while
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    request_id = action(nova, server["id"], "detach_volume")["request_id"]
    again = DetachVolume(instance_uuid=server["id"], volume_id=volume["id"], attachment_id=attached,
                         request_id=request_id)
    send(planes.compute.bus, CONDUCTOR_TOPIC, again)  # while the first is under way
    cinder.wait_for(volume["id"], "available")
    send(planes.compute.bus, CONDUCTOR_TOPIC, again)  # after it finished
    time.sleep(0.3)
    assert len([m for m in sent if isinstance(m, DisconnectVolume)]) == 1
    events = [e for e in action(nova, server["id"], "detach_volume")["events"] if e["event"] == "compute_detach_volume"]
    assert [e["result"] for e in events] == ["Success"]
