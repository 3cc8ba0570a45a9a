"""password links: the reset code (an HMAC) and how many codes were tried against it

Revision ID: b1c2d3e4f5a6
Revises: c2d3e4f5a6b7
Create Date: 2026-12-07 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'b1c2d3e4f5a6'
down_revision = 'c2d3e4f5a6b7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.drop_column('code_attempts')
        batch_op.drop_column('code_hash')
