"""``twinstack audit``: each kind of leak, made directly in the database, is reported, repaired once, and gone on
the next run; what is alive is never touched. Runs on SQLite and PostgreSQL (issue #9)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from twinstack.cli import app
from twinstack.cloud import Cloud
from twinstack.core.audit.findings import AuditContext, AuditReport
from twinstack.core.audit.run import run_audit
from twinstack.core.compute import states
from twinstack.core.compute.model import ComputeHost, Instance, ServerGroup
from twinstack.core.network import instance_ports, networks, ports, security_groups, subnets
from twinstack.core.network.instance_ports import RequestedNetwork
from twinstack.core.policy import Credentials
from twinstack.core.scheduler.write_through import SqlBackedPlacement
from twinstack.core.volume.service import VolumeService
from twinstack.db.models.compute import InstanceRow, ServerGroupRow
from twinstack.db.models.network import IpAllocationRow, PortRow
from twinstack.db.models.placement import Allocation, ResourceProvider
from twinstack.db.models.volume import AttachmentRow, VolumeRow
from twinstack.db.stores.compute import SqlHostStore, SqlInstanceStore
from twinstack.db.stores.server_groups import SqlServerGroupStore
from twinstack.rpc.compute import FlavorSpec

PROJECT = "a" * 32
CREDS = Credentials(user_id="u", user_domain_id="default", roles=frozenset({"member"}), project_id=PROJECT)
FLAVOR = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1)
TINY = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
STUCK_AFTER = 630.0


class World:
    """A cloud with one compute host and helpers to record servers, claims, ports and volumes as the cloud would."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.instances = SqlInstanceStore(cloud.sessions)
        self.placement = SqlBackedPlacement(cloud.sessions)
        host = ComputeHost(host="host-1", agent="a", cell="cell1", availability_zone="nova", rack=None,
                           hypervisor_type="QEMU", hypervisor_hostname="host-1", host_ip="127.0.0.1",
                           inventory={"VCPU": {"total": 4}, "MEMORY_MB": {"total": 4096}, "DISK_GB": {"total": 40}},
                           traits=[], last_heartbeat=cloud.clock.now())
        self.placement.register_hosts([host])
        SqlHostStore(cloud.sessions).upsert_all([host])
        self.volumes = VolumeService(cloud.sessions, cloud.clock, cloud.settings.volume)
        with cloud.transaction() as session:
            net = networks.create_network(session, cloud.clock, cloud.settings.network, CREDS,
                                          networks.NetworkSpec(name="private"))
            subnets.create_subnet(session, cloud.clock, CREDS, subnets.SubnetSpec(
                network_id=net.id, ip_version=4, cidr="10.0.0.0/24"))
        self.network_id = net.id
        self.default_group = security_groups.ensure_default(cloud.sessions, cloud.clock, PROJECT)

    def server(self, vm_state: str = states.ACTIVE, task_state: str | None = None, host: str | None = "host-1",
               age: float = 0.0, claim: bool = True, group: str | None = None) -> str:
        """A server recorded in ``vm_state``, last updated ``age`` seconds ago, holding a claim on its host."""
        now = self.cloud.clock.now()
        server = Instance(uuid=str(uuid.uuid4()), name="vm", project_id=PROJECT, user_id="u", flavor=FLAVOR,
                          image=None, created_at=now - age, updated_at=now - age, vm_state=vm_state,
                          task_state=task_state, host=host, server_group_id=group)
        if vm_state == states.DELETED:
            server = replace(server, deleted_at=now - age)
        self.instances.save(server)
        if claim:
            assert self.placement.claim(server.uuid, PROJECT, "u", "host-1", TINY)
        return server.uuid

    def port(self, server: str, made_for_it: bool = True) -> str:
        """A port on the private network bound to ``server`` on host-1 (made for it, or the user's own)."""
        if made_for_it:
            with self.cloud.transaction() as session:
                allocation = instance_ports.allocate_for_instance(
                    session, self.cloud.clock, self.cloud.settings.network, CREDS, server,
                    [RequestedNetwork(self.network_id)], self.default_group)
                instance_ports.bind_to_host(session, server, "host-1")
            return allocation.port_ids[0]
        with self.cloud.transaction() as session:
            port = ports.create_port(session, self.cloud.clock, self.cloud.settings.network, CREDS,
                                                    ports.PortSpec(network_id=self.network_id),
                                                    default_group=self.default_group)
            port_id: str = port.id
        with self.cloud.transaction() as session:
            instance_ports.allocate_for_instance(session, self.cloud.clock, self.cloud.settings.network, CREDS,
                                                 server, [RequestedNetwork(port_id=port_id)], self.default_group)
            instance_ports.bind_to_host(session, server, "host-1")
        return port_id

    def volume(self, server: str | None, status: str = "in-use", attach_status: str = "attached") -> str:
        """A volume in ``status``, attached (``attach_status``) to ``server`` unless None."""
        now = dt.datetime.fromtimestamp(self.cloud.clock.now(), dt.UTC)
        volume_id = str(uuid.uuid4())
        with self.cloud.transaction() as session:
            session.add(VolumeRow(id=volume_id, project_id=PROJECT, user_id="u", name="v", description=None, size=1,
                                  status=status, attach_status="attached" if server else "detached",
                                  availability_zone="nova", volume_type_id="t", host=None, meta={},
                                  image_metadata={}, pending=None, created_at=now, updated_at=now,
                                  launched_at=None))
            session.flush()
            if server is not None:
                session.add(AttachmentRow(id=str(uuid.uuid4()), volume_id=volume_id, instance_uuid=server,
                                          attached_host="host-1", mountpoint="/dev/vdb", attach_status=attach_status,
                                          connector=None, connection_info=None, created_at=now, attach_time=now,
                                          detach_time=None))
        return volume_id

    def audit(self, repair: bool = False) -> AuditReport:
        context = AuditContext(now=self.cloud.clock.now(), stuck_after=STUCK_AFTER)
        return run_audit(self.cloud.sessions, context, repair, self.volumes)


