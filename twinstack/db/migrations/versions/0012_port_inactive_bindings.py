"""port inactive bindings: Neutron's binding-extended, a port readied on a live migration's destination

Revision ID: 0012_port_inactive_bindings
Revises: 0011_identity_access_rules
Create Date: 2026-11-29 04:25:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0012_port_inactive_bindings'
down_revision = '0011_identity_access_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'net_port_inactive_bindings',
        sa.Column('port_id', sa.String(length=36), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('vnic_type', sa.String(length=64), nullable=False),
        sa.Column('profile', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['port_id'], ['net_ports.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('port_id', 'host'),
    )


def downgrade() -> None:
    op.drop_table('net_port_inactive_bindings')
