"""network peers generation: a counter stamped on each VXLAN network's tunnel peer list

A conductor raises it each time it recomputes the network's peers from the database (its hosts may have changed)
and every PlugPorts carries it (1.4), so an agent never replaces a newer peer list by an older one that two
conductors or a redelivery brought out of order.

Revision ID: 0018_network_peers_generation
Revises: 0017_cell_mappings
Create Date: 2026-11-29 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0018_network_peers_generation'
down_revision = '0017_cell_mappings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('net_networks', sa.Column('peers_generation', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('net_networks', schema=None) as batch_op:
        batch_op.drop_column('peers_generation')
