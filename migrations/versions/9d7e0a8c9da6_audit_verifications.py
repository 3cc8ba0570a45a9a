"""audit verifications: per chain, the checkpoint the last verification reached and what it found

Revision ID: 9d7e0a8c9da6
Revises: 9c6dbf7b8c95
Create Date: 2026-11-28 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '9d7e0a8c9da6'
down_revision = '9c6dbf7b8c95'
branch_labels = None
depends_on = None


def upgrade():
    # An ordinary table: unlike audit_events it is updated in place (no append-only trigger).
    op.create_table('audit_verifications',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=True),
    sa.Column('verified_seq', sa.Integer(), nullable=False),
    sa.Column('verified_hash', sa.String(length=64), nullable=False),
    sa.Column('verified_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_by_id', sa.String(length=40), nullable=True),
    sa.Column('checked_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_by_id', sa.String(length=40), nullable=True),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('events_checked', sa.Integer(), nullable=False),
    sa.Column('problem_seq', sa.Integer(), nullable=True),
    sa.Column('problem_event_id', sa.String(length=40), nullable=True),
    sa.Column('problem', sa.String(length=200), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_audit_verifications_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_audit_verifications_verified_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_audit_verifications_checked_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_verifications')),
    sa.UniqueConstraint('chain', name=op.f('uq_audit_verifications_chain')),
    )
    with op.batch_alter_table('audit_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_verifications_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_verifications_organization_id'))
    op.drop_table('audit_verifications')
