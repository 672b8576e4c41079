"""conductor services: conductors' heartbeats and the builds each drives, for taking over a dead one's builds

Revision ID: 0013_conductor_services
Revises: 0012_port_inactive_bindings
Create Date: 2026-11-29 07:20:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0013_conductor_services'
down_revision = '0012_port_inactive_bindings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conductor_services',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('heartbeat_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'conductor_builds',
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('conductor', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('instance_uuid'),
    )
    op.create_index(op.f('ix_conductor_builds_conductor'), 'conductor_builds', ['conductor'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_conductor_builds_conductor'), table_name='conductor_builds')
    op.drop_table('conductor_builds')
    op.drop_table('conductor_services')
