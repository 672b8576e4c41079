"""The load-balancing protocol: the API asks the worker to provision a load balancer, the worker asks an
amphora driver to apply its configuration, and the driver answers.

Three parties, as in Octavia (API, controller worker, amphora agent):

* the API records the change with the load balancer in a PENDING_* state (immutable until it settles) and
  sends :class:`ProvisionLoadBalancer` to the worker (``loadbalancer``);
* the worker reads the load balancer's whole tree and sends it, as it should now be, in
  :class:`ApplyLoadBalancer` to the amphora driver (``amphora``): simulated here, a real one (haproxy in a
  namespace) later, through the same message;
* the driver answers :class:`LoadBalancerApplied` to the worker, which settles the PENDING_* objects: ACTIVE,
  deleted, or ERROR if the driver failed.

Each ApplyLoadBalancer carries the whole configuration, so a repeat or a reordering cannot leave a stale one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.messages import Command, Message, register

LOADBALANCER_TOPIC = "loadbalancer"
AMPHORA_TOPIC = "amphora"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MemberConfig(_Part):
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    admin_state_up: bool = True


class MonitorConfig(_Part):
    type: str
    delay: int
    timeout: int
    max_retries: int
    url_path: str | None = None
    expected_codes: str | None = None
    admin_state_up: bool = True


class PoolConfig(_Part):
    id: str
    protocol: str
    lb_algorithm: str
    admin_state_up: bool = True
    members: list[MemberConfig] = Field(default_factory=list)
    monitor: MonitorConfig | None = None


class ListenerConfig(_Part):
    id: str
    protocol: str
    protocol_port: int
    connection_limit: int = -1
    admin_state_up: bool = True
    default_pool_id: str | None = None


@register
class ProvisionLoadBalancer(Command):
    """API -> worker: the load balancer has changes PENDING_*; bring its data plane to match."""

    name = "loadbalancer.provision"
    version = "1.0"
    loadbalancer_id: str


@register
class ApplyLoadBalancer(Command):
    """Worker -> amphora driver: hold this configuration for the load balancer (``deleted``: hold none)."""

    name = "amphora.apply"
    version = "1.0"
    loadbalancer_id: str
    deleted: bool = False
    vip_address: str = ""
    admin_state_up: bool = True
    listeners: list[ListenerConfig] = Field(default_factory=list)
    pools: list[PoolConfig] = Field(default_factory=list)


@register
class LoadBalancerApplied(Message):
    """Amphora driver -> worker: the configuration of ``command_id`` is in place (``ok``), or could not be."""

    name = "amphora.applied"
    version = "1.0"
    command_id: str
    loadbalancer_id: str
    ok: bool
    fault: str | None = None
