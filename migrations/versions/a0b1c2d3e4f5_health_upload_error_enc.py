"""health uploads: the whole message of a failed import, encrypted (it may quote the file)

Revision ID: a0b1c2d3e4f5
Revises: 9f0a2c1e1fc8
Create Date: 2026-12-07 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'a0b1c2d3e4f5'
down_revision = '9f0a2c1e1fc8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('health_uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_enc', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('health_uploads', schema=None) as batch_op:
        batch_op.drop_column('error_enc')
