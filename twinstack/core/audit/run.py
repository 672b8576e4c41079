"""Running the audit: every check in order, each in its own transaction, reporting or repairing.

The order matters when repairing: stuck instances go to ERROR first, so that the allocation check sees the
state they are left in; attachments go before the volumes they held, so that a volume freed by its last
attachment is not reported again; over-capacity is judged after the orphans that may cause it are gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from twinstack.core.audit.compute_leaks import StaleGroupMembers, StuckInstances
from twinstack.core.audit.findings import AuditContext, AuditReport, Check, Finding
from twinstack.core.audit.network_leaks import OrphanFixedIps, OrphanPorts
from twinstack.core.audit.placement_leaks import OrphanAllocations, OverCapacity
from twinstack.core.audit.volume_leaks import StrandedAttachments, StuckVolumes
from twinstack.core.volume.service import VolumeService
from twinstack.db.session import SessionFactory, transaction


def checks(volumes: VolumeService) -> list[Check]:
    """Every check, in the order they run (registered here by name, never discovered)."""
    return [StuckInstances(), StaleGroupMembers(), OrphanAllocations(), OverCapacity(), OrphanPorts(),
            OrphanFixedIps(), StrandedAttachments(volumes), StuckVolumes(volumes)]


def run_audit(sessions: SessionFactory, context: AuditContext, repair: bool, volumes: VolumeService,
              only: Sequence[Check] | None = None) -> AuditReport:
    """Find every leak; with ``repair``, repair each one found (in the transaction that found it). Idempotent:
    a second repairing run finds nothing left to repair but what cannot be repaired."""
    findings: list[Finding] = []
    for check in only if only is not None else checks(volumes):
        with transaction(sessions) as session:
            found = check.find(session, context)
            if repair:
                for finding in found:
                    if finding.repairable:
                        finding.action = check.repair(session, context, finding)
        findings.extend(found)
    return AuditReport(findings, repaired=repair)
