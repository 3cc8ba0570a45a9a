"""engagement (placeholder: filled by the feature that owns it)

Revision ID: 8b1e6a2c3d40
Revises: 7a4e5c9b1d05
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import clinic_app.core.db  # noqa: F401


revision = '8b1e6a2c3d40'
down_revision = '7a4e5c9b1d05'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
