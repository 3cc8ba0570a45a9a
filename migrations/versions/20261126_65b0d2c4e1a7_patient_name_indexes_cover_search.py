"""patients: the name indexes carry the sort keys and the archived flag (PostgreSQL INCLUDE)

A name search then finds its matches with index-only scans and never reads the wide, encrypted
patient rows (patients/search.py). SQLite has no INCLUDE: nothing changes there.

Revision ID: 65b0d2c4e1a7
Revises: 6f3d4b8a0c04
Create Date: 2026-11-26 09:00:00.000000
"""

from alembic import op


revision = '65b0d2c4e1a7'
down_revision = '6f3d4b8a0c04'
branch_labels = None
depends_on = None

_INDEXES = {
    'ix_patients_org_last_first': (
        ['organization_id', 'last_name_key', 'first_name_key', 'id'],
        ['archived', 'created_at', 'preferred_name_key'],
    ),
    'ix_patients_org_first_last': (
        ['organization_id', 'first_name_key', 'last_name_key', 'id'],
        ['archived', 'created_at', 'preferred_name_key'],
    ),
    'ix_patients_org_preferred': (
        ['organization_id', 'preferred_name_key', 'id'],
        ['archived', 'created_at', 'last_name_key', 'first_name_key'],
    ),
}


def _recreate(with_include):
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, (columns, include) in _INDEXES.items():
        op.drop_index(name, table_name='patients')
        extra = {'postgresql_include': include} if with_include else {}
        op.create_index(name, 'patients', columns, unique=False, **extra)


def upgrade():
    _recreate(with_include=True)


def downgrade():
    _recreate(with_include=False)
