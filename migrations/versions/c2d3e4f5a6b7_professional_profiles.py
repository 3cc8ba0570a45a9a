"""professional profiles (one per member and organization), and the signer's details a signed report keeps

Revision ID: c2d3e4f5a6b7
Revises: a0b1c2d3e4f5
Create Date: 2026-12-08 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = 'c2d3e4f5a6b7'
down_revision = 'a0b1c2d3e4f5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('professional_profiles',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('discipline', sa.String(length=80), nullable=True),
    sa.Column('registration_body', sa.String(length=80), nullable=True),
    sa.Column('registration_number', sa.String(length=40), nullable=True),
    sa.Column('qualifications', sa.JSON(), nullable=False),
    sa.Column('signature_block', sa.Text(), nullable=True),
    sa.Column('default_report_template_id', sa.String(length=40), nullable=True),
    sa.Column('updated_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_professional_profiles_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_professional_profiles_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_professional_profiles_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professional_profiles')),
    sa.UniqueConstraint('organization_id', 'user_id', name=op.f('uq_professional_profiles_organization_id_user_id')),
    )
    with op.batch_alter_table('professional_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professional_profiles_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_professional_profiles_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signer_credentials', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('signer_credentials')

    with op.batch_alter_table('professional_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_professional_profiles_user_id'))
        batch_op.drop_index(batch_op.f('ix_professional_profiles_organization_id'))
    op.drop_table('professional_profiles')
