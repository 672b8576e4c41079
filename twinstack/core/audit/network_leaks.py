"""Networking's leaks: ports still bound to servers that are gone, and addresses held by no port."""

from __future__ import annotations

from sqlalchemy import delete, not_, select
from sqlalchemy.orm import Session

from twinstack.core.audit.findings import AuditContext, Finding
from twinstack.core.audit.live import live_instance
from twinstack.core.network.instance_ports import release_port
from twinstack.db.models.network import IpAllocationRow, PortRow


class OrphanPorts:
    """Ports owned by compute (``device_owner`` ``compute:*``) whose server is deleted or was never recorded: the
    API releases a server's ports when it is deleted, so a crash between the two leaves them. Repair: what Nova
    does on a server's delete: a port made for the server is deleted (its addresses freed, its floating IPs
    disassociated), a port the user made is unbound and stays.

    A running cloud re-plugs the members of remote groups the deleted ports were in at its next change to them;
    the audit has no bus to ask for it sooner."""

    name = "orphan_port"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        rows = session.scalars(select(PortRow).where(
            PortRow.device_owner.like("compute:%"), PortRow.device_id != "", not_(live_instance(PortRow.device_id)))
            .order_by(PortRow.device_id, PortRow.id))
        return [Finding(self.name, port.id, f"port {port.id} ({port.device_owner}) is bound to server "
                                            f"{port.device_id}, which is deleted or missing",
                        extra={"server": port.device_id}) for port in rows]

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        port = session.get(PortRow, finding.subject)
        if port is None:
            return "already gone"
        made_for_server = port.delete_with_device
        release_port(session, port)
        return "deleted (made for the server)" if made_for_server else "unbound from the server"


class OrphanFixedIps:
    """Fixed IPs whose port no longer exists (the database's foreign key normally prevents it; a restored dump or a
    manual edit can leave one), so IPAM would never hand the address out again. Repair: the address is freed."""

    name = "orphan_fixed_ip"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        rows = session.execute(
            select(IpAllocationRow.network_id, IpAllocationRow.ip_address, IpAllocationRow.port_id)
            .where(not_(select(PortRow.id).where(PortRow.id == IpAllocationRow.port_id).exists()))
            .order_by(IpAllocationRow.network_id, IpAllocationRow.ip_address))
        return [Finding(self.name, f"{network}/{address}",
                        f"address {address} of network {network} is held by port {port}, which does not exist",
                        extra={"network": network, "address": address}) for network, address, port in rows]

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        session.execute(delete(IpAllocationRow).where(IpAllocationRow.network_id == finding.extra["network"],
                                                      IpAllocationRow.ip_address == finding.extra["address"]))
        return "address freed"
