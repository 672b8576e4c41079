"""What an audit reports: one finding per leaked record, with what was done about it (if repairing).

A check finds its leaks and repairs them inside one transaction: ``repair`` sees the rows ``find`` has just
read, so a record a running cloud fixed meanwhile (a delete that finished) is never repaired twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class AuditContext:
    """What every check reads besides the database: the time, and when an instance counts as stuck."""

    now: float
    """Epoch seconds."""
    stuck_after: float
    """Seconds an instance may stay building or in a task state before it counts as stuck: the conductor gives
    up on any command after ``compute.build_timeout`` and touches the instance when it does, so an instance left
    untouched longer than that has no conductor working on it."""


@dataclass
class Finding:
    check: str
    """The kind of leak: the check's name (``orphan_allocation``, ``orphan_port``...)."""
    subject: str
    """The leaked record's id (a consumer, a port, an attachment, an instance...)."""
    detail: str
    repairable: bool = True
    action: str | None = None
    """What the repair did; None when only reporting (or when the leak cannot be repaired safely)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Ids the repair needs (the instance a port is bound to, the volume of an attachment...)."""

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("extra")
        return found


class Check(Protocol):
    """One kind of leak: how to find it and how to repair each finding safely and idempotently."""

    name: str

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        ...

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        """Repair the leak (in ``session``'s transaction) and say what was done."""
        ...


@dataclass
class AuditReport:
    findings: list[Finding]
    repaired: bool

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def left(self) -> list[Finding]:
        """Findings still leaking: all of them in report mode, the unrepaired ones after a repair."""
        return [f for f in self.findings if f.action is None]

    def as_dict(self) -> dict[str, Any]:
        return {"repaired": self.repaired, "findings": [f.as_dict() for f in self.findings],
                "left": len(self.left)}
