"""Storage models of Placement: resource providers, their inventories, traits and aggregates, and
the allocations consumers hold against them.

Resource classes and traits are stored by name. The standard ones (VCPU, MEMORY_MB, COMPUTE_*,
HW_CPU_*, ...) are constants of the code (``twinstack.core.scheduler.placement_names``); only the
operator's CUSTOM_* names have rows here. Providers are joined by an integer id (compact and fast
for the usage sums); their public identity is the UUID.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)
NAME = String(255)


class ResourceProvider(Base):
    """A provider of resources (a compute node, a NUMA node, a shared storage pool, ...).

    ``generation`` is bumped by every change to the provider's inventory, traits, aggregates or
    allocations, always as a compare-and-swap: the writer that saw the old generation wins.
    """

    __tablename__ = "placement_resource_providers"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    generation: Mapped[int] = mapped_column(default=0)
    parent_provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("placement_resource_providers.id"), index=True
    )
    root_provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("placement_resource_providers.id"), index=True
    )


class CustomResourceClass(Base):
    __tablename__ = "placement_resource_classes"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)


class CustomTrait(Base):
    __tablename__ = "placement_traits"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)


class Inventory(Base):
    """How much of one resource class a provider has, and in what units it may be allocated."""

    __tablename__ = "placement_inventories"
    __table_args__ = (
        Index("ix_placement_inventories_resource_class", "resource_class"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("step_size >= 1", name="step_size_positive"),
    )
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_resource_providers.id", ondelete="CASCADE"), primary_key=True
    )
    resource_class: Mapped[str] = mapped_column(NAME, primary_key=True)
    total: Mapped[int]
    reserved: Mapped[int] = mapped_column(default=0)
    min_unit: Mapped[int] = mapped_column(default=1)
    max_unit: Mapped[int]
    step_size: Mapped[int] = mapped_column(default=1)
    allocation_ratio: Mapped[float] = mapped_column(default=1.0)


class Consumer(Base):
    """Whoever holds allocations (an instance, a migration). Exists only while it holds some."""

    __tablename__ = "placement_consumers"
    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, index=True)
    user_id: Mapped[str] = mapped_column(NAME)
    generation: Mapped[int] = mapped_column(default=0)
    consumer_type: Mapped[str | None] = mapped_column(NAME)


class Allocation(Base):
    """``used`` units of one resource class of one provider, held by one consumer."""

    __tablename__ = "placement_allocations"
    __table_args__ = (
        UniqueConstraint("consumer_uuid", "provider_id", "resource_class"),
        Index("ix_placement_allocations_provider_class", "provider_id", "resource_class"),
        CheckConstraint("used > 0", name="used_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    consumer_uuid: Mapped[str] = mapped_column(
        UUID, ForeignKey("placement_consumers.uuid", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_resource_providers.id"))
    resource_class: Mapped[str] = mapped_column(NAME)
    used: Mapped[int]


class ProviderTrait(Base):
    __tablename__ = "placement_provider_traits"
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_resource_providers.id", ondelete="CASCADE"), primary_key=True
    )
    trait: Mapped[str] = mapped_column(NAME, primary_key=True, index=True)


class ProviderAggregate(Base):
    __tablename__ = "placement_provider_aggregates"
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("placement_resource_providers.id", ondelete="CASCADE"), primary_key=True
    )
    aggregate_uuid: Mapped[str] = mapped_column(UUID, primary_key=True, index=True)
