"""identity access rules: the requests an application credential may be limited to, kept per user

Revision ID: 0011_identity_access_rules
Revises: 0010
Create Date: 2026-11-29 05:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0011_identity_access_rules'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_access_rules',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=225), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'], name=op.f('fk_identity_access_rules_user_id_identity_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_access_rules')),
    sa.UniqueConstraint('user_id', 'service', 'path', 'method', name=op.f('uq_identity_access_rules_user_id_service_path_method'))
    )
    with op.batch_alter_table('identity_access_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_access_rules_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_access_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_access_rules_user_id'))
    op.drop_table('identity_access_rules')
