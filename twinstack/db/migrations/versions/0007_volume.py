"""volume: block storage types, volumes, snapshots, attachments, pools, quotas and user messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 18:10:00
"""

from alembic import op
import sqlalchemy as sa
import twinstack.db.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('volume_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('resource_uuid', sa.String(length=36), nullable=True),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('message_level', sa.String(length=16), nullable=False),
    sa.Column('user_message', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('expires_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_messages'))
    )
    op.create_index(op.f('ix_volume_messages_project_id'), 'volume_messages', ['project_id'], unique=False)
    op.create_table('volume_pools',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('backend', sa.String(length=255), nullable=False),
    sa.Column('volume_backend_name', sa.String(length=255), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('total_capacity_gb', sa.BigInteger(), nullable=False),
    sa.Column('free_capacity_gb', sa.BigInteger(), nullable=False),
    sa.Column('allocated_capacity_gb', sa.BigInteger(), nullable=False),
    sa.Column('thin_provisioning', sa.Boolean(), nullable=False),
    sa.Column('max_over_subscription_ratio', sa.Double(), nullable=False),
    sa.Column('reserved_percentage', sa.Integer(), nullable=False),
    sa.Column('capabilities', sa.JSON(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_volume_pools'))
    )
    op.create_index(op.f('ix_volume_pools_backend'), 'volume_pools', ['backend'], unique=False)
    op.create_table('volume_quotas',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'resource', name=op.f('pk_volume_quotas'))
    )
    op.create_table('volume_snapshots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('progress', sa.String(length=8), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_snapshots'))
    )
    op.create_index(op.f('ix_volume_snapshots_name'), 'volume_snapshots', ['name'], unique=False)
    op.create_index(op.f('ix_volume_snapshots_project_id'), 'volume_snapshots', ['project_id'], unique=False)
    op.create_index(op.f('ix_volume_snapshots_volume_id'), 'volume_snapshots', ['volume_id'], unique=False)
    op.create_table('volume_types',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('extra_specs', sa.JSON(), nullable=False),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_types')),
    sa.UniqueConstraint('name', name=op.f('uq_volume_types_name'))
    )
    op.create_table('volume_volumes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('attach_status', sa.String(length=32), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('volume_type_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('bootable', sa.Boolean(), nullable=False),
    sa.Column('multiattach', sa.Boolean(), nullable=False),
    sa.Column('source_volid', sa.String(length=36), nullable=True),
    sa.Column('snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('image_id', sa.String(length=36), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('image_metadata', sa.JSON(), nullable=False),
    sa.Column('migration_status', sa.String(length=32), nullable=True),
    sa.Column('pending', sa.JSON(), nullable=True),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('launched_at', twinstack.db.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_volumes'))
    )
    op.create_index(op.f('ix_volume_volumes_host'), 'volume_volumes', ['host'], unique=False)
    op.create_index(op.f('ix_volume_volumes_name'), 'volume_volumes', ['name'], unique=False)
    op.create_index(op.f('ix_volume_volumes_project_id'), 'volume_volumes', ['project_id'], unique=False)
    op.create_index(op.f('ix_volume_volumes_snapshot_id'), 'volume_volumes', ['snapshot_id'], unique=False)
    op.create_index(op.f('ix_volume_volumes_status'), 'volume_volumes', ['status'], unique=False)
    op.create_table('volume_attachments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=True),
    sa.Column('attached_host', sa.String(length=255), nullable=True),
    sa.Column('mountpoint', sa.String(length=255), nullable=True),
    sa.Column('attach_status', sa.String(length=32), nullable=False),
    sa.Column('attach_mode', sa.String(length=8), nullable=False),
    sa.Column('connector', sa.JSON(), nullable=True),
    sa.Column('connection_info', sa.JSON(), nullable=True),
    sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
    sa.Column('tag', sa.String(length=60), nullable=True),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('attach_time', twinstack.db.base.UTCDateTime(), nullable=True),
    sa.Column('detach_time', twinstack.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['volume_id'], ['volume_volumes.id'], name=op.f('fk_volume_attachments_volume_id_volume_volumes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_attachments'))
    )
    op.create_index(op.f('ix_volume_attachments_instance_uuid'), 'volume_attachments', ['instance_uuid'], unique=False)
    op.create_index(op.f('ix_volume_attachments_volume_id'), 'volume_attachments', ['volume_id'], unique=False)
    op.create_table('volume_type_projects',
    sa.Column('volume_type_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['volume_type_id'], ['volume_types.id'], name=op.f('fk_volume_type_projects_volume_type_id_volume_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volume_type_id', 'project_id', name=op.f('pk_volume_type_projects'))
    )


def downgrade() -> None:
    op.drop_table('volume_type_projects')
    op.drop_index(op.f('ix_volume_attachments_volume_id'), table_name='volume_attachments')
    op.drop_index(op.f('ix_volume_attachments_instance_uuid'), table_name='volume_attachments')
    op.drop_table('volume_attachments')
    op.drop_index(op.f('ix_volume_volumes_status'), table_name='volume_volumes')
    op.drop_index(op.f('ix_volume_volumes_snapshot_id'), table_name='volume_volumes')
    op.drop_index(op.f('ix_volume_volumes_project_id'), table_name='volume_volumes')
    op.drop_index(op.f('ix_volume_volumes_name'), table_name='volume_volumes')
    op.drop_index(op.f('ix_volume_volumes_host'), table_name='volume_volumes')
    op.drop_table('volume_volumes')
    op.drop_table('volume_types')
    op.drop_index(op.f('ix_volume_snapshots_volume_id'), table_name='volume_snapshots')
    op.drop_index(op.f('ix_volume_snapshots_project_id'), table_name='volume_snapshots')
    op.drop_index(op.f('ix_volume_snapshots_name'), table_name='volume_snapshots')
    op.drop_table('volume_snapshots')
    op.drop_table('volume_quotas')
    op.drop_index(op.f('ix_volume_pools_backend'), table_name='volume_pools')
    op.drop_table('volume_pools')
    op.drop_index(op.f('ix_volume_messages_project_id'), table_name='volume_messages')
    op.drop_table('volume_messages')

