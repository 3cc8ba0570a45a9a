"""report exports: every PDF handed out, with the SHA-256 of its bytes (for verification)

Revision ID: 9c6dbf7b8c95
Revises: 9b5cae6a7b84
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = '9c6dbf7b8c95'
down_revision = '9b5cae6a7b84'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_exports',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('report_id', sa.String(length=40), nullable=False),
    sa.Column('report_version', sa.Integer(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('exported_by_id', sa.String(length=40), nullable=True),
    sa.Column('exported_by_token_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_report_exports_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_exports_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exported_by_id'], ['users.id'], name=op.f('fk_report_exports_exported_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_exports')),
    )
    with op.batch_alter_table('report_exports', schema=None) as batch_op:
        batch_op.create_index('ix_report_exports_org_pdf_sha256', ['organization_id', 'pdf_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_exports_report_id'), ['report_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_exports_report_id'))
        batch_op.drop_index('ix_report_exports_org_pdf_sha256')
    op.drop_table('report_exports')
