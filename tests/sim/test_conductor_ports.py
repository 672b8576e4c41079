"""The conductor's port plugs along the move flows, in virtual time, with a recording networking double: the
destination's agent plugs a moving server's ports before the guest boots or arrives there, the source's unplugs
them after it left, and a move that fails unplugs (and, for a live migration, abandons the readied binding on)
the destination it was heading for."""

from __future__ import annotations

from collections.abc import Sequence

from tests.sim.test_conductor_moves import MEDIUM, SMALL, cloudlet
from twinstack.core.compute import move_requests as moves
from twinstack.core.compute.model import ServerAttributes
from twinstack.core.compute.service import BootRequest
from twinstack.rpc.bus import send
from twinstack.rpc.compute import CONDUCTOR_TOPIC
from twinstack.rpc.network import PlugPorts, PortSpec, RefreshPorts, SegmentSpec

PORT = PortSpec(port_id="p1", mac_address="fa:16:3e:00:00:01", network_id="n1", segment=SegmentSpec())


class RecordingNetworking:
    """One port per server; every call the conductor makes, in order; where the port is bound."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.bound_to: dict[str, str] = {}

    def bind(self, instance_uuid: str, host: str) -> list[PortSpec]:
        self.calls.append(("bind", host))
        self.bound_to[instance_uuid] = host
        return [PORT]

    def ready(self, instance_uuid: str, host: str) -> list[PortSpec]:
        self.calls.append(("ready", host))
        return [PORT]

    def move(self, instance_uuid: str, host: str) -> list[PortSpec]:
        self.calls.append(("move", host))
        self.bound_to[instance_uuid] = host
        return [PORT]

    def abandon(self, instance_uuid: str, host: str) -> None:
        self.calls.append(("abandon", host))

    def tunnelled_hosts(self, instance_uuid: str | None = None) -> dict[str, list[str]]:
        return {}  # its one port is on no VXLAN network

    def release(self, instance_uuid: str) -> list[str]:
        self.calls.append(("release", instance_uuid))
        self.bound_to.pop(instance_uuid, None)
        return []

    def bound(
        self, port_ids: Sequence[str], member_changes: Sequence[str] = ()
    ) -> dict[tuple[str, str], list[PortSpec]]:
        self.calls.append(("bound", ",".join([*port_ids, *member_changes])))
        return {(host, uuid): [PORT] for uuid, host in self.bound_to.items()}


def port_timeline(agent_timeline: list[tuple[str, str, str]], uuid: str) -> list[tuple[str, str]]:
    return [(host, name) for host, name, instance in agent_timeline if instance == uuid]


def test_a_live_migration_readies_plugs_and_then_moves_the_ports() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    moves.live_migrate(c.compute, vm.uuid, "admin", "req-live", host="sim000-0002")
    c.later(15)
    assert vm.host == "sim000-0002" and net.bound_to[vm.uuid] == "sim000-0002"
    assert net.calls == [("bind", "sim000-0000"), ("ready", "sim000-0002"), ("move", "sim000-0002")]
    assert port_timeline(list(c.agent.timeline), vm.uuid)[2:] == [
        ("sim000-0002", "network.plug_ports"),
        ("sim000-0002", "compute.pre_live_migration"),
        ("sim000-0000", "compute.live_migrate_instance"),
        ("sim000-0002", "network.plug_ports"),
        ("sim000-0000", "network.unplug_ports"),
    ]
    assert c.agent.plugged == {"sim000-0002": {"p1": PORT}}


def test_a_live_migration_whose_source_dies_abandons_and_unplugs_the_destination() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    moves.live_migrate(c.compute, vm.uuid, "admin", "req-live", host="sim000-0002")
    c.later(3)  # prepared and plugged there; the source now copies the memory for 5 s
    assert c.agent.plugged["sim000-0002"] == {"p1": PORT}
    c.agent.crash("sim000-0000")
    c.later(60)
    assert vm.host == "sim000-0000" and c.migration(vm) == "failed"
    assert net.calls == [("bind", "sim000-0000"), ("ready", "sim000-0002"), ("abandon", "sim000-0002")]
    assert net.bound_to[vm.uuid] == "sim000-0000"
    assert "sim000-0002" not in c.agent.plugged


def test_a_resize_failing_on_the_destination_unplugs_it_and_plugs_the_source_again() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 1.0})
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(30)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000"
    assert net.calls == [("bind", "sim000-0000"), ("bind", "sim000-0001"), ("bind", "sim000-0000")]
    assert c.agent.plugged == {"sim000-0000": {"p1": PORT}}
    assert ("sim000-0001", "network.unplug_ports") in port_timeline(list(c.agent.timeline), vm.uuid)


def test_deleting_a_server_awaiting_resize_confirmation_unplugs_both_hosts() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(30)
    assert vm.status == "VERIFY_RESIZE" and set(c.agent.plugged) == {"sim000-0000", "sim000-0001"}
    c.compute.service.delete_server(vm.uuid, "u", "req-delete")
    c.later(10)
    assert c.agent.plugged == {}


def test_an_evacuation_failing_on_the_new_host_unplugs_it_and_binds_the_ports_back() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    c.agent.crash("sim000-0000")
    c.later(40)  # past service_down_time
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 1.0})
    moves.evacuate(c.compute, vm.uuid, "admin", "req-evacuate")
    c.later(15)
    assert vm.status == "ERROR" and vm.host == "sim000-0000"
    assert net.calls == [("bind", "sim000-0000"), ("bind", "sim000-0001"), ("bind", "sim000-0000")]
    assert net.bound_to[vm.uuid] == "sim000-0000" and c.agent.plugged == {}
    assert port_timeline(list(c.agent.timeline), vm.uuid)[-3:] == [
        ("sim000-0001", "network.plug_ports"),
        ("sim000-0001", "compute.rebuild_instance"),
        ("sim000-0001", "network.unplug_ports"),
    ]


def test_refreshes_arriving_together_are_replugged_once() -> None:
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    vm = c.boot()
    plugs_before = sum(isinstance(m, PlugPorts) for m in c.agent.port_log)
    send(c.agent.bus, CONDUCTOR_TOPIC, RefreshPorts(port_ids=["p1"]))
    send(c.agent.bus, CONDUCTOR_TOPIC, RefreshPorts(port_ids=[], group_ids=["g1"]))
    c.later(0.1)
    send(c.agent.bus, CONDUCTOR_TOPIC, RefreshPorts(port_ids=[], group_ids=["g2"]))
    c.later(1)
    assert net.calls[-1:] == [("bound", "p1,g1,g2")] and [n for n, _ in net.calls].count("bound") == 1
    assert sum(isinstance(m, PlugPorts) for m in c.agent.port_log) == plugs_before + 1
    assert c.agent.plugged == {vm.host: {"p1": PORT}}


def test_a_server_that_asked_for_no_network_builds_without_a_look_for_ports() -> None:
    """``networks: none``: the API made no port for it and nothing attaches one while it builds, so its build asks
    the network service for nothing (a transaction per build, issue 8); a server that asked for networks (or said
    nothing) has its ports bound and plugged as before."""
    net = RecordingNetworking()
    c = cloudlet(networking=net)
    [bare] = c.compute.service.create_servers(BootRequest(
        name="bare", project_id="p", user_id="u", flavor=SMALL,
        attributes=ServerAttributes(requested_networks="none")), request_id="req-bare")
    c.later(11)
    assert bare.status == "ACTIVE" and net.calls == [] and bare.uuid not in c.agent.plugged.get(bare.host or "", {})
    assert all(instance != bare.uuid for _host, name, instance in c.agent.timeline if name == "network.plug_ports")
    wired = c.boot("wired")
    assert net.calls == [("bind", wired.host)] and c.agent.plugged[wired.host or ""] == {"p1": PORT}
