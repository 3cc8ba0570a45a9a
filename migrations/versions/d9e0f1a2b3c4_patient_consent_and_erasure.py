"""patient consent and erasure (issue 20): consent records, erasure requests and the patient's
tombstone state (patients.erased_at)

Revision ID: d9e0f1a2b3c4
Revises: c8d9e0f1a2b3
Create Date: 2026-12-07 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = 'd9e0f1a2b3c4'
down_revision = 'c8d9e0f1a2b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('consent_records',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('text_version', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('given_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.String(length=40), nullable=True),
    sa.Column('recorded_by_token_id', sa.String(length=40), nullable=True),
    sa.Column('withdrawn_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_consent_records_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_consent_records_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_consent_records_recorded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], name=op.f('fk_consent_records_withdrawn_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index('ix_consent_records_org_patient', ['organization_id', 'patient_id', 'given_at', 'id'], unique=False)

    op.create_table('erasure_requests',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('open_patient_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note_enc', sa.Text(), nullable=True),
    sa.Column('waiting_days', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.String(length=40), nullable=True),
    sa.Column('requested_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.String(length=40), nullable=True),
    sa.Column('completed_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_by_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_erasure_requests_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_erasure_requests_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_erasure_requests_requested_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['users.id'], name=op.f('fk_erasure_requests_cancelled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['completed_by_id'], ['users.id'], name=op.f('fk_erasure_requests_completed_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_requests')),
    sa.UniqueConstraint('open_patient_id', name=op.f('uq_erasure_requests_open_patient_id'))
    )
    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.create_index('ix_erasure_requests_org_patient', ['organization_id', 'patient_id'], unique=False)
        batch_op.create_index('ix_erasure_requests_due', ['status', 'due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_erasure_requests_due')
        batch_op.drop_index('ix_erasure_requests_org_patient')

    op.drop_table('erasure_requests')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_records_org_patient')

    op.drop_table('consent_records')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