@pytest.fixture
def world(cloud_on_each_database: Cloud) -> World:
    """Every test runs on SQLite and on PostgreSQL."""
    return World(cloud_on_each_database)


def found(report: AuditReport) -> list[tuple[str, str]]:
    return sorted((f.check, f.subject) for f in report.findings)


def test_a_healthy_cloud_has_no_leaks(world: World) -> None:
    live = world.server()
    world.port(live)
    world.port(live, made_for_it=False)
    world.volume(live)
    world.server(vm_state=states.BUILDING, task_state=states.SPAWNING, age=60)  # building, but not for long
    world.server(vm_state=states.ERROR, claim=True)  # in ERROR on its host: it keeps its claim until deleted
    world.server(vm_state=states.ERROR, host=None, claim=False)
    world.server(vm_state=states.DELETED, claim=False)
    assert world.audit().clean
    assert world.audit(repair=True).clean


def test_allocations_of_deleted_missing_or_failed_servers_are_released_and_live_ones_kept(world: World) -> None:
    cloud = world.cloud
    live = world.server()
    deleted = world.server(vm_state=states.DELETED)
    failed = world.server(vm_state=states.ERROR, host=None)
    ghost = str(uuid.uuid4())
    assert world.placement.claim(ghost, PROJECT, "u", "host-1", TINY)
    report = world.audit()
    assert found(report) == sorted(("orphan_allocation", u) for u in (deleted, failed, ghost))
    assert all(f.action is None for f in report.findings)
    details = {f.subject: f.detail for f in report.findings}
    assert "instance deleted" in details[deleted] and "VCPU=1" in details[deleted] and "host-1" in details[deleted]
    assert "error without a host" in details[failed] and "no instance or migration" in details[ghost]

    repaired = world.audit(repair=True)
    assert {f.action for f in repaired.findings} == {"deleted its allocations"} and not repaired.left
    with cloud.sessions() as session:
        assert set(session.scalars(select(Allocation.consumer_uuid))) == {live}
    assert world.audit().clean


