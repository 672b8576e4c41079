"""compute host tunnel endpoint: the VXLAN address and port a host registers (HostsRegistered 1.1)

The conductor tells each host the tunnel endpoints of the other hosts with ports on a VXLAN network (PlugPorts
1.2); it reads them here, so they outlive a conductor's restart.

Revision ID: 0015_host_tunnel_endpoint
Revises: 0014_project_listing
Create Date: 2026-11-29 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0015_host_tunnel_endpoint'
down_revision = '0014_project_listing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('compute_hosts', sa.Column('tunnel_ip', sa.String(length=64), nullable=True))
    op.add_column('compute_hosts', sa.Column('tunnel_port', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('compute_hosts', 'tunnel_port')
    op.drop_column('compute_hosts', 'tunnel_ip')
