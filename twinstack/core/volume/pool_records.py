"""The pools' records: what back ends report, and the capacity the control plane promises from each.

A claim is a compare-and-swap on ``allocated_capacity_gb`` (the pool's own generation, as Placement's claims
are on a provider's): it succeeds only if nobody changed the pool since the decision read it, so any number of
deciders can run at once without promising the same space twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from twinstack.core.volume.scheduler.pools import PoolSnapshot
from twinstack.db.models.volume import PoolRow, VolumeRow
from twinstack.rpc.volume import PoolReport


def snapshot_of(row: PoolRow, volumes: int = 0) -> PoolSnapshot:
    return PoolSnapshot(name=row.name, volume_backend_name=row.volume_backend_name,
                        availability_zone=row.availability_zone, total_gb=row.total_capacity_gb,
                        free_gb=row.free_capacity_gb, allocated_gb=row.allocated_capacity_gb,
                        thin=row.thin_provisioning, max_over_subscription_ratio=row.max_over_subscription_ratio,
                        reserved_percentage=row.reserved_percentage, capabilities=dict(row.capabilities),
                        volumes=volumes)


def all_pools(session: Session) -> list[PoolSnapshot]:
    counts: dict[str | None, int] = {host: int(n) for host, n in session.execute(
        select(VolumeRow.host, func.count()).where(VolumeRow.host.is_not(None)).group_by(VolumeRow.host))}
    return [snapshot_of(row, counts.get(row.name, 0))
            for row in session.scalars(select(PoolRow).order_by(PoolRow.name))]


def claim(session: Session, pool: PoolSnapshot, size_gb: int) -> bool:
    """Promise ``size_gb`` more from ``pool`` if its allocation is still what ``pool`` saw."""
    result = session.execute(
        update(PoolRow).where(PoolRow.name == pool.name, PoolRow.allocated_capacity_gb == pool.allocated_gb)
        .values(allocated_capacity_gb=PoolRow.allocated_capacity_gb + size_gb))
    return bool(getattr(result, "rowcount", 0))


def hold(session: Session, pool_name: str, size_gb: int) -> None:
    """Count ``size_gb`` a volume already occupies in the pool (no decision to guard: the data is there)."""
    session.execute(update(PoolRow).where(PoolRow.name == pool_name).values(
        allocated_capacity_gb=PoolRow.allocated_capacity_gb + size_gb))


def release(session: Session, pool_name: str | None, size_gb: int) -> None:
    """Give back what a deleted (or failed) volume held; never below zero."""
    if pool_name is None or size_gb <= 0:
        return
    session.execute(update(PoolRow).where(PoolRow.name == pool_name).values(
        allocated_capacity_gb=func.max(PoolRow.allocated_capacity_gb - size_gb, 0)
        if session.get_bind().dialect.name == "sqlite"
        else func.greatest(PoolRow.allocated_capacity_gb - size_gb, 0)))


def record_reports(session: Session, now: dt.datetime, backend: str, reports: list[PoolReport]) -> None:
    """Insert or refresh each reported pool. A pool seen for the first time counts as allocated what the
    volumes recorded on it hold (a control plane restarted over existing volumes keeps its promises)."""
    for report in reports:
        row = session.get(PoolRow, report.name)
        if row is None:
            held = session.scalar(select(func.coalesce(func.sum(VolumeRow.size), 0))
                                  .where(VolumeRow.host == report.name)) or 0
            row = PoolRow(name=report.name, backend=backend, allocated_capacity_gb=int(held))
            session.add(row)
        row.backend = backend
        row.volume_backend_name = report.volume_backend_name
        row.availability_zone = report.availability_zone
        row.total_capacity_gb = report.total_capacity_gb
        row.free_capacity_gb = report.free_capacity_gb
        row.thin_provisioning = report.thin_provisioning_support
        row.max_over_subscription_ratio = report.max_over_subscription_ratio
        row.reserved_percentage = report.reserved_percentage
        row.capabilities = dict(report.capabilities)
        row.updated_at = now


def zones(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(PoolRow.availability_zone))))
