"""consultations: consultation sessions and their transcripts

Revision ID: 9a4b9d5f6a73
Revises: 8d3a8c4e5f62
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '9a4b9d5f6a73'
down_revision = '8d3a8c4e5f62'
branch_labels = None
depends_on = None

SESSION_STATUSES = "status IN ('in_progress', 'completed', 'cancelled')"
SESSION_TYPES = "session_type IN ('new_patient', 'follow_up', 'consultation', 'emergency')"
SOURCES = "source IN ('paste', 'txt', 'vtt', 'srt', 'audio')"


def _time(name, nullable=True):
    return sa.Column(name, clinic_app.core.db.UTCDateTime(timezone=True), nullable=nullable)


def _org_fk(table):
    return sa.ForeignKeyConstraint(
        ['organization_id'], ['organizations.id'],
        name=op.f(f'fk_{table}_organization_id_organizations'), ondelete='CASCADE',
    )


def upgrade():
    op.create_table('consultation_sessions',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('clinician_id', sa.String(length=40), nullable=False),
    sa.Column('session_code', sa.String(length=20), nullable=False),
    sa.Column('session_type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    _time('started_at', nullable=False),
    _time('ended_at'),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('chief_complaint_enc', sa.Text(), nullable=True),
    sa.Column('notes_enc', sa.Text(), nullable=True),
    sa.Column('medication_plan_enc', sa.Text(), nullable=True),
    sa.Column('appointment_id', sa.String(length=40), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('ended_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('consultation_sessions'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_consultation_sessions_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinician_id'], ['users.id'], name=op.f('fk_consultation_sessions_clinician_id_users')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_consultation_sessions_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_consultation_sessions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ended_by_id'], ['users.id'], name=op.f('fk_consultation_sessions_ended_by_id_users'), ondelete='SET NULL'),
    sa.CheckConstraint(SESSION_STATUSES, name=op.f('ck_consultation_sessions_status')),
    sa.CheckConstraint(SESSION_TYPES, name=op.f('ck_consultation_sessions_session_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_sessions')),
    sa.UniqueConstraint('organization_id', 'session_code', name=op.f('uq_consultation_sessions_organization_id_session_code')),
    )
    with op.batch_alter_table('consultation_sessions', schema=None) as batch_op:
        # No index on organization_id alone: these (and the unique constraint) lead with it.
        batch_op.create_index('ix_consultation_sessions_org_patient_started', ['organization_id', 'patient_id', 'started_at'], unique=False)
        batch_op.create_index('ix_consultation_sessions_org_started', ['organization_id', 'started_at'], unique=False)
        batch_op.create_index('ix_consultation_sessions_org_appointment', ['organization_id', 'appointment_id'], unique=False)

    op.create_table('consultation_transcripts',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('filename_enc', sa.Text(), nullable=True),
    sa.Column('word_count', sa.Integer(), nullable=False),
    sa.Column('segment_count', sa.Integer(), nullable=False),
    sa.Column('has_timings', sa.Boolean(), nullable=False),
    sa.Column('has_speakers', sa.Boolean(), nullable=False),
    sa.Column('segments_enc', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('consultation_transcripts'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_consultation_transcripts_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_consultation_transcripts_created_by_id_users'), ondelete='SET NULL'),
    sa.CheckConstraint(SOURCES, name=op.f('ck_consultation_transcripts_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_transcripts')),
    sa.UniqueConstraint('session_id', 'sequence', name=op.f('uq_consultation_transcripts_session_id_sequence')),
    )
    with op.batch_alter_table('consultation_transcripts', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_transcripts_org_session', ['organization_id', 'session_id'], unique=False)


def downgrade():
    with op.batch_alter_table('consultation_transcripts', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_transcripts_org_session')
    op.drop_table('consultation_transcripts')

    with op.batch_alter_table('consultation_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_sessions_org_appointment')
        batch_op.drop_index('ix_consultation_sessions_org_started')
        batch_op.drop_index('ix_consultation_sessions_org_patient_started')
    op.drop_table('consultation_sessions')
