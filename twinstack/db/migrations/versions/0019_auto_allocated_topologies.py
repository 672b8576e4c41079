"""auto-allocated topologies: the network and router get-me-a-network gave each project

Neutron's auto-allocated-topology extension records one topology per project, so asking again answers the same
network, and deleting it knows which router and subnets to take down.

Revision ID: 0019_auto_allocated_topologies
Revises: 0018_network_peers_generation
Create Date: 2026-11-29 23:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_auto_allocated_topologies"
down_revision = "0018_network_peers_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "net_auto_allocated_topologies",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["net_networks.id"],
            name=op.f("fk_net_auto_allocated_topologies_network_id_net_networks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["router_id"],
            ["net_routers.id"],
            name=op.f("fk_net_auto_allocated_topologies_router_id_net_routers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_net_auto_allocated_topologies")),
        sa.UniqueConstraint("network_id", name=op.f("uq_net_auto_allocated_topologies_network_id")),
    )


def downgrade() -> None:
    op.drop_table("net_auto_allocated_topologies")
