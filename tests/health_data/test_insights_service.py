"""Insights as records: generated from a completed analysis, encrypted, audited, per organization."""

import io

import pytest

from clinic_app.core import audit
from clinic_app.core.errors import Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.health_data import analyses, service
from clinic_app.health_data.insights import service as insights
from tests.health_data.conftest import EXAMPLE_01, raw_dump, register_patient, table_rows


def _analysed(app, tenants, example_01):
    patient = register_patient(app, tenants.a)
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        service.receive_file(
            tenants.a.id, patient, io.BytesIO(EXAMPLE_01.read_bytes()), filename="x.awd", file_format="awd", actor=actor
        )
        db.session.commit()
    with app.app_context():
        return patient, analyses.latest_for_patient(tenants.a.id, patient).id, actor


def test_an_insight_cites_the_analysis_and_is_stored_encrypted(app, tenants, example_01):
    patient, analysis_id, actor = _analysed(app, tenants, example_01)
    with app.app_context():
        insight = insights.generate(tenants.a.id, analysis_id, actor=actor)
        db.session.commit()
        insight_id = insight.id
        assert insight.provider == "offline"
    with app.app_context():
        _, content = insights.view(tenants.a.id, insight_id, actor=actor, channel="api")
        ((_, again),) = insights.history(tenants.a.id, patient, actor=actor, channel="api")
        db.session.commit()
    assert again == content
    assert content["statements"] and content["narrative"]
    for statement in content["statements"]:
        assert {"code", "metric", "value", "threshold", "text"} <= statement.keys()
    (row,) = table_rows(app, "health_insights")
    assert row["content_enc"].startswith("v1:")
    assert content["narrative"][:40] not in raw_dump(app)
    actions = {e["action"] for e in table_rows(app, "audit_events", patient_id=patient)}
    assert {"health_data.insight_generated", "health_data.insight_viewed"} <= actions


def test_another_organization_sees_no_insight_and_no_history(app, tenants, example_01):
    patient, analysis_id, actor = _analysed(app, tenants, example_01)
    with app.app_context():
        insight_id = insights.generate(tenants.a.id, analysis_id, actor=actor).id
        db.session.commit()
        with pytest.raises(NotFound):
            insights.generate(tenants.b.id, analysis_id, actor=audit.Actor())
        with pytest.raises(NotFound):
            insights.view(tenants.b.id, insight_id, actor=audit.Actor(), channel="api")
        with pytest.raises(NotFound):
            insights.history(tenants.b.id, patient, actor=audit.Actor(), channel="api")


def test_an_unfinished_analysis_has_no_insight_and_deleting_the_upload_removes_them(app, tenants, example_01):
    _patient, analysis_id, actor = _analysed(app, tenants, example_01)
    with app.app_context():
        insights.generate(tenants.a.id, analysis_id, actor=actor)
        analysis = analyses.get_analysis(tenants.a.id, analysis_id)
        upload_id = analysis.upload_id
        pending = analyses.create_analysis(
            service.get_upload(tenants.a.id, upload_id), channel="activity_counts", algorithm="oakley", actor=actor
        )
        with pytest.raises(Invalid):
            insights.generate(tenants.a.id, pending.id, actor=actor)
        db.session.commit()
        service.delete_upload(tenants.a.id, upload_id, actor=actor)
        db.session.commit()
    assert table_rows(app, "health_insights") == []
    assert table_rows(app, "health_analyses") == []
