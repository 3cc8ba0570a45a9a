"""dashboard: one snapshot of the dashboard's figures per organization

Revision ID: 8d3a8c4e5f62
Revises: 8c2f7b3d4e51
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '8d3a8c4e5f62'
down_revision = '8c2f7b3d4e51'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_snapshots',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('computed_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('computed_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ['organization_id'], ['organizations.id'],
        name=op.f('fk_dashboard_snapshots_organization_id_organizations'), ondelete='CASCADE',
    ),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_dashboard_snapshots')),
    )


def downgrade():
    op.drop_table('dashboard_snapshots')
