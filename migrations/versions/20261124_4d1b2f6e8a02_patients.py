"""patients: encrypted patient records and their blind-index identifiers

Revision ID: 4d1b2f6e8a02
Revises: 3c0a1e5d7f01
Create Date: 2026-11-24 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '4d1b2f6e8a02'
down_revision = '3c0a1e5d7f01'
branch_labels = None
depends_on = None


def _search_key():
    # Byte-order comparison on PostgreSQL so prefix ranges use the index under any locale.
    return sa.String(length=100).with_variant(sa.String(length=100, collation='C'), 'postgresql')


def upgrade():
    op.create_table('patients',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('preferred_name', sa.String(length=100), nullable=True),
    sa.Column('first_name_key', _search_key(), nullable=False),
    sa.Column('last_name_key', _search_key(), nullable=False),
    sa.Column('preferred_name_key', _search_key(), nullable=True),
    sa.Column('date_of_birth_enc', sa.Text(), nullable=True),
    sa.Column('sex_enc', sa.Text(), nullable=True),
    sa.Column('gender_enc', sa.Text(), nullable=True),
    sa.Column('phones_enc', sa.Text(), nullable=True),
    sa.Column('email_enc', sa.Text(), nullable=True),
    sa.Column('address_enc', sa.Text(), nullable=True),
    sa.Column('emergency_contact_enc', sa.Text(), nullable=True),
    sa.Column('notes_enc', sa.Text(), nullable=True),
    sa.Column('external_ids_enc', sa.Text(), nullable=True),
    sa.Column('email_bidx', sa.String(length=64), nullable=True),
    sa.Column('dob_bidx', sa.String(length=64), nullable=True),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('archived_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('updated_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patients_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_patients_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_patients_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_org_archived', ['organization_id', 'archived'], unique=False)
        batch_op.create_index('ix_patients_org_last_first', ['organization_id', 'last_name_key', 'first_name_key', 'id'], unique=False)
        batch_op.create_index('ix_patients_org_first_last', ['organization_id', 'first_name_key', 'last_name_key', 'id'], unique=False)
        batch_op.create_index('ix_patients_org_preferred', ['organization_id', 'preferred_name_key', 'id'], unique=False)
        batch_op.create_index('ix_patients_org_created', ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_patients_org_email_bidx', ['organization_id', 'email_bidx'], unique=False)
        batch_op.create_index('ix_patients_org_dob_bidx', ['organization_id', 'dob_bidx'], unique=False)

    op.create_table('patient_identifiers',
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('bidx', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_identifiers_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patient_identifiers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_identifiers'))
    )
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifiers_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_patient_identifiers_lookup', ['organization_id', 'kind', 'bidx'], unique=False)


def downgrade():
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_identifiers_lookup')
        batch_op.drop_index(batch_op.f('ix_patient_identifiers_patient_id'))

    op.drop_table('patient_identifiers')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_org_dob_bidx')
        batch_op.drop_index('ix_patients_org_email_bidx')
        batch_op.drop_index('ix_patients_org_created')
        batch_op.drop_index('ix_patients_org_preferred')
        batch_op.drop_index('ix_patients_org_first_last')
        batch_op.drop_index('ix_patients_org_last_first')
        batch_op.drop_index('ix_patients_org_archived')

    op.drop_table('patients')
