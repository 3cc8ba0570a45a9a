"""engagement: per-patient engagement and re-engagement figures on patient_appointment_stats,
and the contact outcomes recorded from the worklist

Revision ID: 8b1e6a2c3d40
Revises: 7a4e5c9b1d05
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '8b1e6a2c3d40'
down_revision = '7a4e5c9b1d05'
branch_labels = None
depends_on = None


def _time(name, nullable=True):
    return sa.Column(name, clinic_app.core.db.UTCDateTime(timezone=True), nullable=nullable)


def _count(name):
    return sa.Column(name, sa.Integer(), nullable=False, server_default='0')


def upgrade():
    with op.batch_alter_table('patient_appointment_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activity_status', sa.String(length=16), nullable=False, server_default='inactive'))
        batch_op.add_column(sa.Column('next_appointment_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('next_appointment_type_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('next_practitioner_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('primary_appointment_type_id', sa.String(length=40), nullable=True))
        batch_op.add_column(_count('attended_90'))
        batch_op.add_column(_count('did_not_arrive_90'))
        batch_op.add_column(_count('late_cancelled_90'))
        batch_op.add_column(sa.Column('risk_level', sa.String(length=8), nullable=False, server_default='low'))
        batch_op.add_column(_count('risk_score'))
        batch_op.add_column(sa.Column('action_priority', sa.Integer(), nullable=False, server_default='4'))
        batch_op.add_column(sa.Column('risk_reasons', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(_time('contacted_at'))
        batch_op.create_index(
            'ix_patient_appointment_stats_worklist',
            ['organization_id', 'action_priority', sa.text('risk_score DESC'), 'patient_id'],
            unique=False,
        )
        batch_op.create_index(
            'ix_patient_appointment_stats_org_active_next',
            ['organization_id', 'is_active', 'next_appointment_at'],
            unique=False,
        )

    op.create_table('engagement_contacts',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    _time('contacted_at', nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('note_enc', sa.Text(), nullable=True),
    sa.Column('risk_level', sa.String(length=8), nullable=False),
    sa.Column('figures_key', sa.String(length=80), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_engagement_contacts_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_engagement_contacts_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_engagement_contacts_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_contacts')),
    )
    with op.batch_alter_table('engagement_contacts', schema=None) as batch_op:
        batch_op.create_index('ix_engagement_contacts_org_patient_at', ['organization_id', 'patient_id', 'contacted_at'], unique=False)
        batch_op.create_index('ix_engagement_contacts_org_at', ['organization_id', 'contacted_at'], unique=False)


def downgrade():
    with op.batch_alter_table('engagement_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_contacts_org_at')
        batch_op.drop_index('ix_engagement_contacts_org_patient_at')
    op.drop_table('engagement_contacts')

    with op.batch_alter_table('patient_appointment_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_appointment_stats_org_active_next')
        batch_op.drop_index('ix_patient_appointment_stats_worklist')
        for column in (
            'contacted_at', 'risk_reasons', 'action_priority', 'risk_score', 'risk_level',
            'late_cancelled_90', 'did_not_arrive_90', 'attended_90', 'primary_appointment_type_id',
            'next_practitioner_id', 'next_appointment_type_id', 'next_appointment_id', 'activity_status',
        ):
            batch_op.drop_column(column)