def test_a_provider_allocated_beyond_capacity_is_reported_and_left_to_the_operator(world: World) -> None:
    cloud = world.cloud
    for _ in range(3):
        world.server()
    consumer = world.server(claim=False)
    with cloud.transaction() as session:  # what no claim would ever write: 3 more VCPUs on a 4-VCPU host
        provider = session.scalar(select(ResourceProvider.id).where(ResourceProvider.name == "host-1"))
        session.execute(text("INSERT INTO placement_consumers (uuid, project_id, user_id, generation) "
                             "VALUES (:c, :p, 'u', 0)"), {"c": consumer, "p": PROJECT})
        session.add(Allocation(consumer_uuid=consumer, provider_id=provider, resource_class="VCPU", used=3))
    report = world.audit(repair=True)
    [finding] = report.findings
    assert finding.check == "over_capacity" and not finding.repairable and finding.action is None
    assert "6 VCPU allocated, capacity 4" in finding.detail
    assert report.left == [finding]


def test_ports_of_gone_servers_are_deleted_or_unbound_as_a_server_delete_would(world: World) -> None:
    cloud = world.cloud
    gone = world.server(vm_state=states.DELETED, claim=False)
    made = world.port(gone)
    users = world.port(gone, made_for_it=False)
    missing_server_port = world.port(str(uuid.uuid4()))
    kept = world.port(world.server())
    assert found(world.audit()) == sorted(("orphan_port", p) for p in (made, users, missing_server_port))

    actions = {f.subject: f.action for f in world.audit(repair=True).findings}
    assert actions == {made: "deleted (made for the server)", users: "unbound from the server",
                       missing_server_port: "deleted (made for the server)"}
    with cloud.sessions() as session:
        assert session.get(PortRow, made) is None and session.get(PortRow, missing_server_port) is None
        user_port = session.get(PortRow, users)
        assert user_port is not None
        assert (user_port.device_id, user_port.device_owner, user_port.binding_host_id, user_port.status) == (
            "", "", "", "DOWN")
        held = set(session.scalars(select(IpAllocationRow.port_id)))
        assert made not in held and {users, kept} <= held  # the user's port keeps its address
    assert world.audit().clean


