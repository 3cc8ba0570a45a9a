"""intake: drafts, intake records and patient symptoms; merges the patients and symptoms branches

Revision ID: 6f3d4b8a0c04
Revises: 4d1b2f6e8a02, 5e2c3a7f9b03
Create Date: 2026-11-25 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '6f3d4b8a0c04'
down_revision = ('4d1b2f6e8a02', '5e2c3a7f9b03')
branch_labels = None
depends_on = None


def _timestamp(name, nullable=False):
    return sa.Column(name, clinic_app.core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table('intake_drafts',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('payload_enc', sa.Text(), nullable=True),
    sa.Column('submitted_patient_id', sa.String(length=40), nullable=True),
    _timestamp('submitted_at', nullable=True),
    sa.Column('idempotency_key_hash', sa.String(length=64), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _timestamp('created_at'),
    _timestamp('updated_at'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_intake_drafts_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_intake_drafts_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submitted_patient_id'], ['patients.id'], name=op.f('fk_intake_drafts_submitted_patient_id_patients'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_drafts')),
    sa.UniqueConstraint('organization_id', 'idempotency_key_hash', name=op.f('uq_intake_drafts_organization_id_idempotency_key_hash'))
    )
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_drafts_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_intake_drafts_org_status_updated', ['organization_id', 'status', 'updated_at'], unique=False)

    op.create_table('intake_records',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('draft_id', sa.String(length=40), nullable=True),
    sa.Column('informants_enc', sa.Text(), nullable=True),
    sa.Column('illness_duration_value', sa.Integer(), nullable=True),
    sa.Column('illness_duration_unit', sa.String(length=8), nullable=True),
    sa.Column('referred_by_enc', sa.Text(), nullable=True),
    sa.Column('presenting_problem_enc', sa.Text(), nullable=True),
    sa.Column('precipitating_factors_enc', sa.Text(), nullable=True),
    sa.Column('precipitating_tags_enc', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    _timestamp('created_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_intake_records_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_intake_records_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['draft_id'], ['intake_drafts.id'], name=op.f('fk_intake_records_draft_id_intake_drafts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_intake_records_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_records')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_intake_records_patient_id'))
    )
    with op.batch_alter_table('intake_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_records_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_intake_records_org_created', ['organization_id', 'created_at', 'id'], unique=False)

    op.create_table('patient_symptoms',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('symptom_source', sa.String(length=8), nullable=False),
    sa.Column('symptom_id', sa.String(length=40), nullable=False),
    sa.Column('symptom_name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('frequency', sa.String(length=12), nullable=False),
    sa.Column('duration_value', sa.Integer(), nullable=True),
    sa.Column('duration_unit', sa.String(length=8), nullable=True),
    sa.Column('notes_enc', sa.Text(), nullable=True),
    sa.Column('onset_description_enc', sa.Text(), nullable=True),
    sa.Column('triggers_enc', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    _timestamp('created_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patient_symptoms_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_symptoms_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_patient_symptoms_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_symptoms'))
    )
    with op.batch_alter_table('patient_symptoms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_symptoms_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_symptoms_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_patient_symptoms_org_patient', ['organization_id', 'patient_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('patient_symptoms', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_symptoms_org_patient')
        batch_op.drop_index(batch_op.f('ix_patient_symptoms_patient_id'))
        batch_op.drop_index(batch_op.f('ix_patient_symptoms_organization_id'))

    op.drop_table('patient_symptoms')
    with op.batch_alter_table('intake_records', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_records_org_created')
        batch_op.drop_index(batch_op.f('ix_intake_records_organization_id'))

    op.drop_table('intake_records')
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_drafts_org_status_updated')
        batch_op.drop_index(batch_op.f('ix_intake_drafts_organization_id'))

    op.drop_table('intake_drafts')
