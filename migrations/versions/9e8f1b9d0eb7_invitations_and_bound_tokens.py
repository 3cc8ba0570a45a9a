"""staff invitations; API log-ins bound to one organization; why an API token stopped working

Revision ID: 9e8f1b9d0eb7
Revises: 9d7e0a8c9da6
Create Date: 2026-12-07 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '9e8f1b9d0eb7'
down_revision = '9d7e0a8c9da6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_invitations',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_staff_invitations_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_staff_invitations_invited_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_invitations')),
    sa.UniqueConstraint('organization_id', 'email', name=op.f('uq_staff_invitations_organization_id_email')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_staff_invitations_secret_hash')),
    )
    with op.batch_alter_table('staff_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_invitations_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_invitations_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_token_families_organization_id'), ['organization_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_token_families_organization_id_organizations'), 'organizations', ['organization_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_reason', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_reason')

    with op.batch_alter_table('token_families', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_token_families_organization_id_organizations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_token_families_organization_id'))
        batch_op.drop_column('organization_id')

    with op.batch_alter_table('staff_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_invitations_expires_at'))
        batch_op.drop_index(batch_op.f('ix_staff_invitations_organization_id'))

    op.drop_table('staff_invitations')