@contextmanager
def foreign_keys_off(session: Session) -> Iterator[None]:
    """What a restored dump or a hand edit can do: write rows the foreign keys would refuse."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA foreign_keys=OFF"))
        yield
        session.execute(text("PRAGMA foreign_keys=ON"))
    else:
        session.execute(text("SET session_replication_role = replica"))
        yield
        session.execute(text("SET session_replication_role = DEFAULT"))


def test_an_address_held_by_no_port_is_freed(world: World) -> None:
    cloud = world.cloud
    kept = world.port(world.server())
    with cloud.sessions() as session:
        subnet = session.scalar(select(IpAllocationRow.subnet_id))
        with foreign_keys_off(session):
            session.add(IpAllocationRow(network_id=world.network_id, ip_address="10.0.0.99", subnet_id=subnet,
                                        port_id="no-such-port"))
            session.commit()
    report = world.audit()
    assert found(report) == [("orphan_fixed_ip", f"{world.network_id}/10.0.0.99")]
    assert "10.0.0.99" in report.findings[0].detail and "no-such-port" in report.findings[0].detail
    assert [f.action for f in world.audit(repair=True).findings] == ["address freed"]
    with cloud.sessions() as session:
        assert set(session.scalars(select(IpAllocationRow.port_id))) == {kept}
    assert world.audit().clean


def test_attachments_to_gone_servers_are_removed_and_their_volumes_made_available(world: World) -> None:
    cloud = world.cloud
    live = world.server()
    kept = world.volume(live)
    in_use = world.volume(world.server(vm_state=states.DELETED, claim=False))
    attaching = world.volume(str(uuid.uuid4()), status="attaching", attach_status="attaching")
    detaching_alone = world.volume(None, status="detaching")
    report = world.audit()
    assert sorted(f.check for f in report.findings) == ["stranded_attachment", "stranded_attachment",
                                                        "stuck_volume"]
    assert {f.extra.get("volume", f.subject) for f in report.findings} == {in_use, attaching, detaching_alone}

    repaired = world.audit(repair=True)
    assert not repaired.left
    with cloud.sessions() as session:
        statuses = {v.id: (v.status, v.attach_status) for v in session.scalars(select(VolumeRow))}
        assert set(session.scalars(select(AttachmentRow.volume_id))) == {kept}
    assert statuses[kept] == ("in-use", "attached")
    for volume in (in_use, attaching, detaching_alone):
        assert statuses[volume] == ("available", "detached")
    assert world.audit().clean


def test_servers_stuck_past_the_timeout_go_to_error_with_a_fault(world: World) -> None:
    cloud = world.cloud
    stuck_build = world.server(vm_state=states.BUILDING, task_state=states.SCHEDULING, host=None, claim=False,
                               age=STUCK_AFTER + 5)
    stuck_delete = world.server(task_state=states.DELETING, age=3600)
    recent = world.server(vm_state=states.BUILDING, task_state=states.SPAWNING, age=STUCK_AFTER - 30)
    settled = world.server(age=3600)
    report = world.audit()
    assert found(report) == sorted(("stuck_instance", u) for u in (stuck_build, stuck_delete))
    assert "building/scheduling for 635 s" in {f.subject: f.detail for f in report.findings}[stuck_build]

    world.audit(repair=True)
    with cloud.sessions() as session:
        rows = {u: session.get(InstanceRow, u) for u in (stuck_build, stuck_delete, recent, settled)}
    for uuid_ in (stuck_build, stuck_delete):
        row = rows[uuid_]
        assert row is not None and (row.vm_state, row.task_state) == (states.ERROR, None)
        assert row.fault is not None and row.fault["code"] == 500 and "stuck" in row.fault["message"]
    assert rows[stuck_delete].host == "host-1"  # type: ignore[union-attr]  # keeps its host and claim
    assert (rows[recent].vm_state, rows[settled].vm_state) == (states.BUILDING, states.ACTIVE)  # type: ignore[union-attr]
    assert world.audit().clean  # ERROR on its host with its claim is consistent


def test_group_members_that_are_gone_and_members_of_a_gone_group_are_dropped(world: World) -> None:
    cloud = world.cloud
    groups = SqlServerGroupStore(cloud.sessions)
    groups.create(ServerGroup(uuid=str(uuid.uuid4()), name="g", policy="anti-affinity", project_id=PROJECT,
                              user_id="u", members=[], created_at=cloud.clock.now()), limit=10)
    group = groups.find(PROJECT)[0].uuid
    member = world.server(group=group)
    gone = world.server(vm_state=states.DELETED, claim=False)
    with cloud.transaction() as session:
        row = session.get(ServerGroupRow, group)
        assert row is not None
        row.members = [member, gone]
    homeless = world.server(group=str(uuid.uuid4()))
    assert found(world.audit()) == sorted([("stale_group_member", gone), ("stale_group_member", homeless)])
    assert not world.audit(repair=True).left
    with cloud.sessions() as session:
        assert session.get(ServerGroupRow, group).members == [member]  # type: ignore[union-attr]
        assert session.get(InstanceRow, homeless).server_group_id is None  # type: ignore[union-attr]
        assert session.get(InstanceRow, member).server_group_id == group  # type: ignore[union-attr]
    assert world.audit().clean


def test_the_cli_reports_with_exit_status_1_repairs_and_then_reports_clean(world: World) -> None:
    cloud = world.cloud
    world.server(vm_state=states.DELETED)
    url = cloud.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    reported = runner.invoke(app, ["audit", "--json", "--database-url", url])
    assert reported.exit_code == 1, reported.output
    body = json.loads(reported.output)
    assert body["repaired"] is False and body["left"] == 1
    assert [f["check"] for f in body["findings"]] == ["orphan_allocation"]

    repaired = runner.invoke(app, ["audit", "--repair", "--database-url", url])
    assert repaired.exit_code == 0, repaired.output
    assert "orphan_allocation" in repaired.output and "-> deleted its allocations" in repaired.output
    assert "1 leak(s) repaired; 0 left." in repaired.output

    again = runner.invoke(app, ["audit", "--database-url", url])
    assert (again.exit_code, again.output.strip()) == (0, "No leaks found.")
