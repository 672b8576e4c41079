"""A server's networking, from the compute API: Nova's ``networks`` request checked and honoured
through the network service's seam (:mod:`twinstack.core.network.instance_ports`), its ports
released when it is deleted, and its ``addresses`` read back for the server views.

Nova checks a request's networks in its API (``validate_networks``) before recording the server,
so a bad network, a port in use or a taken fixed IP is a 400/409 and no server is made: here the
check is the allocation itself, run in a transaction that is rolled back. The ports are then made
for each recorded server, named by its uuid. Faults are Nova's (a missing network is a 400).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from twinstack.api.network.common import refresh
from twinstack.cloud import Cloud
from twinstack.core.errors import BadRequest, CloudError, NotFound
from twinstack.core.network import instance_ports, security_groups, server_security_groups
from twinstack.core.network.errors import IpAddressAlreadyAllocated
from twinstack.core.network.instance_ports import RequestedNetwork
from twinstack.core.policy import Credentials

Requested = str | list[dict[str, Any]] | None


@contextmanager
def nova_faults() -> Iterator[None]:
    """The network service's refusals as Nova words them: what it cannot find, or a taken address, is a 400."""
    try:
        yield
    except (NotFound, IpAddressAlreadyAllocated) as exc:
        raise BadRequest(exc.message) from exc


def _requested(requested: Requested) -> str | list[RequestedNetwork] | None:
    if requested is None or isinstance(requested, str):
        return requested
    return [RequestedNetwork.from_nova(entry) for entry in requested]


def _allocate(cloud: Cloud, creds: Credentials, instance_id: str, requested: Requested,
              group_names: Sequence[str], commit: bool) -> list[str]:
    """Allocate (or only try, rolled back) the server's ports; answers the groups the new ports joined."""
    project_id = creds.project_id
    if project_id is None:
        raise BadRequest("Servers are created in a project: use a project-scoped token.")
    names = [] if list(group_names) == [security_groups.DEFAULT_NAME] else list(group_names)
    asked = _requested(requested)
    with cloud.sessions() as session:
        if not instance_ports.needs_ports(session, creds, asked):
            return []
    default = security_groups.ensure_default(cloud.sessions, cloud.clock, project_id)
    with cloud.sessions() as session:
        transaction = session.begin()
        try:
            allocation = instance_ports.allocate_for_instance(session, cloud.clock, cloud.settings.network, creds,
                                                              instance_id, asked, default, names)
        except CloudError:
            transaction.rollback()
            raise
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    return allocation.joined_groups


def check_networks(cloud: Cloud, creds: Credentials, requested: Requested, group_names: Sequence[str]) -> None:
    """Refuse (Nova's faults) what could not be allocated; allocates nothing."""
    with nova_faults():
        _allocate(cloud, creds, "validation", requested, group_names, commit=False)


def allocate_networks(cloud: Cloud, creds: Credentials, instance_ids: Sequence[str], requested: Requested,
                      group_names: Sequence[str]) -> None:
    """Make each recorded server's ports (checked just before by :func:`check_networks`); the ports whose rules
    name a group the new ports joined as remote group are re-plugged, to admit their addresses."""
    joined: set[str] = set()
    with nova_faults():
        for instance_id in instance_ids:
            joined.update(_allocate(cloud, creds, instance_id, requested, group_names, commit=True))
    refresh(cloud, [], sorted(joined))


def release_networks(cloud: Cloud, instance_id: str) -> None:
    """Release the server's ports; the addresses of those deleted leave the remote-group rules admitting them."""
    with cloud.transaction() as session:
        tunnelled = instance_ports.tunnelled_hosts_of_device(session, instance_id)  # unknown once released
        left = instance_ports.release_for_instance(session, instance_id)
    refresh(cloud, [], left, tunnelled)


def addresses(cloud: Cloud, instance_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    with cloud.sessions() as session:
        return instance_ports.addresses_of(session, instance_ids)


def security_groups_of(cloud: Cloud, instance_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """Each server's ``security_groups`` as Nova shows them (its ports' groups; ``[]`` for a server without)."""
    with cloud.sessions() as session:
        found = server_security_groups.names_by_server(session, instance_ids)
    return {uuid: found.get(uuid, []) for uuid in instance_ids}
