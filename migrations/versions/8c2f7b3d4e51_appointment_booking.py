"""appointment booking: a practitioner may be linked to a staff member; appointments are
indexed by practitioner and start (day and week views, the double-booking check) and, for the
ones still to come, by start (upcoming lists and counts)

Revision ID: 8c2f7b3d4e51
Revises: 8b1e6a2c3d40
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db  # noqa: F401

revision = '8c2f7b3d4e51'
down_revision = '8b1e6a2c3d40'
branch_labels = None
depends_on = None

# Written out here (not imported from the models): a migration keeps the schema it was written for.
UPCOMING = (
    "cancelled_at IS NULL AND did_not_arrive = {false} AND patient_arrived = {false} "
    "AND archived_at IS NULL AND deleted_at IS NULL"
)


def upgrade():
    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_practitioners_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_practitioners_user_id_users'), 'users', ['user_id'], ['id'], ondelete='SET NULL'
        )

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(
            'ix_appointments_org_practitioner_starts', ['organization_id', 'practitioner_id', 'starts_at'], unique=False
        )
        # Upcoming appointments: index-only counts of a window (see appointments/schedule.py).
        batch_op.create_index(
            'ix_appointments_org_upcoming',
            ['organization_id', 'starts_at'],
            unique=False,
            postgresql_include=['practitioner_id', 'appointment_type_id'],
            postgresql_where=sa.text(UPCOMING.format(false='false')),
            sqlite_where=sa.text(UPCOMING.format(false='0')),
        )


def downgrade():
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_org_upcoming')
        batch_op.drop_index('ix_appointments_org_practitioner_starts')

    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_practitioners_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_practitioners_user_id'))
        batch_op.drop_column('user_id')
