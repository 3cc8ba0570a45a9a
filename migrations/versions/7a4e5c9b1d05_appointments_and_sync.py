"""appointments and Cliniko sync: practitioners, appointment types, appointments, patient
appointment statistics, the Cliniko connection, sync runs and the Cliniko id map

Revision ID: 7a4e5c9b1d05
Revises: 65b0d2c4e1a7
Create Date: 2026-11-26 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '7a4e5c9b1d05'
down_revision = '65b0d2c4e1a7'
branch_labels = None
depends_on = None

ACTIVE_RUN = sa.text("status IN ('starting', 'running')")


def _time(name, nullable=True):
    return sa.Column(name, clinic_app.core.db.UTCDateTime(timezone=True), nullable=nullable)


def _org_fk(table):
    return sa.ForeignKeyConstraint(
        ['organization_id'], ['organizations.id'],
        name=op.f(f'fk_{table}_organization_id_organizations'), ondelete='CASCADE',
    )


def upgrade():
    op.create_table('practitioners',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('cliniko_id', sa.String(length=32), nullable=True),
    sa.Column('title', sa.String(length=40), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('designation', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    _time('archived_at'),
    _time('source_updated_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('practitioners'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practitioners')),
    sa.UniqueConstraint('organization_id', 'cliniko_id', name=op.f('uq_practitioners_organization_id_cliniko_id')),
    )
    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practitioners_organization_id'), ['organization_id'], unique=False)

    op.create_table('appointment_types',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('cliniko_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=True),
    sa.Column('color', sa.String(length=20), nullable=True),
    sa.Column('duration_minutes', sa.Integer(), nullable=True),
    _time('archived_at'),
    _time('source_updated_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('appointment_types'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_types')),
    sa.UniqueConstraint('organization_id', 'cliniko_id', name=op.f('uq_appointment_types_organization_id_cliniko_id')),
    )
    with op.batch_alter_table('appointment_types', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_types_organization_id'), ['organization_id'], unique=False)

    op.create_table('appointments',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('cliniko_id', sa.String(length=32), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('patient_id', sa.String(length=40), nullable=True),
    sa.Column('patient_cliniko_id', sa.String(length=32), nullable=True),
    sa.Column('practitioner_id', sa.String(length=40), nullable=True),
    sa.Column('appointment_type_id', sa.String(length=40), nullable=True),
    sa.Column('business_cliniko_id', sa.String(length=32), nullable=True),
    _time('starts_at', nullable=False),
    _time('ends_at'),
    sa.Column('status', sa.String(length=16), nullable=False),
    _time('cancelled_at'),
    sa.Column('cancellation_reason_enc', sa.Text(), nullable=True),
    sa.Column('notes_enc', sa.Text(), nullable=True),
    sa.Column('patient_arrived', sa.Boolean(), nullable=False),
    sa.Column('did_not_arrive', sa.Boolean(), nullable=False),
    _time('archived_at'),
    _time('deleted_at'),
    _time('source_updated_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('appointments'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_appointments_patient_id_patients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_appointments_practitioner_id_practitioners'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['appointment_type_id'], ['appointment_types.id'], name=op.f('fk_appointments_appointment_type_id_appointment_types'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('organization_id', 'cliniko_id', name=op.f('uq_appointments_organization_id_cliniko_id')),
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        # No index on organization_id alone: these (and the unique constraint) lead with it.
        batch_op.create_index('ix_appointments_org_patient_starts', ['organization_id', 'patient_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_appointments_org_starts', ['organization_id', 'starts_at'], unique=False)

    op.create_table('patient_appointment_stats',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('attended', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Integer(), nullable=False),
    sa.Column('did_not_arrive', sa.Integer(), nullable=False),
    sa.Column('upcoming', sa.Integer(), nullable=False),
    sa.Column('recent_attended', sa.Integer(), nullable=False),
    _time('first_appointment_at'),
    _time('last_attended_at'),
    _time('next_appointment_at'),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    _time('valid_until'),
    _time('computed_at', nullable=False),
    _org_fk('patient_appointment_stats'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_appointment_stats_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_appointment_stats')),
    sa.UniqueConstraint('organization_id', 'patient_id', name=op.f('uq_patient_appointment_stats_organization_id_patient_id')),
    )
    with op.batch_alter_table('patient_appointment_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_appointment_stats_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_appointment_stats_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_patient_appointment_stats_org_active', ['organization_id', 'is_active'], unique=False)
        batch_op.create_index('ix_patient_appointment_stats_org_valid', ['organization_id', 'valid_until'], unique=False)

    op.create_table('cliniko_connections',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('api_key_enc', sa.Text(), nullable=False),
    sa.Column('key_hint', sa.String(length=40), nullable=False),
    sa.Column('shard', sa.String(length=8), nullable=False),
    sa.Column('base_url_template', sa.String(length=300), nullable=True),
    sa.Column('businesses', sa.JSON(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('scheduled_sync_enabled', sa.Boolean(), nullable=False),
    sa.Column('sync_interval_minutes', sa.Integer(), nullable=False),
    sa.Column('connected_by_id', sa.String(length=40), nullable=True),
    _time('connected_at', nullable=False),
    _time('last_tested_at'),
    sa.Column('last_test_ok', sa.Boolean(), nullable=True),
    _time('last_successful_sync_at'),
    _time('last_incremental_cursor'),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('cliniko_connections'),
    sa.ForeignKeyConstraint(['connected_by_id'], ['users.id'], name=op.f('fk_cliniko_connections_connected_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cliniko_connections')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_cliniko_connections_organization_id')),
    )
    with op.batch_alter_table('cliniko_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cliniko_connections_organization_id'), ['organization_id'], unique=False)

    op.create_table('sync_runs',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('current_step', sa.String(length=40), nullable=True),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('percentage', sa.Float(), nullable=False),
    _time('estimated_completion_at'),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('failures', sa.JSON(), nullable=False),
    sa.Column('phones_total', sa.Integer(), nullable=False),
    sa.Column('phones_normalised', sa.Integer(), nullable=False),
    sa.Column('emails_dropped', sa.Integer(), nullable=False),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    _time('heartbeat_at'),
    _time('created_at', nullable=False),
    _time('started_at'),
    _time('finished_at'),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('cursor', sa.JSON(), nullable=True),
    _time('updated_since'),
    sa.Column('resumed_from_id', sa.String(length=40), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    _org_fk('sync_runs'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sync_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs')),
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_runs_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_sync_runs_org_created', ['organization_id', 'created_at'], unique=False)
        # One starting-or-running sync per organization, enforced by the database.
        batch_op.create_index(
            'uq_sync_runs_one_active_per_org', ['organization_id'], unique=True,
            postgresql_where=ACTIVE_RUN, sqlite_where=ACTIVE_RUN,
        )

    op.create_table('cliniko_links',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('resource', sa.String(length=32), nullable=False),
    sa.Column('cliniko_id', sa.String(length=32), nullable=False),
    sa.Column('local_id', sa.String(length=40), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    _time('source_updated_at'),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('cliniko_links'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cliniko_links')),
    sa.UniqueConstraint('organization_id', 'resource', 'cliniko_id', name=op.f('uq_cliniko_links_organization_id_resource_cliniko_id')),
    )
    with op.batch_alter_table('cliniko_links', schema=None) as batch_op:
        # The unique constraint serves the organization; see ClinikoLink for why nothing else may
        # start with (organization_id, resource).
        batch_op.create_index('ix_cliniko_links_local', ['local_id'], unique=False)


def downgrade():
    with op.batch_alter_table('cliniko_links', schema=None) as batch_op:
        batch_op.drop_index('ix_cliniko_links_local')
    op.drop_table('cliniko_links')

    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('uq_sync_runs_one_active_per_org')
        batch_op.drop_index('ix_sync_runs_org_created')
        batch_op.drop_index(batch_op.f('ix_sync_runs_organization_id'))
    op.drop_table('sync_runs')

    with op.batch_alter_table('cliniko_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cliniko_connections_organization_id'))
    op.drop_table('cliniko_connections')

    with op.batch_alter_table('patient_appointment_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_appointment_stats_org_valid')
        batch_op.drop_index('ix_patient_appointment_stats_org_active')
        batch_op.drop_index(batch_op.f('ix_patient_appointment_stats_patient_id'))
        batch_op.drop_index(batch_op.f('ix_patient_appointment_stats_organization_id'))
    op.drop_table('patient_appointment_stats')

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_org_starts')
        batch_op.drop_index('ix_appointments_org_patient_starts')
    op.drop_table('appointments')

    with op.batch_alter_table('appointment_types', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_types_organization_id'))
    op.drop_table('appointment_types')

    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practitioners_organization_id'))
    op.drop_table('practitioners')
