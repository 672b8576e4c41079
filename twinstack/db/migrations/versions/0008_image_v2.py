"""image v2: deleted images keep their row; import tasks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 18:00:00
"""

from alembic import op
import sqlalchemy as sa
import twinstack.db.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('image_images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', twinstack.db.base.UTCDateTime(), nullable=True))

    op.create_table('image_tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('message', sa.String(length=1024), nullable=False),
    sa.Column('created_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', twinstack.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['image_images.id'], name=op.f('fk_image_tasks_image_id_image_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_tasks'))
    )
    with op.batch_alter_table('image_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_tasks_image_id'), ['image_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('image_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_tasks_image_id'))

    op.drop_table('image_tasks')
    with op.batch_alter_table('image_images', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
