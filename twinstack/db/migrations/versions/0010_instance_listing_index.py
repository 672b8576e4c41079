"""instance listing index: servers newest first, walked by a page instead of sorted whole

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:52:00.000000
"""

from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_compute_instances_created_at_uuid', 'compute_instances', ['created_at', 'uuid'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_compute_instances_created_at_uuid', table_name='compute_instances')
