"""reports: versioned report templates and clinical reports (content encrypted)

Revision ID: 9b5cae6a7b84
Revises: 9a4b9d5f6a73
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '9b5cae6a7b84'
down_revision = '9a4b9d5f6a73'
branch_labels = None
depends_on = None


def _time(name, nullable=True):
    return sa.Column(name, clinic_app.core.db.UTCDateTime(timezone=True), nullable=nullable)


def _org_fk(table):
    return sa.ForeignKeyConstraint(
        ['organization_id'], ['organizations.id'],
        name=op.f(f'fk_{table}_organization_id_organizations'), ondelete='CASCADE',
    )


def _user_fk(table, column):
    return sa.ForeignKeyConstraint(
        [column], ['users.id'], name=op.f(f'fk_{table}_{column}_users'), ondelete='SET NULL',
    )


def upgrade():
    op.create_table('report_templates',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('builtin_key', sa.String(length=40), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('report_templates'),
    _user_fk('report_templates', 'created_by_id'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_templates')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_report_templates_organization_id_name')),
    )
    with op.batch_alter_table('report_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_templates_organization_id'), ['organization_id'], unique=False)

    op.create_table('report_template_versions',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _org_fk('report_template_versions'),
    sa.ForeignKeyConstraint(['template_id'], ['report_templates.id'], name=op.f('fk_report_template_versions_template_id_report_templates'), ondelete='CASCADE'),
    _user_fk('report_template_versions', 'created_by_id'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_template_versions')),
    sa.UniqueConstraint('template_id', 'version', name=op.f('uq_report_template_versions_template_id_version')),
    )
    with op.batch_alter_table('report_template_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_template_versions_organization_id'), ['organization_id'], unique=False)

    op.create_table('reports',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('template_version_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('amends_report_id', sa.String(length=40), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('generator', sa.String(length=40), nullable=True),
    sa.Column('model', sa.String(length=120), nullable=True),
    sa.Column('generation_note', sa.String(length=500), nullable=True),
    sa.Column('inputs_sha256', sa.String(length=64), nullable=True),
    sa.Column('inputs_summary', sa.JSON(), nullable=True),
    sa.Column('generation_ms', sa.Integer(), nullable=True),
    _time('generated_at'),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('generated_sections_enc', sa.Text(), nullable=True),
    sa.Column('current_sections_enc', sa.Text(), nullable=True),
    sa.Column('extra_inputs_enc', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('updated_by_id', sa.String(length=40), nullable=True),
    sa.Column('signed_by_id', sa.String(length=40), nullable=True),
    _time('signed_at'),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    _time('created_at', nullable=False),
    _time('updated_at', nullable=False),
    _org_fk('reports'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_reports_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_reports_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_version_id'], ['report_template_versions.id'], name=op.f('fk_reports_template_version_id_report_template_versions')),
    sa.ForeignKeyConstraint(['amends_report_id'], ['reports.id'], name=op.f('fk_reports_amends_report_id_reports')),
    _user_fk('reports', 'created_by_id'),
    _user_fk('reports', 'updated_by_id'),
    _user_fk('reports', 'signed_by_id'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_org_created', ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_org_patient', ['organization_id', 'patient_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reports_org_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_amends_report_id'), ['amends_report_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_reports_content_sha256'), ['content_sha256'], unique=False)


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_content_sha256'))
        batch_op.drop_index(batch_op.f('ix_reports_amends_report_id'))
        batch_op.drop_index(batch_op.f('ix_reports_session_id'))
        batch_op.drop_index('ix_reports_org_status')
        batch_op.drop_index('ix_reports_org_patient')
        batch_op.drop_index('ix_reports_org_created')
    op.drop_table('reports')

    with op.batch_alter_table('report_template_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_template_versions_organization_id'))
    op.drop_table('report_template_versions')

    with op.batch_alter_table('report_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_templates_organization_id'))
    op.drop_table('report_templates')
