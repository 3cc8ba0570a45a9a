"""The "Activity and sleep" section of the patient page: who sees what (a receptionist nothing but
whether data exists, a practice admin what a clinician sees; another organization 404 everywhere),
uploading example_01.AWD through the form (the eager job runs when the request commits) and reading
the actogram, the nights and the circadian cards; a malformed file's message; delete with
confirmation; the sleep diary's validation; re-analysing and insights. Every view, upload, analysis
and deletion leaves an audit row."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.health_data import analyses, service
from clinic_app.health_data.series import Series
from tests.factories import page_csrf, sign_in
from tests.health_data.conftest import EXAMPLE_01, register_patient, table_rows

HTMX = {"HX-Request": "true"}


def actions(app, patient_id):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.patient_id == patient_id)).all()
        return [row.action for row in rows]


def post(client, url, data=None, **kwargs):
    return client.post(url, data={"csrf_token": page_csrf(client, "/account"), **(data or {})}, **kwargs)


def upload(client, patient_id, content, *, name="example_01.AWD", file_format="awd", htmx=True):
    data = {"file": (io.BytesIO(content), name), "file_format": file_format, "algorithm": "cole_kripke"}
    return post(
        client,
        f"/patients/{patient_id}/health-data/uploads",
        data,
        content_type="multipart/form-data",
        headers=HTMX if htmx else {},
    )


def stored_series(app, tenants, patient_id, days=3, channel="activity_counts"):
    """A small recording stored through the service (a day-night rhythm), analysed; returns ids."""
    values = []
    for minute in range(days * 1440):
        hour = (minute // 60) % 24
        values.append(0.0 if hour < 6 else float(200 + (minute % 7) * 10))
    with app.app_context():
        actor = audit.Actor(user_id=tenants.user("clinician").id)
        series = Series(datetime(2024, 3, 4, 0, 0), timedelta(minutes=1), values)
        upload = service.record_series(tenants.a.id, patient_id, series, channel=channel, actor=actor)
        analysis = analyses.create_analysis(upload, channel=channel, algorithm="cole_kripke", actor=actor)
        analyses.run_analysis(tenants.a.id, analysis.id)
        db.session.commit()
        return upload.id, analysis.id


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a)


def section_urls(patient_id, upload_id, analysis_id):
    base = f"/patients/{patient_id}/health-data"
    return [
        ("GET", base),
        ("POST", f"{base}/uploads"),
        ("GET", f"{base}/uploads/{upload_id}/progress"),
        ("POST", f"{base}/uploads/{upload_id}/analyse"),
        ("POST", f"{base}/uploads/{upload_id}/delete"),
        ("GET", f"{base}/analyses/{analysis_id}/progress"),
        ("POST", f"{base}/analyses/{analysis_id}/insights"),
        ("POST", f"{base}/diary"),
    ]


def test_practice_admins_see_the_section_like_clinicians(app, tenants, login_as, patient_id):
    stored_series(app, tenants, patient_id)
    page = login_as("admin").get(f"/patients/{patient_id}").get_data(as_text=True)
    for shown in ("data-health-upload-form", "Interdaily", "<svg", "data-health-uploads"):
        assert shown in page
    assert "health_data.analysis_viewed" in actions(app, patient_id)


def test_the_front_desk_sees_only_that_data_exists(app, tenants, login_as, patient_id):
    client = login_as("receptionist")
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert 'id="patient-health"' in page and "data-health-none" in page and "No wearable data" in page

    upload_id, analysis_id = stored_series(app, tenants, patient_id)
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "Wearable data on file" in page and "data-health-exists" in page
    for hidden in ("data-health-upload-form", "Interdaily", "<svg", "data-nights", "data-health-uploads", "Re-analyse"):
        assert hidden not in page
    for method, url in section_urls(patient_id, upload_id, analysis_id):
        response = post(client, url) if method == "POST" else client.get(url)
        assert response.status_code == 404, (method, url)
    assert "health_data.analysis_viewed" not in actions(app, patient_id)


def test_another_organization_gets_404_on_every_route(app, tenants, login_as, patient_id):
    upload_id, analysis_id = stored_series(app, tenants, patient_id)
    outsider = login_as("outsider")
    for method, url in section_urls(patient_id, upload_id, analysis_id):
        for headers in ({}, HTMX):
            response = post(outsider, url, headers=headers) if method == "POST" else outsider.get(url, headers=headers)
            assert response.status_code == 404, (method, url, headers)
            assert "Okafor" not in response.get_data(as_text=True)
    assert len(table_rows(app, "health_uploads")) == 1  # nothing written, nothing deleted


def test_clinician_uploads_example_01_and_reads_the_analysis(app, tenants, login_as, patient_id, example_01):
    client = login_as("clinician")
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-health-upload-form" in page and 'hx-encoding="multipart/form-data"' in page
    assert "data-health-empty" in page

    response = upload(client, patient_id, EXAMPLE_01.read_bytes())
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="health-upload"' in fragment
    assert 'hx-trigger="every 1s"' in fragment and "data-health-progress" in fragment  # rendered before the job ran
    upload_id = table_rows(app, "health_uploads")[0]["id"]

    # The eager job ran when the request committed: the next poll brings the whole section.
    poll = client.get(f"/patients/{patient_id}/health-data/uploads/{upload_id}/progress", headers=HTMX)
    assert poll.status_code == 200
    assert poll.headers["HX-Retarget"] == "#health-data" and poll.headers["HX-Trigger"] == "health-data-changed"
    assert 'hx-trigger="every 1s"' not in poll.get_data(as_text=True)

    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert re.search(r'<svg[^>]*role="img"', page) and '<title id="health-actogram-title">Actogram' in page
    assert '<desc id="health-actogram-desc">14 days of 1-minute activity counts' in page
    assert page.count('<tr data-night="') == 10
    assert 'data-field="total_sleep_minutes">11 h 31 min<' in page  # 691 minutes, the first night
    assert 'data-field="sleep_efficiency">94.1 %<' in page
    is_card = re.search(r'data-card="interdaily_stability">.*?data-card-value>([^<]+)<', page, re.S)
    assert is_card and is_card.group(1) == "0.5277"
    assert "How alike the days are" in page
    iv_card = re.search(r'data-card="intradaily_variability">.*?data-card-value>([^<]+)<', page, re.S)
    assert iv_card and iv_card.group(1) == "0.3291"
    assert "worn 85 % of the time" in page and "12.8 days recorded" in page
    assert "data-proxy" not in page
    assert "Insights are drafts for clinicians" in page and "data-generate-insights" in page
    assert "example_01.AWD" in page  # the clinician sees the file's name in the uploads list

    done = actions(app, patient_id)
    assert "health_data.uploaded" in done and "health_data.analysis_requested" in done
    assert "health_data.analysis_viewed" in done  # showing the analysis is a read of PHI


def test_the_form_works_without_javascript(app, tenants, login_as, patient_id, example_01):
    client = login_as("clinician")
    response = upload(client, patient_id, EXAMPLE_01.read_bytes(), htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/patients/{patient_id}#patient-health")
    upload_id = table_rows(app, "health_uploads")[0]["id"]
    progress = client.get(f"/patients/{patient_id}/health-data/uploads/{upload_id}/progress")
    assert progress.status_code == 303 and progress.headers["Location"].endswith("#patient-health")

    missing = post(client, f"/patients/{patient_id}/health-data/uploads", {"file_format": "awd"})
    assert missing.status_code == 422
    assert "<html" in missing.get_data(as_text=True) and "Choose a file to upload." in missing.get_data(as_text=True)


def test_section_is_one_url_with_a_page_and_a_fragment(app, tenants, login_as, patient_id):
    stored_series(app, tenants, patient_id)
    client = login_as("clinician")
    page = client.get(f"/patients/{patient_id}/health-data")
    fragment = client.get(f"/patients/{patient_id}/health-data", headers=HTMX)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    assert "HX-Request" in page.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    assert 'id="health-data"' in fragment.get_data(as_text=True)


def test_a_malformed_file_names_the_line_and_keeps_nothing(app, tenants, login_as, patient_id):
    client = login_as("clinician")
    content = b"Mia\n04-Mar-2024\n08:00\n 4 \n40\nV000001\nX\n12\n15\nnot-a-count\n20\n"
    assert upload(client, patient_id, content, name="broken.AWD").status_code == 200
    [row] = table_rows(app, "health_uploads")
    assert row["status"] == "failed" and "Line 10" in row["error"]
    assert table_rows(app, "health_series_blocks") == []

    poll = client.get(f"/patients/{patient_id}/health-data/uploads/{row['id']}/progress", headers=HTMX)
    text = poll.get_data(as_text=True)
    assert poll.status_code == 200 and "data-health-failed" in text and "Line 10" in text
    assert 'hx-trigger="every 1s"' not in text
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-upload-error" in page and "Line 10" in page
    assert "health_data.import_failed" in actions(app, patient_id)


def test_delete_asks_first_then_removes_the_rows(app, tenants, login_as, patient_id):
    upload_id, _ = stored_series(app, tenants, patient_id)
    client = login_as("clinician")
    url = f"/patients/{patient_id}/health-data/uploads/{upload_id}/delete"
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'hx-post="{url}"' in page and "hx-confirm=" in page

    asked = post(client, url)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Delete health data" in text and 'name="confirmed" value="yes"' in text
    assert len(table_rows(app, "health_series_blocks")) > 0 and len(table_rows(app, "health_analyses")) == 1

    deleted = post(client, url, {"confirmed": "yes"})
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith("#patient-health")
    for table in ("health_uploads", "health_series_blocks", "health_analyses"):
        assert table_rows(app, table) == [], table
    assert "health_data.deleted" in actions(app, patient_id)
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-health-empty" in page and "No wearable data" not in page  # clinicians see the form instead


def test_delete_with_htmx_answers_the_refreshed_section(app, tenants, login_as, patient_id):
    upload_id, _ = stored_series(app, tenants, patient_id)
    client = login_as("clinician")
    url = f"/patients/{patient_id}/health-data/uploads/{upload_id}/delete"
    response = post(client, url, {"confirmed": "yes"}, headers=HTMX)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in text and "data-health-notice" in text
    assert response.headers["HX-Trigger"] == "health-data-changed"
    assert table_rows(app, "health_uploads") == []


def test_the_sleep_diary_validates_and_records_a_night(app, tenants, login_as, patient_id):
    client = login_as("clinician")
    url = f"/patients/{patient_id}/health-data/diary"
    backwards = post(client, url, {"in_bed_start": "2024-03-05T23:00", "in_bed_end": "2024-03-05T07:00"}, headers=HTMX)
    text = backwards.get_data(as_text=True)
    assert backwards.status_code == 422 and "<html" not in text and 'id="health-diary"' in text
    assert "must come after the time into bed" in text and 'aria-invalid="true"' in text
    blank = post(client, url, {"in_bed_start": "", "in_bed_end": "2024-03-06T07:00"})
    assert blank.status_code == 422 and "Give a date and a time." in blank.get_data(as_text=True)
    assert table_rows(app, "health_uploads") == []

    good = post(client, url, {"in_bed_start": "2024-03-05T23:00", "in_bed_end": "2024-03-06T07:00"})
    assert good.status_code == 303
    [row] = table_rows(app, "health_uploads")
    assert row["kind"] == "diary" and row["status"] == "completed"
    assert "Sleep diary night" in client.get(f"/patients/{patient_id}").get_data(as_text=True)


def test_re_analysing_with_another_algorithm(app, tenants, login_as, patient_id):
    upload_id, _ = stored_series(app, tenants, patient_id)
    client = login_as("clinician")
    response = post(client, f"/patients/{patient_id}/health-data/uploads/{upload_id}/analyse", {"algorithm": "sadeh"})
    assert response.status_code == 303
    rows = table_rows(app, "health_analyses")
    assert len(rows) == 2 and {r["algorithm"] for r in rows} == {"cole_kripke", "sadeh"}
    assert all(r["status"] == "completed" for r in rows)
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "sleep scored with Sadeh 1994" in page
    unknown = post(client, f"/patients/{patient_id}/health-data/uploads/{upload_id}/analyse", {"algorithm": "x"})
    assert unknown.status_code == 422 and len(table_rows(app, "health_analyses")) == 2


def test_step_counts_are_labelled_a_proxy(app, tenants, login_as, patient_id):
    stored_series(app, tenants, patient_id, channel="steps")
    page = login_as("clinician").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-proxy>Step counts — a proxy<" in page and analyses.PROXY_NOTE in page
    assert "days of 1-minute step counts" in page  # the actogram says what it draws


def test_an_analysis_in_progress_is_polled_until_it_is_done(app, tenants, login_as, patient_id):
    upload_id, _ = stored_series(app, tenants, patient_id)
    with app.app_context():
        upload = service.get_upload(tenants.a.id, upload_id)
        actor = audit.Actor(user_id=tenants.user("clinician").id)
        queued = analyses.create_analysis(upload, channel="activity_counts", algorithm="oakley", actor=actor)
        db.session.commit()
        analysis_id = queued.id
    client = login_as("clinician")
    url = f"/patients/{patient_id}/health-data/analyses/{analysis_id}/progress"
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'hx-get="{url}"' in page and 'hx-trigger="every 1s"' in page  # the newest analysis is still queued
    waiting = client.get(url, headers=HTMX)
    assert waiting.status_code == 200 and "Waiting to start" in waiting.get_data(as_text=True)
    assert "HX-Retarget" not in waiting.headers
    assert "<html" in client.get(url).get_data(as_text=True)  # without htmx, a page with a link to check again

    with app.app_context():
        analyses.run_analysis(tenants.a.id, analysis_id)
        db.session.commit()
    finished = client.get(url, headers=HTMX)
    assert finished.headers["HX-Retarget"] == "#health-data" and "sleep scored with Oakley" in finished.get_data(
        as_text=True
    )


def test_files_larger_than_other_requests_are_accepted_on_the_upload_route(make_app, tenants, patient_id):
    small = make_app(MAX_CONTENT_LENGTH=4096)
    client = small.test_client()
    assert sign_in(client, tenants.user("clinician").email).status_code == 303
    assert len(EXAMPLE_01.read_bytes()) > 16 * 4096
    assert upload(client, patient_id, EXAMPLE_01.read_bytes()).status_code == 200
    [row] = table_rows(small, "health_uploads")
    assert row["status"] == "completed"
    notes = {"in_bed_start": "2024-03-05T23:00", "in_bed_end": "2024-03-06T07:00", "padding": "x" * 8000}
    assert post(client, f"/patients/{patient_id}/health-data/diary", notes).status_code == 413


def test_generating_insights_shows_the_statements_and_the_narrative(app, tenants, login_as, patient_id, example_01):
    client = login_as("clinician")
    upload(client, patient_id, EXAMPLE_01.read_bytes())
    [analysis] = table_rows(app, "health_analyses")
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-insights-empty" in page and "Insights are drafts for clinicians" in page

    url = f"/patients/{patient_id}/health-data/analyses/{analysis['id']}/insights"
    response = post(client, url, headers=HTMX)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in text and response.headers["HX-Retarget"] == "#health-data"
    assert 'data-statement="rhythm_regular"' in text  # IS 0.53 is above the 0.4 convention
    assert "(value 0.528, threshold 0.4)" in text
    assert "data-narrative" in text and "the offline rules" in text and "data-insights-empty" not in text
    assert len(table_rows(app, "health_insights")) == 1
    assert "health_data.insight_generated" in actions(app, patient_id)

    again = post(client, url)  # without JavaScript: back to the chart
    assert again.status_code == 303 and again.headers["Location"].endswith("#patient-health")
    assert len(table_rows(app, "health_insights")) == 2


def test_a_failed_reanalysis_keeps_the_last_completed_one_on_show(app, tenants, login_as, patient_id):
    upload_id, analysis_id = stored_series(app, tenants, patient_id)
    with app.app_context():
        upload = service.get_upload(tenants.a.id, upload_id)
        failed = analyses.create_analysis(upload, channel="activity_counts", algorithm="oakley", actor=audit.Actor())
        failed.status, failed.error = "failed", "The analysis stopped before it finished; run it again."
        db.session.commit()
    page = login_as("clinician").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-analysis-failed" in page and "stopped before it finished" in page
    assert "data-earlier-analysis" in page and f'data-analysis="{analysis_id}"' in page and "<svg" in page
