"""report exports (placeholder: filled by the feature that owns it)

Revision ID: 9c6dbf7b8c95
Revises: 9b5cae6a7b84
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import clinic_app.core.db  # noqa: F401


revision = '9c6dbf7b8c95'
down_revision = '9b5cae6a7b84'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
