"""How intake is stored: no plaintext of what was typed in any intake table (drafts while in
progress, records and symptoms after), every encrypted column registered for key rotation, and a
migration that matches the models and makes the schema one head again."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from clinic_app.core import audit, crypto
from clinic_app.extensions import db
from clinic_app.intake import service
from clinic_app.intake.models import IntakeDraft, IntakeRecord, PatientSymptom
from tests.intake.conftest import (
    add_symptom,
    details,
    master_id,
    post_step,
    raw_rows,
    start_draft,
    submit_draft,
    symptom_keys,
)

SENTINEL_DEMOGRAPHICS = {
    "first_name": "Sentinel",
    "last_name": "Intake",
    "date_of_birth": "1971-03-04",
    "mobile_phone": "0412 345 678",
    "email": "sentinel.intake@example.com",
    "address_line1": "42 Sentinel Street",
}
SENTINEL_PRESENTING = {
    "presenting_problem": "SENTINEL-PROBLEM",
    "informants": ["self"],
    "informant_details": "SENTINEL-INFORMANT",
    "illness_duration_value": "4",
    "illness_duration_unit": "weeks",
    "referred_by": "SENTINEL-REFERRER",
    "precipitating_factors": "SENTINEL-NARRATIVE",
    "precipitating_tags": "SENTINEL-TAG",
}
SECRETS = (
    "SENTINEL-PROBLEM",
    "SENTINEL-INFORMANT",
    "SENTINEL-REFERRER",
    "SENTINEL-NARRATIVE",
    "SENTINEL-TAG",
    "SENTINEL-NOTE",
    "SENTINEL-ONSET",
    "SENTINEL-TRIGGER",
    "sentinel.intake",
    "Sentinel Street",
    "1971-03-04",
    "412345678",
)
TABLES = ("intake_drafts", "intake_records", "patient_symptoms", "audit_events")


def assert_no_plaintext(app):
    for table in TABLES:
        for row in raw_rows(app, table):
            flat = " ".join(str(value) for value in row.values())
            leaked = [secret for secret in SECRETS if secret.lower() in flat.lower()]
            assert leaked == [], f"{table} holds {leaked}"


def test_the_intake_tables_hold_no_plaintext_while_drafting_or_after_submitting(app, tenants, receptionist, catalogue):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", SENTINEL_DEMOGRAPHICS)
    post_step(receptionist, draft_id, "presenting-problem", SENTINEL_PRESENTING)
    add_symptom(receptionist, draft_id, symptom_id=master_id(app, "MB24.5"))
    [key] = symptom_keys(receptionist.get(f"/intake/{draft_id}/symptoms").get_data(as_text=True))
    post_step(
        receptionist,
        draft_id,
        "symptoms",
        details(key, notes="SENTINEL-NOTE", onset_description="SENTINEL-ONSET", triggers="SENTINEL-TRIGGER"),
    )
    [draft] = raw_rows(app, "intake_drafts")
    assert draft["payload_enc"].startswith("v1:")
    assert_no_plaintext(app)

    submit_draft(receptionist, draft_id)
    [record] = raw_rows(app, "intake_records")
    for name in ("informants", "referred_by", "presenting_problem", "precipitating_factors", "precipitating_tags"):
        assert record[f"{name}_enc"].startswith("v1:"), name
    [symptom] = raw_rows(app, "patient_symptoms")
    for name in ("notes", "onset_description", "triggers"):
        assert symptom[f"{name}_enc"].startswith("v1:"), name
    assert_no_plaintext(app)


def test_api_intakes_are_stored_encrypted_too(app, tenants, catalogue):
    from tests.factories import access_token_for

    token = access_token_for(app, tenants.user("receptionist"))
    response = app.test_client().post(
        "/api/v1/intake/patients",
        json={
            "first_name": "Sentinel",
            "last_name": "Api",
            "presenting_problem": "SENTINEL-PROBLEM",
            "referred_by": "SENTINEL-REFERRER",
            "precipitating_factor": {"narrative": "SENTINEL-NARRATIVE", "tags": ["SENTINEL-TAG"]},
            "symptoms": [
                {
                    "symptom_id": master_id(app, "MB24.5"),
                    "symptom_source": "master",
                    "severity": "Moderate",
                    "frequency": "Daily",
                    "notes": "SENTINEL-NOTE",
                    "onset": "SENTINEL-ONSET",
                    "triggers": ["SENTINEL-TRIGGER"],
                }
            ],
        },
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "SENTINEL-NOTE-key"},
    )
    assert response.status_code == 201, response.get_json()
    assert_no_plaintext(app)


def test_every_encrypted_intake_column_is_registered_for_key_rotation():
    registered = {(c.model, c.attribute): c.field for c in crypto.ENCRYPTED_COLUMNS}
    expected = {(IntakeDraft, "payload_enc"): "intake_drafts.payload"}
    expected |= {
        (IntakeRecord, f"{name}_enc"): f"intake_records.{name}"
        for name in ("informants", "referred_by", "presenting_problem", "precipitating_factors", "precipitating_tags")
    }
    expected |= {
        (PatientSymptom, f"{name}_enc"): f"patient_symptoms.{name}"
        for name in ("notes", "onset_description", "triggers")
    }
    assert {key: registered.get(key) for key in expected} == expected
    for model in (IntakeDraft, IntakeRecord, PatientSymptom):
        encrypted = {column.name for column in model.__table__.columns if column.name.endswith("_enc")}
        assert encrypted == {attribute for (m, attribute) in expected if m is model}


def test_key_rotation_re_encrypts_intake_values(app, tenants, receptionist, catalogue):
    from clinic_app.core.key_rotation import pending_count
    from tests.intake.conftest import fill_draft

    open_draft = start_draft(receptionist)
    post_step(receptionist, open_draft, "demographics", SENTINEL_DEMOGRAPHICS)
    patient_id = submit_draft(receptionist, fill_draft(receptionist, app))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["keys", "rotate", "--wait"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        current = crypto.vault_for(tenants.a.id).current.id
        for table in ("intake_records", "patient_symptoms", "intake_drafts"):
            for row in raw_rows(app, table):
                for name, value in row.items():
                    if name.endswith("_enc") and value is not None:
                        assert value.startswith(f"v1:{current}:"), (table, name)
        assert pending_count() == 0
        summary = service.summary_for(tenants.a.id, patient_id)
        assert summary.record.presenting_problem == "Low mood since winter"
        assert summary.symptoms[0].notes == "SENTINEL-SYMPTOM-NOTE"
        draft = service.get_draft(tenants.a.id, open_draft)
        assert service.draft_answers(draft).demographics["first_name"] == "Sentinel"
        assert not audit.verify_chains()[1]


def test_the_migration_merges_both_branches_into_one_head():
    root = Path(__file__).resolve().parents[2] / "migrations"
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root))
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1  # later migrations build on it; the history never forks again
    revision = scripts.get_revision("6f3d4b8a0c04")
    assert set(revision.down_revision) == {"4d1b2f6e8a02", "5e2c3a7f9b03"}


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    ours = ("intake_drafts", "intake_records", "patient_symptoms")
    assert [d for d in differences if any(name in repr(d) for name in ours)] == []
