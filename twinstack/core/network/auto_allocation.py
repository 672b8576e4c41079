"""Get-me-a-network: a project's auto-allocated topology, as Neutron's auto-allocated-topology extension makes it.

Asked for a project that has none, it builds one in the caller's transaction: a network
``auto_allocated_network``, a subnet ``auto_allocated_subnet_v<N>`` carved from each default subnet pool the
project can use, and a router ``auto_allocated_router`` with its gateway on the deployment's default external
network (``is_default``) and an interface on each subnet. It is recorded, so asking again answers the same
network; deleting it takes the router and the network down together. Without a default external network, or
without any default subnet pool (or with no room left in one), nothing is made and the answer is Neutron's
AutoAllocationFailure (409); an exhausted quota stays OverQuota.
Two first requests of one project at once make one topology: the second waits on the project's key.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.network import ipam, networks, routers, subnet_pools, subnets
from twinstack.core.network.errors import AutoAllocationFailure, OverQuota
from twinstack.core.policy import Credentials
from twinstack.db.models.network import AutoAllocatedTopologyRow, SubnetPoolRow, SubnetRow
from twinstack.db.stores.network_locks import lock_keys

NETWORK_NAME = "auto_allocated_network"
ROUTER_NAME = "auto_allocated_router"
DRY_RUN = "dry-run"
"""The ``fields`` value that only checks the requirements (``network auto allocated topology create
--check-resources``)."""


def project_for(creds: Credentials, project_id: str) -> str:
    """The project the topology belongs to: the one in the path (``None`` meaning the caller's own, as the clients
    send it when they know no project); only admins may ask for another project's."""
    if project_id in ("", "None"):
        project_id = creds.project_id or ""
    if not project_id or len(project_id) > 64:
        raise BadRequest(f"Invalid input for project_id. Reason: '{project_id}' is not a valid project id.")
    if not creds.is_admin and project_id != creds.project_id:
        raise Forbidden("Only admins may get or delete another project's auto-allocated topology.")
    return project_id


def _default_pools(session: Session, creds: Credentials) -> list[SubnetPoolRow]:
    return [pool for pool in (subnet_pools.default_pool(session, creds, version) for version in (4, 6)) if pool]


def _default_external(session: Session) -> str:
    external = networks.default_external(session)
    if external is None:
        raise AutoAllocationFailure("No default router:external network")
    return external.id


def check_requirements(session: Session, creds: Credentials) -> None:
    """What ``dry-run`` checks: a default external network and at least one default subnet pool."""
    _default_external(session)
    if not _default_pools(session, creds):
        raise AutoAllocationFailure("No default subnetpools defined")


def existing(session: Session, project_id: str) -> str | None:
    """The network of the project's recorded topology, if it has one."""
    row = session.get(AutoAllocatedTopologyRow, project_id)
    return row.network_id if row is not None else None


def get_or_build(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, project_id: str) -> str:
    """The id of the project's auto-allocated network, building the topology if it has none (all or nothing:
    a failure leaves the transaction to be rolled back)."""
    lock_keys(session, [f"auto-allocated-topology:{project_id}"])
    found = existing(session, project_id)
    if found is not None:
        return found
    external_id = _default_external(session)
    pools = _default_pools(session, creds)
    if not pools:
        raise AutoAllocationFailure("Unable to provide tenant private network")
    network = networks.create_network(
        session, clock, settings, creds, networks.NetworkSpec(name=NETWORK_NAME, project_id=project_id)
    )
    try:
        made = [
            subnets.create_subnet(
                session,
                clock,
                creds,
                subnets.SubnetSpec(
                    network_id=network.id,
                    ip_version=pool.ip_version,
                    subnetpool_id=pool.id,
                    project_id=project_id,
                    name=f"auto_allocated_subnet_v{pool.ip_version}",
                ),
            )
            for pool in pools
        ]
    except OverQuota:
        raise
    except (BadRequest, Conflict, NotFound):  # a pool with no room left, as Neutron words it
        raise AutoAllocationFailure("Unable to provide tenant private network") from None
    router = routers.create_router(
        session,
        clock,
        settings,
        creds,
        routers.RouterSpec(name=ROUTER_NAME, project_id=project_id, gateway=routers.GatewayInfo(external_id)),
    )
    for subnet in made:
        routers.add_interface(session, clock, settings, creds, router.id, subnet.id, None)
    session.add(AutoAllocatedTopologyRow(project_id=project_id, network_id=network.id, router_id=router.id))
    session.flush()
    return network.id


def delete(session: Session, clock: Clock, creds: Credentials, project_id: str) -> None:
    """Take the project's topology down: the router's interfaces and the router, then the network and its subnets.
    Refused as a whole (NetworkInUse, RouterInUse...) while a server's port or a floating IP still uses it;
    nothing to do when the project has none."""
    lock_keys(session, [f"auto-allocated-topology:{project_id}"])
    row = session.get(AutoAllocatedTopologyRow, project_id)
    if row is None:
        return
    network_id, router_id = row.network_id, row.router_id
    if router_id is not None:
        held = set(session.scalars(select(SubnetRow.id).where(SubnetRow.network_id == network_id)))
        for port in routers.interface_ports(session, router_id):
            attached = [a.subnet_id for a in ipam.allocations_of(session, [port.id])[port.id]]
            if set(attached) & held:
                routers.remove_interface(session, clock, creds, router_id, None, port.id)
        if not routers.interface_ports(session, router_id):
            routers.delete_router(session, creds, router_id)
    networks.delete_network(session, creds, network_id)
