"""per-organization encryption keys

Revision ID: 3c0a1e5d7f01
Revises: 481b792e24f8
Create Date: 2026-11-23 10:08:18.704026
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '3c0a1e5d7f01'
down_revision = '481b792e24f8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organization_keys',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('master_key_id', sa.String(length=32), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_keys_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_keys')),
    sa.UniqueConstraint('organization_id', 'purpose', 'version', name=op.f('uq_organization_keys_organization_id_purpose_version'))
    )
    with op.batch_alter_table('organization_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_keys_organization_id'), ['organization_id'], unique=False)



def downgrade():
    with op.batch_alter_table('organization_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_keys_organization_id'))

    op.drop_table('organization_keys')
