"""`flask keys rotate` on 10,000 patients: keys re-wrapped under the new master key, every value
re-encrypted under a new data key, every record still decrypts; a corrupted value is skipped and
counted, never fatal; running the job again changes nothing."""

import os

from sqlalchemy import func, select, text

from clinic_app.core import crypto
from clinic_app.core.key_rotation import pending_count
from clinic_app.extensions import db
from clinic_app.mfa import totp
from clinic_app.mfa.models import TotpFactor
from clinic_app.patients.models import ENCRYPTED_FIELDS, Patient
from clinic_app.patients.storage import view_of
from devtools.scale.patients import seed_scale
from tests.factories import make_org

PATIENTS = 10_000


def test_rotation_over_ten_thousand_patients(app):
    runner = app.test_cli_runner()
    with app.app_context():
        organization = make_org("Harbour Physiotherapy")
        db.session.commit()
        organization_id = organization.id
        assert seed_scale(organization_id, PATIENTS, seed=3) == PATIENTS
        before = {row.id: row.email_enc for row in db.session.scalars(select(Patient))}
        old_key = crypto.vault_for(organization_id).current.id
        victim = next(iter(before))
        db.session.execute(
            text("UPDATE patients SET notes_enc = :bad WHERE id = :id"), {"bad": "v1:key_gone:AAAA", "id": victim}
        )
        db.session.commit()

    # A new master key becomes current; the old one stays configured until the rotation is done.
    old_master = app.config["FIELD_ENCRYPTION_KEYS"]
    app.config["FIELD_ENCRYPTION_KEYS"] = {"k2": os.urandom(32), **old_master}
    result = runner.invoke(args=["keys", "rotate", "--wait"])
    assert result.exit_code == 0, result.output
    assert "Job succeeded" in result.output

    # The old master key can now be retired: nothing needs it any more.
    app.config["FIELD_ENCRYPTION_KEYS"] = {"k2": app.config["FIELD_ENCRYPTION_KEYS"]["k2"]}
    crypto.forget_unwrapped_keys()
    with app.app_context():
        keys = db.session.scalars(select(crypto.OrganizationKey)).all()
        assert {key.master_key_id for key in keys} == {"k2"}
        vault = crypto.vault_for(organization_id)
        assert vault.current.id != old_key
        assert pending_count() == 1  # only the corrupted value, which could not be re-encrypted
        patients = db.session.scalars(select(Patient)).all()
        assert len(patients) == PATIENTS
        unreadable = 0
        for patient in patients:
            assert patient.email_enc != before[patient.id]
            for name in ENCRYPTED_FIELDS:
                stored = getattr(patient, f"{name}_enc")
                if stored is not None and patient.id != victim:
                    assert stored.startswith(f"v1:{vault.current.id}:")
            view = view_of(patient, vault)
            assert "@" in view.email and view.date_of_birth is not None
            unreadable += len(view.unreadable_fields)
        assert unreadable == 1  # only the corrupted notes
        job_result = db.session.execute(text("SELECT result FROM jobs ORDER BY created_at DESC LIMIT 1")).scalar()
        assert '"unreadable": 1' in str(job_result).replace("'", '"')

    # Rotating again (a resumed or repeated run) still leaves every record readable.
    again = runner.invoke(args=["keys", "rotate", "--wait"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Patient)) == PATIENTS
        assert pending_count() == 1
    crypto.forget_unwrapped_keys()


def test_rotation_reseals_authenticator_keys_so_the_old_master_key_can_go(app, tenants):
    """An authenticator app set up under the old master key still signs in after the rotation
    with only the new key configured; a sealed value that does not open is left, not fatal."""
    person, other = tenants.user("clinician"), tenants.user("receptionist")
    with app.app_context():
        secret = totp.start_enrolment(db.session.get(type(person), person.id)).secret
        totp.start_enrolment(db.session.get(type(other), other.id))
        db.session.execute(
            text("UPDATE totp_factors SET secret_sealed = 'm1:gone:AAAA' WHERE user_id = :id"), {"id": other.id}
        )
        db.session.commit()
        old_sealed = db.session.scalar(select(TotpFactor.secret_sealed).where(TotpFactor.user_id == person.id))

    old_master = app.config["FIELD_ENCRYPTION_KEYS"]
    app.config["FIELD_ENCRYPTION_KEYS"] = {"k2": os.urandom(32), **old_master}
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--wait"])
    assert result.exit_code == 0, result.output
    app.config["FIELD_ENCRYPTION_KEYS"] = {"k2": app.config["FIELD_ENCRYPTION_KEYS"]["k2"]}
    crypto.forget_unwrapped_keys()
    with app.app_context():
        row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == person.id))
        assert row.secret_sealed != old_sealed and row.secret_sealed.startswith("m1:k2:")
        assert totp.unseal(totp.SEAL_PURPOSE, person.id, row.secret_sealed).decode() == secret
        broken = db.session.scalar(select(TotpFactor.secret_sealed).where(TotpFactor.user_id == other.id))
        assert broken == "m1:gone:AAAA"
