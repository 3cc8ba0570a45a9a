"""Bootstrap without the UI: operators create organizations and users from the command line."""

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.core.permissions import markdown_table
from clinic_app.extensions import db
from clinic_app.health_data import analyses
from clinic_app.health_data.models import HealthAnalysis, HealthInsight, HealthUpload
from clinic_app.orgs.models import Membership, Organization
from tests.conftest import Path


def test_create_org_prints_its_id(app):
    result = app.test_cli_runner().invoke(args=["create-org", "Bayside Physio", "--time-zone", "Australia/Perth"])
    assert result.exit_code == 0, result.output
    organization_id = result.output.strip()
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        assert organization.name == "Bayside Physio" and organization.time_zone == "Australia/Perth"


def test_create_org_refuses_bad_input_clearly(app):
    result = app.test_cli_runner().invoke(args=["create-org", "Bayside", "--time-zone", "Mars/Olympus"])
    assert result.exit_code == 2
    assert "not a known time zone" in result.output
    with app.app_context():
        assert db.session.scalars(select(Organization)).all() == []


def test_create_user_reads_the_password_from_standard_input(app):
    runner = app.test_cli_runner()
    organization_id = runner.invoke(args=["create-org", "Bayside Physio"]).output.strip()
    result = runner.invoke(
        args=["create-user", "--org", organization_id, "--role", "admin", "--email", "Sam@Bayside.example"],
        input="a long bayside passphrase\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.email == "sam@bayside.example"
        assert user.password_hash.startswith("$argon2id$")
        membership = db.session.scalars(select(Membership)).one()
        assert (membership.organization_id, membership.role) == (organization_id, "admin")


def test_create_user_refuses_bad_input_and_writes_nothing(app):
    runner = app.test_cli_runner()
    organization_id = runner.invoke(args=["create-org", "Bayside Physio"]).output.strip()
    cases = [
        (["--org", organization_id, "--role", "admin", "--email", "sam@bayside.example"], "short\n", "at least 12"),
        (
            ["--org", organization_id, "--role", "admin", "--email", "not-an-email"],
            "a long bayside passphrase\n",
            "email",
        ),
        (
            ["--org", "org_missing", "--role", "admin", "--email", "sam@bayside.example"],
            "a long bayside passphrase\n",
            "No such organization",
        ),
        (["--org", organization_id, "--role", "admin", "--email", "sam@bayside.example"], "", "standard input"),
        (["--org", organization_id, "--role", "superuser", "--email", "sam@bayside.example"], "x\n", "Invalid value"),
    ]
    for args, stdin, message in cases:
        result = runner.invoke(args=["create-user", *args], input=stdin)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, result.output
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []


def test_demo_seed_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    assert first.exit_code == second.exit_code == 0
    assert "owner@harbour.example" in first.output
    with app.app_context():
        assert len(db.session.scalars(select(Organization)).all()) == 2
        assert len(db.session.scalars(select(User)).all()) == 5
        assert len(db.session.scalars(select(Membership)).all()) == 5
        # one demo patient's two weeks of actigraphy, analysed, with insights; added once only
        (upload,) = db.session.scalars(select(HealthUpload)).all()
        (analysis,) = db.session.scalars(select(HealthAnalysis)).all()
        assert upload.status == analysis.status == "completed" and analysis.epochs == 14 * 1440
        assert len(db.session.scalars(select(HealthInsight)).all()) == 1
        nights = analyses.result_of(analysis)["sleep_metrics"]["nights"]
        assert len(nights) >= 12


def test_permissions_doc_is_generated_from_the_code():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "permissions.md").read_text()
    assert markdown_table() in doc
