"""symptom catalogue: the ICD-11 master list, loaded from the shipped CSV, and custom symptoms

Revision ID: 5e2c3a7f9b03
Revises: 3c0a1e5d7f01
Create Date: 2026-11-24 09:00:00.000000
"""

import csv
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '5e2c3a7f9b03'
down_revision = '3c0a1e5d7f01'
branch_labels = None
depends_on = None

# Read when the migration runs, so every new database gets the list as shipped. Codes added to
# the CSV later reach existing databases through a later data migration (docs/symptoms.md).
MASTER_LIST_CSV = Path(__file__).resolve().parents[2] / 'clinic_app' / 'symptoms' / 'data' / 'icd11_symptoms.csv'
COLUMNS = ('code', 'title', 'chapter', 'category', 'search_terms')


def _master_rows():
    with MASTER_LIST_CSV.open(newline='', encoding='utf-8') as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise RuntimeError(f'{MASTER_LIST_CSV.name}: expected columns {COLUMNS}, got {reader.fieldnames}')
        return [
            {'id': clinic_app.core.db.new_id('sym'), **{name: (row[name] or '').strip() for name in COLUMNS}}
            for row in reader
        ]


def upgrade():
    master_symptoms = op.create_table('master_symptoms',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('chapter', sa.String(length=4), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('search_terms', sa.String(length=500), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_master_symptoms')),
    sa.UniqueConstraint('code', name=op.f('uq_master_symptoms_code'))
    )
    with op.batch_alter_table('master_symptoms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_master_symptoms_category'), ['category'], unique=False)

    op.create_table('custom_symptoms',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_key', sa.String(length=360), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_custom_symptoms_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_custom_symptoms_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_symptoms')),
    sa.UniqueConstraint('organization_id', 'name_key', name=op.f('uq_custom_symptoms_organization_id_name_key'))
    )
    with op.batch_alter_table('custom_symptoms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_symptoms_organization_id'), ['organization_id'], unique=False)

    op.bulk_insert(master_symptoms, _master_rows())


def downgrade():
    with op.batch_alter_table('custom_symptoms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custom_symptoms_organization_id'))

    op.drop_table('custom_symptoms')
    with op.batch_alter_table('master_symptoms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_master_symptoms_category'))

    # Dropping the table deletes the loaded rows with it.
    op.drop_table('master_symptoms')
