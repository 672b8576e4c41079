"""cell outbox: messages held for a cell whose bus is away, kept in the database

A top-level conductor held them in memory: one that died while a cell's broker was away lost them (a delete
forwarded to the cell, a guest to destroy on one of its hosts). Now they wait in this table until a conductor
publishes them.

Revision ID: 0020_cell_outbox
Revises: 0019_auto_allocated_topologies
Create Date: 2026-11-29 23:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0020_cell_outbox'
down_revision = '0019_auto_allocated_topologies'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cell_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('cell', sa.String(length=255), nullable=False),
        sa.Column('topic', sa.String(length=255), nullable=False),
        sa.Column('envelope', sa.Text(), nullable=False),
        sa.Column('taken_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('cell_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cell_outbox_cell'), ['cell'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cell_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cell_outbox_cell'))
    op.drop_table('cell_outbox')
