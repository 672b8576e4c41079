"""load balancer commands: the apply in flight and who owns the VIP port

The worker records the id and first sending time of the ApplyLoadBalancer in flight for a PENDING_* load
balancer, so that it settles only on that command's answer, resends it to a silent amphora and settles it to
ERROR past the timeout (also after a restart). ``vip_port_owned``: the VIP port was made for the load balancer
(deleted with it), not given by the user (left alone, as Octavia does).

Revision ID: 0016_loadbalancer_commands
Revises: 0015_host_tunnel_endpoint
Create Date: 2026-11-29 14:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

import twinstack.db.base

revision = '0016_loadbalancer_commands'
down_revision = '0015_host_tunnel_endpoint'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('lb_loadbalancers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('command_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sent_at', twinstack.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('vip_port_owned', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('lb_loadbalancers', schema=None) as batch_op:
        batch_op.drop_column('vip_port_owned')
        batch_op.drop_column('sent_at')
        batch_op.drop_column('command_id')
