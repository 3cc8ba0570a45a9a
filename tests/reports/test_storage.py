"""What is stored: report content and the extra inputs are ciphertext at rest (nothing readable in
the raw rows), the models match the migrated schema, one amendment per report is enforced by the
database, and the signature hash is the SHA-256 of the documented canonical content."""

from __future__ import annotations

import hashlib
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.reports import service
from clinic_app.reports.content import canonical_content, content_intact
from clinic_app.reports.models import Report
from tests.reports.conftest import generate, raw_rows, report_row


def test_report_content_is_encrypted_at_rest(app, tenants, session_id):
    report_id = generate(
        app,
        tenants.a,
        tenants.user("clinician"),
        session_id,
        additional_notes="SENTINEL-NOTE",
        patient_progress="SENTINEL-PROGRESS",
    )
    with app.app_context():
        service.save_sections(
            tenants.a.id, report_id, {"plan": "SENTINEL-PLAN"}, expected_revision=0, actor=audit.Actor()
        )
        db.session.commit()
    (row,) = raw_rows(app, "reports")
    stored = json.dumps({k: v for k, v in row.items()}, default=str)
    for secret in ("SENTINEL", "Restructure at work", "sleeping", "Sertraline", "Okafor"):
        assert secret not in stored
    for column in ("generated_sections_enc", "current_sections_enc", "extra_inputs_enc"):
        assert row[column].startswith("v1:")


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    ours = ("report_templates", "report_template_versions", "'reports'", "ix_reports")
    assert [d for d in differences if any(name in repr(d) for name in ours)] == []


def test_the_signature_covers_the_canonical_content(app, tenants, signed_report_id):
    row = report_row(app, signed_report_id)
    with app.app_context():
        report = db.session.get(Report, signed_report_id)
        content = json.loads(canonical_content(report))
        assert content["format"] == "clinic-report-content/1"
        assert (content["report_id"], content["version"], content["signed_by_id"]) == (
            signed_report_id,
            1,
            row.signed_by_id,
        )
        assert content["signed_at"].endswith("Z")
        assert content["sections"][0]["key"] == "presenting_complaint"
        assert hashlib.sha256(canonical_content(report)).hexdigest() == row.content_sha256
        assert content_intact(report) is True
        # Text changed behind the app's back no longer matches its signature.
        from clinic_app.reports.content import read_sections, write_sections

        sections = read_sections(report, "current_sections")
        write_sections(report, "current_sections", {**sections, "plan": "tampered"})
        assert content_intact(report) is False
        db.session.rollback()


def test_one_amendment_per_report_is_enforced_by_the_database(app, tenants, signed_report_id):
    original = report_row(app, signed_report_id)
    with app.app_context():
        service.amend_report(tenants.a.id, signed_report_id, actor=audit.Actor())
        db.session.commit()
        twin = Report(
            organization_id=tenants.a.id,
            patient_id=original.patient_id,
            session_id=original.session_id,
            template_version_id=original.template_version_id,
            status="draft",
            version=2,
            revision=0,
            amends_report_id=signed_report_id,
        )
        db.session.add(twin)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
