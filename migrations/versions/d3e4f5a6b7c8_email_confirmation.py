"""users: when the e-mail address was confirmed (existing accounts count as confirmed)

Confirmation codes and links are password_links rows of purpose "confirm_email" (no new table).

Revision ID: d3e4f5a6b7c8
Revises: b1c2d3e4f5a6
Create Date: 2026-12-09 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = "d3e4f5a6b7c8"
down_revision = "b1c2d3e4f5a6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", clinic_app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Every account before sign-up existed was made by an operator or an invitation: verified.
    users = sa.table("users", sa.column("email_verified_at", sa.DateTime()), sa.column("created_at", sa.DateTime()))
    op.execute(users.update().values(email_verified_at=users.c.created_at))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
