"""billing (issue 17): settings, per-organization counters and status totals, tax rates, billable items, invoices and
their lines, payments, credit notes and their lines, and the patient credit ledger

Revision ID: f5a6b7c8d9e0
Revises: e4f5a6b7c8d9
Create Date: 2026-12-07 10:12:42.735963
"""

import sqlalchemy as sa
from alembic import op

import clinic_app.core.db


revision = 'f5a6b7c8d9e0'
down_revision = 'e4f5a6b7c8d9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('billing_counters',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('sequence', sa.String(length=16), nullable=False),
    sa.Column('next_number', sa.Integer(), nullable=False),
    sa.CheckConstraint("sequence IN ('invoice', 'credit_note')", name=op.f('ck_billing_counters_sequence')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_counters_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'sequence', name=op.f('pk_billing_counters'))
    )
    op.create_table('billing_settings',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('invoice_prefix', sa.String(length=12), nullable=False),
    sa.Column('credit_note_prefix', sa.String(length=12), nullable=False),
    sa.Column('business_number', sa.String(length=40), nullable=True),
    sa.Column('payment_instructions', sa.Text(), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_settings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_billing_settings'))
    )
    op.create_table('billing_status_totals',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('tax_total', sa.BigInteger(), nullable=False),
    sa.Column('amount_paid', sa.BigInteger(), nullable=False),
    sa.Column('amount_credited', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'issued', 'partially_paid', 'paid', 'void')", name=op.f('ck_billing_status_totals_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_status_totals_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'status', name=op.f('pk_billing_status_totals'))
    )
    op.create_table('billing_tax_rates',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('basis_points', sa.Integer(), nullable=False),
    sa.Column('archived_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('basis_points >= 0 AND basis_points <= 10000', name=op.f('ck_billing_tax_rates_basis_points')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_tax_rates_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_tax_rates')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_billing_tax_rates_organization_id_name'))
    )
    with op.batch_alter_table('billing_tax_rates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_tax_rates_organization_id'), ['organization_id'], unique=False)

    op.create_table('billing_items',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('tax_rate_id', sa.String(length=40), nullable=False),
    sa.Column('appointment_type_id', sa.String(length=40), nullable=True),
    sa.Column('archived_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('unit_price >= 0', name=op.f('ck_billing_items_unit_price')),
    sa.ForeignKeyConstraint(['appointment_type_id'], ['appointment_types.id'], name=op.f('fk_billing_items_appointment_type_id_appointment_types'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_items_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tax_rate_id'], ['billing_tax_rates.id'], name=op.f('fk_billing_items_tax_rate_id_billing_tax_rates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_items'))
    )
    with op.batch_alter_table('billing_items', schema=None) as batch_op:
        batch_op.create_index('ix_billing_items_org_appointment_type', ['organization_id', 'appointment_type_id'], unique=False)
        batch_op.create_index('ix_billing_items_org_name', ['organization_id', 'name'], unique=False)

    op.create_table('invoices',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('practitioner_id', sa.String(length=40), nullable=True),
    sa.Column('appointment_id', sa.String(length=40), nullable=True),
    sa.Column('consultation_id', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('issued_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('subtotal', sa.Integer(), nullable=False),
    sa.Column('tax_total', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('amount_paid', sa.Integer(), nullable=False),
    sa.Column('amount_credited', sa.Integer(), nullable=False),
    sa.Column('notes_enc', sa.Text(), nullable=True),
    sa.Column('void_reason_enc', sa.Text(), nullable=True),
    sa.Column('voided_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('issued_by_id', sa.String(length=40), nullable=True),
    sa.Column('voided_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'issued', 'partially_paid', 'paid', 'void')", name=op.f('ck_invoices_status')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_invoices_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation_sessions.id'], name=op.f('fk_invoices_consultation_id_consultation_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invoices_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_invoices_issued_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_invoices_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_invoices_patient_id_patients')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_invoices_practitioner_id_practitioners'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['voided_by_id'], ['users.id'], name=op.f('fk_invoices_voided_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('organization_id', 'number', name=op.f('uq_invoices_organization_id_number'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_org_created', ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_invoices_org_issue', ['organization_id', 'issue_date'], unique=False)
        batch_op.create_index('ix_invoices_org_patient', ['organization_id', 'patient_id'], unique=False)
        batch_op.create_index('ix_invoices_org_practitioner', ['organization_id', 'practitioner_id'], unique=False)
        batch_op.create_index('ix_invoices_org_status_created', ['organization_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('uq_invoices_open_appointment', ['organization_id', 'appointment_id'], unique=True, sqlite_where=sa.text("status != 'void' AND appointment_id IS NOT NULL"), postgresql_where=sa.text("status != 'void' AND appointment_id IS NOT NULL"))

    op.create_table('billing_payments',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('invoice_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.CheckConstraint("kind IN ('payment', 'refund')", name=op.f('ck_billing_payments_kind')),
    sa.CheckConstraint("method IN ('card', 'cash', 'eft', 'health_fund', 'other', 'patient_credit')", name=op.f('ck_billing_payments_method')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_billing_payments_amount')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_billing_payments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_billing_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_payments_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_billing_payments_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_payments'))
    )
    with op.batch_alter_table('billing_payments', schema=None) as batch_op:
        batch_op.create_index('ix_billing_payments_org_invoice', ['organization_id', 'invoice_id'], unique=False)
        batch_op.create_index('ix_billing_payments_org_patient', ['organization_id', 'patient_id'], unique=False)
        batch_op.create_index('ix_billing_payments_org_received', ['organization_id', 'received_on'], unique=False)

    op.create_table('credit_notes',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('invoice_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('subtotal', sa.Integer(), nullable=False),
    sa.Column('tax_total', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('reason_enc', sa.Text(), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_credit_notes_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_credit_notes_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_credit_notes_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_credit_notes_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
    sa.UniqueConstraint('organization_id', 'number', name=op.f('uq_credit_notes_organization_id_number'))
    )
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_notes_org_invoice', ['organization_id', 'invoice_id'], unique=False)
        batch_op.create_index('ix_credit_notes_org_issue', ['organization_id', 'issue_date'], unique=False)

    op.create_table('invoice_lines',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('invoice_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=40), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('discount_basis_points', sa.Integer(), nullable=False),
    sa.Column('tax_name', sa.String(length=60), nullable=False),
    sa.Column('tax_basis_points', sa.Integer(), nullable=False),
    sa.Column('net', sa.Integer(), nullable=False),
    sa.Column('tax', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('credited_quantity', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.CheckConstraint('discount_basis_points >= 0 AND discount_basis_points <= 10000', name=op.f('ck_invoice_lines_discount')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_invoice_lines_quantity')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['billing_items.id'], name=op.f('fk_invoice_lines_item_id_billing_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_invoice_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines')),
    sa.UniqueConstraint('invoice_id', 'position', name=op.f('uq_invoice_lines_invoice_id_position'))
    )
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_lines_organization_id'), ['organization_id'], unique=False)

    op.create_table('credit_note_lines',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('credit_note_id', sa.String(length=40), nullable=False),
    sa.Column('invoice_line_id', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('tax_basis_points', sa.Integer(), nullable=False),
    sa.Column('net', sa.Integer(), nullable=False),
    sa.Column('tax', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_credit_note_lines_credit_note_id_credit_notes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invoice_line_id'], ['invoice_lines.id'], name=op.f('fk_credit_note_lines_invoice_line_id_invoice_lines')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_credit_note_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_lines'))
    )
    with op.batch_alter_table('credit_note_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_note_lines_credit_note_id'), ['credit_note_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_note_lines_organization_id'), ['organization_id'], unique=False)

    op.create_table('patient_credits',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('invoice_id', sa.String(length=40), nullable=True),
    sa.Column('payment_id', sa.String(length=40), nullable=True),
    sa.Column('credit_note_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', clinic_app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.CheckConstraint("source IN ('overpayment', 'applied', 'refunded', 'credit_note')", name=op.f('ck_patient_credits_source')),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_patient_credits_credit_note_id_credit_notes')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_patient_credits_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patient_credits_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_credits_patient_id_patients')),
    sa.ForeignKeyConstraint(['payment_id'], ['billing_payments.id'], name=op.f('fk_patient_credits_payment_id_billing_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_credits'))
    )
    with op.batch_alter_table('patient_credits', schema=None) as batch_op:
        batch_op.create_index('ix_patient_credits_org_patient', ['organization_id', 'patient_id'], unique=False)



def downgrade():
    with op.batch_alter_table('patient_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_credits_org_patient')

    op.drop_table('patient_credits')
    with op.batch_alter_table('credit_note_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_note_lines_organization_id'))
        batch_op.drop_index(batch_op.f('ix_credit_note_lines_credit_note_id'))

    op.drop_table('credit_note_lines')
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_lines_organization_id'))

    op.drop_table('invoice_lines')
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_notes_org_issue')
        batch_op.drop_index('ix_credit_notes_org_invoice')

    op.drop_table('credit_notes')
    with op.batch_alter_table('billing_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_payments_org_received')
        batch_op.drop_index('ix_billing_payments_org_patient')
        batch_op.drop_index('ix_billing_payments_org_invoice')

    op.drop_table('billing_payments')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('uq_invoices_open_appointment', sqlite_where=sa.text("status != 'void' AND appointment_id IS NOT NULL"), postgresql_where=sa.text("status != 'void' AND appointment_id IS NOT NULL"))
        batch_op.drop_index('ix_invoices_org_status_created')
        batch_op.drop_index('ix_invoices_org_practitioner')
        batch_op.drop_index('ix_invoices_org_patient')
        batch_op.drop_index('ix_invoices_org_issue')
        batch_op.drop_index('ix_invoices_org_created')

    op.drop_table('invoices')
    with op.batch_alter_table('billing_items', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_items_org_name')
        batch_op.drop_index('ix_billing_items_org_appointment_type')

    op.drop_table('billing_items')
    with op.batch_alter_table('billing_tax_rates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_tax_rates_organization_id'))

    op.drop_table('billing_tax_rates')
    op.drop_table('billing_status_totals')
    op.drop_table('billing_settings')
    op.drop_table('billing_counters')
