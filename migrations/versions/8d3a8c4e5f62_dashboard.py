"""dashboard (placeholder: filled by the feature that owns it)

Revision ID: 8d3a8c4e5f62
Revises: 8c2f7b3d4e51
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import clinic_app.core.db  # noqa: F401


revision = '8d3a8c4e5f62'
down_revision = '8c2f7b3d4e51'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
