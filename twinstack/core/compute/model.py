"""What compute keeps: instances, their faults and action history, and the hosts that run them.

Plain dataclasses, free of any storage: the conductor works on these whether they live in
SQL (a real cloud) or in memory (an offline simulation of a million lifecycles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twinstack.core.compute import states
from twinstack.rpc.compute import FlavorSpec, ImageSpec


@dataclass
class Fault:
    code: int
    message: str
    details: str = ""
    created: float = 0.0


@dataclass
class ServerAttributes:
    """What the user asked for, read by the API (the conductor reads a few: the block device mappings and volume image
    of a volume-backed build, whether it asked for no network) and written by it alone: the conductor never writes
    these.

    Stored apart from the state the conductor owns, so a user renaming a server or tagging it can
    never be undone by the conductor saving an instance it read a moment earlier.
    """

    description: str | None = None
    tags: list[str] = field(default_factory=list)
    hostname: str = ""
    access_ipv4: str = ""
    access_ipv6: str = ""
    config_drive: bool = False
    disk_config: str = "MANUAL"
    locked_reason: str | None = None
    security_groups: list[str] = field(default_factory=lambda: ["default"])
    trusted_image_certificates: list[str] | None = None
    requested_networks: str | list[dict[str, Any]] | None = None
    """"auto", "none" or the list the user gave; kept for the network service to honour later."""
    block_device_mapping: list[dict[str, Any]] = field(default_factory=list)
    volume_image: dict[str, Any] | None = None
    """A volume-backed server's image metadata (an ImageSpec as a dict: Nova keeps it in system_metadata), from
    the image or volume its root is made from; what its host boots the root volume with."""


@dataclass(slots=True)
class Instance:
    uuid: str
    name: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None
    created_at: float
    updated_at: float
    vm_state: str = states.BUILDING
    task_state: str | None = states.SCHEDULING
    power_state: int = states.NOSTATE
    host: str | None = None
    node: str | None = None
    cell: str | None = None
    availability_zone: str | None = None
    requested_availability_zone: str | None = None
    key_name: str | None = None
    key_data: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    server_group_id: str | None = None
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    launched_at: float | None = None
    terminated_at: float | None = None
    deleted_at: float | None = None
    fault: Fault | None = None
    locked_by: str | None = None
    reservation_id: str = ""
    launch_index: int = 0
    attempts: int = 0
    alternates: list[str] = field(default_factory=list)
    """Hosts the scheduler offered for retries, best first, not yet tried."""
    attributes: ServerAttributes = field(default_factory=ServerAttributes)
    old_flavor: FlavorSpec | None = None
    """The flavor before a resize under way, kept until it is confirmed or reverted (None otherwise)."""
    new_flavor: FlavorSpec | None = None
    """The flavor a resize under way moves to. While a resize is open the project's quota counts the
    larger of the flavors involved, so that a revert never needs a quota check that could fail."""

    @property
    def status(self) -> str:
        return states.status_of(self.vm_state, self.task_state)


@dataclass
class Migration:
    """One move of an instance between hosts (Nova's migration record): a cold migration or resize,
    a live migration, or an evacuation. Its uuid is also the Placement consumer that holds the
    source host's allocation while the move is under way, so confirm and revert are a release or
    a hand-back of that one consumer."""

    uuid: str
    instance_uuid: str
    migration_type: str
    """"migration", "resize", "live-migration" or "evacuation"."""
    status: str
    project_id: str
    user_id: str
    old_flavor: FlavorSpec
    new_flavor: FlavorSpec
    created_at: float
    updated_at: float
    source_compute: str | None = None
    source_node: str | None = None
    dest_compute: str | None = None
    dest_node: str | None = None
    dest_host: str | None = None
    """The destination's IP address, as Nova fills it."""
    old_vm_state: str = states.ACTIVE
    """The instance's vm_state when the move began: a revert or a failed move returns to it."""
    id: int = 0
    """The store's number for the record (Nova's migration id); 0 until stored."""


@dataclass
class ActionEvent:
    event: str
    start_time: float
    finish_time: float | None = None
    result: str | None = None
    traceback: str | None = None
    host: str | None = None


@dataclass
class InstanceAction:
    """One user-visible action on an instance (create, delete, reboot...), with its events."""

    request_id: str
    instance_uuid: str
    action: str
    project_id: str
    user_id: str
    start_time: float
    message: str | None = None
    events: list[ActionEvent] = field(default_factory=list)

    @property
    def updated_at(self) -> float:
        """When the action last changed: its start, or the latest start or finish of one of its events."""
        times = [self.start_time]
        for event in self.events:
            times.append(event.start_time)
            if event.finish_time is not None:
                times.append(event.finish_time)
        return max(times)

    @property
    def failed(self) -> bool:
        return any(event.result == "Error" for event in self.events)


@dataclass
class ComputeHost:
    """A hypervisor as the control plane knows it: where it is, which agent holds it, whether it is up."""

    host: str
    agent: str
    cell: str
    availability_zone: str
    rack: str | None
    hypervisor_type: str
    hypervisor_hostname: str
    host_ip: str
    inventory: dict[str, dict[str, Any]]
    traits: list[str]
    last_heartbeat: float
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    id: int = 0
    """The store's number for the host (Nova's compute node id before microversion 2.53); 0 until stored."""
    uuid: str = ""
    """The store's uuid for the host (the compute node's id from 2.53); empty until stored."""
    tunnel_ip: str | None = None
    """The host's VXLAN tunnel endpoint (HostReport.tunnel_ip); None: it takes part in no tunnel."""
    tunnel_port: int = 4789


@dataclass
class Aggregate:
    """A host aggregate; one with an availability_zone is how a zone is made (as in Nova)."""

    id: int
    uuid: str
    name: str
    availability_zone: str | None = None
    hosts: set[str] = field(default_factory=set)
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float | None = None


@dataclass
class ServerGroup:
    """affinity, anti-affinity, soft-affinity or soft-anti-affinity, over its member instances."""

    uuid: str
    name: str
    policy: str
    project_id: str
    user_id: str
    members: list[str] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)
    """e.g. {"max_server_per_host": 2} for anti-affinity (microversion 2.64)."""
    created_at: float = 0.0
