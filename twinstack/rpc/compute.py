"""The host-agent protocol for compute: commands the conductor sends, reports agents send back.

The same messages drive a simulated agent and a real one; nothing here says which is listening.
Agents speak for many hosts at once (a simulated agent process may hold thousands), so
registration and heartbeats are batched.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.messages import Command, Message, register

CONDUCTOR_TOPIC = "conductor"


def agent_topic(host: str) -> str:
    return f"agent.{host}"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class InventoryRecord(_Part):
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    allocation_ratio: float = 1.0


class HostReport(_Part):
    """What a host is: where it sits and what it offers."""

    host: str
    cell: str = "cell1"
    availability_zone: str = "nova"
    rack: str | None = None
    hypervisor_type: str = "QEMU"
    hypervisor_hostname: str | None = None
    host_ip: str = "127.0.0.1"
    inventory: dict[str, InventoryRecord]
    traits: list[str] = Field(default_factory=list)


@register
class HostsRegistered(Message):
    name = "compute.hosts_registered"
    version = "1.0"
    agent: str
    hosts: list[HostReport]


@register
class Heartbeat(Message):
    """The listed hosts are alive at ``at`` (epoch seconds of the agent's runtime)."""

    name = "compute.heartbeat"
    version = "1.0"
    agent: str
    hosts: list[str]
    at: float


class FlavorSpec(_Part):
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: dict[str, str] = Field(default_factory=dict)


class ImageSpec(_Part):
    id: str
    size_bytes: int = 0
    disk_format: str = "qcow2"
    container_format: str = "bare"
    properties: dict[str, str] = Field(default_factory=dict)


@register
class SpawnInstance(Command):
    """Create and boot the instance on ``host``. The agent answers with InstanceActionResult.

    Contract: if spawning fails the agent cleans up whatever it created and reports ok=False
    with a fault; a repeated command_id for an instance already spawned is answered again.
    """

    name = "compute.spawn_instance"
    version = "1.0"
    host: str
    instance_uuid: str
    instance_name: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    user_data: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    key_data: str | None = None


@register
class DestroyInstance(Command):
    """Remove the instance and everything it holds on the host (idempotent: gone already is fine)."""

    name = "compute.destroy_instance"
    version = "1.0"
    host: str
    instance_uuid: str


PowerActionName = Literal["reboot_soft", "reboot_hard", "stop", "start", "pause", "unpause", "suspend",
                          "resume"]


@register
class PowerAction(Command):
    name = "compute.power_action"
    version = "1.0"
    host: str
    instance_uuid: str
    action: PowerActionName


@register
class InstanceActionResult(Message):
    """How a command on an instance ended. ``power_state`` uses Nova's integers (1 running, 4 shutdown...)."""

    name = "compute.instance_action_result"
    version = "1.0"
    command_id: str
    action: str
    host: str
    instance_uuid: str
    ok: bool
    fault: str | None = None
    power_state: int = 0
