"""Storage models of the conductors themselves: who is alive, and which instances each one works on (so that a
conductor can take over the builds, deletes and power actions of one that died)."""

from __future__ import annotations

from sqlalchemy import Float, String
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
