"""compute migrations: migration records, and the flavors of a resize under way

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 17:50:00.000000
"""

from alembic import op
import sqlalchemy as sa
import twinstack.db.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_migrations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('migration_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('old_flavor', sa.JSON(), nullable=False),
    sa.Column('new_flavor', sa.JSON(), nullable=False),
    sa.Column('source_compute', sa.String(length=255), nullable=True),
    sa.Column('source_node', sa.String(length=255), nullable=True),
    sa.Column('dest_compute', sa.String(length=255), nullable=True),
    sa.Column('dest_node', sa.String(length=255), nullable=True),
    sa.Column('dest_host', sa.String(length=255), nullable=True),
    sa.Column('old_vm_state', sa.String(length=32), nullable=False),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_migrations')),
    sa.UniqueConstraint('uuid', name=op.f('uq_compute_migrations_uuid'))
    )
    with op.batch_alter_table('compute_migrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compute_migrations_instance_uuid'), ['instance_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_compute_migrations_status'), ['status'], unique=False)
    with op.batch_alter_table('compute_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('old_flavor', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('new_flavor', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_instances', schema=None) as batch_op:
        batch_op.drop_column('new_flavor')
        batch_op.drop_column('old_flavor')
    with op.batch_alter_table('compute_migrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compute_migrations_status'))
        batch_op.drop_index(batch_op.f('ix_compute_migrations_instance_uuid'))
    op.drop_table('compute_migrations')
