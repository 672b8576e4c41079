"""Storage models of the conductors themselves: who is alive, which instances each one works on (so that a
conductor can take over the builds, deletes and power actions of one that died), and the messages held for cells
whose bus is away (so that they outlive the conductor that posted them)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base


class ConductorServiceRow(Base):
    """A conductor process and its last heartbeat (epoch seconds of its clock), as Nova's services table holds
    nova-conductor's."""

    __tablename__ = "conductor_services"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    heartbeat_at: Mapped[float] = mapped_column(Float)


class ConductorBuildRow(Base):
    """The conductor driving an instance's build, delete or power action; kept until that work ends (rows of ended
    work are swept). The table keeps its first name, from when only builds were recorded."""

    __tablename__ = "conductor_builds"
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    conductor: Mapped[str] = mapped_column(String(255), index=True)


class CellOutboxRow(Base):
    """A message posted to a cell's bus that the bus did not take yet (twinstack.core.compute.cell_buses): published,
    in ``id`` order per cell, by whichever top-level conductor flushes once the cell's broker is back. ``taken_at``
    (epoch seconds) marks a row a flusher is publishing; one taken longer ago than the lease is free again (its
    flusher died)."""

    __tablename__ = "cell_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cell: Mapped[str] = mapped_column(String(255), index=True)
    topic: Mapped[str] = mapped_column(String(255))
    envelope: Mapped[str] = mapped_column(Text)
    """The envelope's wire form (twinstack.rpc.messages.encode)."""
    taken_at: Mapped[float | None] = mapped_column(Float, nullable=True)
