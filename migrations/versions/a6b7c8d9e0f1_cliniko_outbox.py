"""cliniko outbox (issue 18): changes made here that Cliniko must learn, sent by a job

Revision ID: a6b7c8d9e0f1
Revises: f5a6b7c8d9e0
Create Date: 2026-12-07 10:22:10.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = 'a6b7c8d9e0f1'
down_revision = 'f5a6b7c8d9e0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cliniko_outbox',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('resource', sa.String(length=32), nullable=False),
    sa.Column('local_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('uncertain', sa.Boolean(), nullable=False),
    sa.Column('next_attempt_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('field_errors', sa.JSON(), nullable=False),
    sa.Column('remote_updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cliniko_id', sa.String(length=32), nullable=True),
    sa.Column('sent_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cliniko_outbox_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_cliniko_outbox_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cliniko_outbox'))
    )
    with op.batch_alter_table('cliniko_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_cliniko_outbox_local', ['local_id'], unique=False)
        batch_op.create_index('ix_cliniko_outbox_org_status', ['organization_id', 'status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('cliniko_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_patient_notes', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('cliniko_connections', schema=None) as batch_op:
        batch_op.drop_column('send_patient_notes')

    with op.batch_alter_table('cliniko_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_cliniko_outbox_org_status')
        batch_op.drop_index('ix_cliniko_outbox_local')

    op.drop_table('cliniko_outbox')
