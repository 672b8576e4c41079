"""cell mappings: a cell's own database and bus, and where each instance of such a cell is kept

compute_cells gains database_url and transport_url (None: the main database or bus, the default cell, as
before) and created_at. compute_instance_mappings says which cell database holds an instance that left the main
database, with what the API needs to answer for it while that database is down (Nova's instance_mappings with
the request spec's fields).

Revision ID: 0017_cell_mappings
Revises: 0016_loadbalancer_commands
Create Date: 2026-11-29 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from twinstack.db.base import UTCDateTime


revision = '0017_cell_mappings'
down_revision = '0016_loadbalancer_commands'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_cells') as batch:
        batch.add_column(sa.Column('database_url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('transport_url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('created_at', UTCDateTime(), nullable=True))
    op.create_table(
        'compute_instance_mappings',
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('cell', sa.String(length=255), nullable=True),
        sa.Column('moved_from', sa.String(length=255), nullable=True),
        sa.Column('moving', sa.Boolean(), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('flavor', sa.JSON(), nullable=False),
        sa.Column('image_id', sa.String(length=36), nullable=True),
        sa.Column('availability_zone', sa.String(length=255), nullable=True),
        sa.Column('server_group_id', sa.String(length=36), nullable=True),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('instance_uuid', name=op.f('pk_compute_instance_mappings')),
    )
    op.create_index('ix_compute_instance_mappings_cell_project', 'compute_instance_mappings',
                    ['cell', 'project_id', 'deleted'], unique=False)
    op.create_index(op.f('ix_compute_instance_mappings_moving'), 'compute_instance_mappings', ['moving'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_instance_mappings_moving'), table_name='compute_instance_mappings')
    op.drop_index('ix_compute_instance_mappings_cell_project', table_name='compute_instance_mappings')
    op.drop_table('compute_instance_mappings')
    with op.batch_alter_table('compute_cells') as batch:
        batch.drop_column('created_at')
        batch.drop_column('transport_url')
        batch.drop_column('database_url')
