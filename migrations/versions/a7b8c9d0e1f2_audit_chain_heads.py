"""audit chain heads (issue 21): where each audit chain ends, advanced in one statement per append

Revision ID: a7b8c9d0e1f2
Revises: d9e0f1a2b3c4
Create Date: 2026-12-07 17:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = 'a7b8c9d0e1f2'
down_revision = 'd9e0f1a2b3c4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_chain_heads',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chain_heads'))
    )
    # Every existing chain's last event becomes its head.
    op.execute(
        """
        INSERT INTO audit_chain_heads (chain, seq, hash)
        SELECT events.chain, events.seq, events.hash
        FROM audit_events AS events
        JOIN (SELECT chain, MAX(seq) AS last_seq FROM audit_events GROUP BY chain) AS last
          ON last.chain = events.chain AND last.last_seq = events.seq
        """
    )


def downgrade():
    op.drop_table('audit_chain_heads')
