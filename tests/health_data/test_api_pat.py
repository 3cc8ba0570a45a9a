"""The actigraphy ("PAT") and HealthKit JSON API for an API client: a synthetic week of minute counts
analysed to hand-derivable rhythm numbers, pyActigraphy's example_01.AWD matched to 1e-9 through
the API, step data labelled a proxy, validation (422, nothing written), 404 for other
organizations and weaker roles, deleting an analysed upload, the honest model information, and an
Apple Health export uploaded as a file: imported, summarised and analysed, or failed with the line
named and nothing kept; 413 over the size limit."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta

import pytest

from tests.factories import access_token_for
from tests.health_data.conftest import register_patient, table_rows

ANALYZE = "/api/v1/pat/analyze"
STEPS = "/api/v1/pat/analyze-step-data"
HEALTHKIT = "/api/v1/healthkit/upload"


@pytest.fixture
def bearer(app, tenants):
    def headers(role="clinician"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a)


def week(offset="", days=7):
    """Minute counts: 2 (still, but worn) from 23:00 to 07:00, 200-499 otherwise."""
    start = datetime(2024, 3, 4)
    points = []
    for minute in range(days * 1440):
        moment = start + timedelta(minutes=minute)
        still = moment.hour < 7 or moment.hour >= 23
        points.append({"timestamp": moment.isoformat() + offset, "value": 2 if still else 200 + (minute * 37) % 300})
    return points


def analysed(client, headers, path, body):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    result = client.get(accepted["analysis_url"], headers=headers)
    assert result.status_code == 200
    return accepted, result.get_json()


def test_a_week_of_minute_counts_gives_the_hand_derived_rhythm(app, client, bearer, patient_id):
    accepted, answer = analysed(client, bearer(), ANALYZE, {"patient_id": patient_id, "data_points": week()})
    assert list(accepted) == [
        "processing_id",
        "status",
        "message",
        "estimated_processing_time",
        "analysis_url",
        "upload_id",
        "job_id",
        "proxy",
    ]
    assert accepted["processing_id"].startswith("hda_") and accepted["status"] == "received"
    assert accepted["analysis_url"] == f"/api/v1/pat/analysis/{accepted['processing_id']}"
    assert accepted["proxy"] is False
    assert answer["processing_id"] == accepted["processing_id"] and answer["status"] == "completed"
    assert (answer["patient_id"], answer["upload_id"]) == (patient_id, accepted["upload_id"])
    assert answer["algorithm"] == "cole_kripke" and answer["proxy"] is False and answer["proxy_note"] is None
    assert answer["error"] is None and answer["completed_at"]
    analysis = answer["analysis"]
    assert list(analysis)[:5] == [
        "activity_patterns",
        "sleep_metrics",
        "circadian_rhythm",
        "feature_embeddings",
        "confidence_scores",
    ]
    rhythm = analysis["circadian_rhythm"]
    # Hourly sums are 0 for 8 h and 60 for 16 h of each day: IS = (24/23)/(168/167), IV = 14*9/336.
    assert rhythm["interdaily_stability"] == pytest.approx((24 / 23) / (168 / 167), abs=1e-12)
    assert rhythm["intradaily_variability"] == pytest.approx(0.375, abs=1e-12)
    assert (rhythm["l5"], rhythm["m10"], rhythm["relative_amplitude"]) == (0.0, 1.0, 1.0)
    assert (rhythm["l5_onset"], rhythm["m10_onset"]) == ("00:00", "07:00")
    assert rhythm["cosinor"]["acrophase_hours"] == pytest.approx(15.0, abs=0.1)
    assert len(analysis["feature_embeddings"]) == 24 and max(analysis["feature_embeddings"]) == 1.0
    assert analysis["confidence_scores"]["valid_wear_fraction"] == 1.0
    nights = analysis["sleep_metrics"]["nights"]
    assert len(nights) == 7 and all(n["sleep_efficiency"] == 1.0 for n in nights)
    assert analysis["input"]["channel"] == "activity_counts" and analysis["input"]["epochs"] == 7 * 1440
    viewed = [r for r in table_rows(app, "audit_events") if r["action"] == "health_data.analysis_viewed"]
    assert len(viewed) == 1


def test_example_01_through_the_api_matches_pyactigraphy(client, bearer, patient_id, example_01):
    series = example_01.series
    points = [
        {"timestamp": moment.isoformat(), "value": value}
        for moment, value in zip(series.timestamps(), series.values, strict=True)
        if value is not None
    ]
    _, answer = analysed(client, bearer(), ANALYZE, {"patient_id": patient_id, "data_points": points})
    assert answer["status"] == "completed", answer["error"]
    rhythm = answer["analysis"]["circadian_rhythm"]
    assert rhythm["interdaily_stability"] == pytest.approx(0.527656245354158, abs=1e-9)
    assert rhythm["intradaily_variability"] == pytest.approx(0.32913524895082263, abs=1e-9)
    assert rhythm["counts"]["interdaily_stability"] == pytest.approx(0.46561431150973936, abs=1e-9)
    assert rhythm["counts"]["intradaily_variability"] == pytest.approx(0.7095292983583361, abs=1e-9)


def test_step_data_is_labelled_a_proxy_and_keeps_the_recorded_clock(client, bearer, patient_id):
    body = {"patient_id": patient_id, "step_data": week(offset="+11:00"), "algorithm": "oakley"}
    accepted, answer = analysed(client, bearer(), STEPS, body)
    assert accepted["proxy"] is True and "proxy" in accepted["message"]
    assert answer["proxy"] is True and "proxy" in answer["proxy_note"] and answer["algorithm"] == "oakley"
    assert answer["analysis"]["input"]["proxy"] is True and answer["analysis"]["proxy_note"]
    rhythm = answer["analysis"]["circadian_rhythm"]
    assert rhythm["l5_onset"] == "00:00"  # the device's clock, not UTC (13:00) or the server's
    assert rhythm["cosinor"]["acrophase_hours"] == pytest.approx(15.0, abs=0.1)
    accepted_too = client.post(STEPS, json={"patient_id": patient_id, "data_points": week(days=1)}, headers=bearer())
    assert accepted_too.status_code == 202 and accepted_too.get_json()["proxy"] is True


def point(timestamp, value):
    return {"timestamp": timestamp, "value": value}


@pytest.mark.parametrize(
    ("path", "change", "field", "code"),
    [
        (ANALYZE, {"data_points": []}, "data_points", "TOO_SHORT"),
        (ANALYZE, {"data_points": [{"timestamp": "2024-03-04T00:00:00", "value": -1}]}, "data_points[0].value", None),
        (ANALYZE, {"data_points": [{"timestamp": "not a time", "value": 1}]}, "data_points[0].timestamp", None),
        (ANALYZE, {"data_points": [point("1800-01-01T00:00:00", 1)]}, "data_points[0].timestamp", None),
        (ANALYZE, {"sampling_rate": 0}, "sampling_rate", None),
        (ANALYZE, {"sampling_rate": 61}, "sampling_rate", None),
        (ANALYZE, {"sampling_rate": 2.0}, "sampling_rate", "UNSUPPORTED_SAMPLING_RATE"),
        (ANALYZE, {"algorithm": "pat-l"}, "algorithm", None),
        (
            ANALYZE,
            {"data_points": [point("2020-01-01T00:00:00", 1), point("2024-01-01T00:00:00", 1)]},
            "data_points",
            "SPAN_TOO_LONG",
        ),
        (STEPS, {"data_points": None}, "step_data", "MISSING"),
    ],
)  # fmt: skip
def test_bad_actigraphy_input_is_422_and_writes_nothing(app, client, bearer, patient_id, path, change, field, code):
    body = {"patient_id": patient_id, "data_points": week(days=1)[:60], **change}
    response = client.post(path, json=body, headers=bearer())
    assert response.status_code == 422, response.get_json()
    (error,) = response.get_json()["errors"]
    assert error["field"] == field and error["message"] and error["code"]
    assert code is None or error["code"] == code
    assert table_rows(app, "health_uploads") == [] and table_rows(app, "health_analyses") == []


def test_other_organizations_and_weaker_roles_get_404(app, client, bearer, tenants, patient_id):
    accepted, _ = analysed(client, bearer(), ANALYZE, {"patient_id": patient_id, "data_points": week(days=1)})
    for role in ("outsider", "receptionist"):
        assert client.get(accepted["analysis_url"], headers=bearer(role)).status_code == 404, role
        refused = client.post(
            ANALYZE, json={"patient_id": patient_id, "data_points": week(days=1)}, headers=bearer(role)
        )
        assert refused.status_code == 404, role
    assert len(table_rows(app, "health_uploads")) == 1
    # practice admins read wearable data and its analysis with the clinicians (issue 15)
    assert client.get(accepted["analysis_url"], headers=bearer("admin")).status_code == 200
    outsider_patient = register_patient(app, tenants.b, first_name="Nor")
    mine = client.post(ANALYZE, json={"patient_id": outsider_patient, "data_points": week(days=1)}, headers=bearer())
    assert mine.status_code == 404


def test_deleting_the_series_upload_removes_its_values_and_analyses(app, client, bearer, patient_id):
    accepted, _ = analysed(client, bearer(), ANALYZE, {"patient_id": patient_id, "data_points": week(days=2)})
    upload_id = accepted["upload_id"]
    assert table_rows(app, "health_series_blocks", upload_id=upload_id)
    assert table_rows(app, "health_analyses", upload_id=upload_id)
    assert client.delete(f"/api/v1/health-data/{upload_id}", headers=bearer()).status_code == 204
    assert table_rows(app, "health_series_blocks", upload_id=upload_id) == []
    assert table_rows(app, "health_analyses", upload_id=upload_id) == []
    assert client.get(accepted["analysis_url"], headers=bearer()).status_code == 404


def test_health_and_model_information_say_what_really_runs(client, bearer):
    assert client.get("/api/v1/pat/health").status_code == 401
    health = client.get("/api/v1/pat/health", headers=bearer("receptionist")).get_json()
    assert health["status"] == "healthy" and health["model_loaded"] is False
    info = client.get("/api/v1/pat/models/info", headers=bearer()).get_json()
    assert info["model"] is None and "No pretrained actigraphy transformer" in info["summary"]
    keys = [a["key"] for a in info["algorithms"]]
    assert keys == ["cole_kripke", "sadeh", "oakley", "nonwear", "circadian", "cosinor"]
    references = " ".join(a["reference"] for a in info["algorithms"])
    for cited in ("Cole RJ", "Webster JB", "Sadeh A", "Oakley NR", "Choi L", "Van Someren", "pyActigraphy 1.2.2"):
        assert cited in references, cited


# --- HealthKit files ---------------------------------------------------------------------------

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_AU">\n'
    ' <ExportDate value="2024-03-05 09:00:00 +1100"/>'
)


def record(kind, start, end, value, unit="count"):
    return (
        f' <Record type="HKQuantityTypeIdentifier{kind}" sourceName="Watch" unit="{unit}" '
        f'startDate="{start} +1100" endDate="{end} +1100" value="{value}"/>'
    )


def sleep(start, end, value):
    return (
        f' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Watch" startDate="{start} +1100" '
        f'endDate="{end} +1100" value="HKCategoryValueSleepAnalysis{value}"/>'
    )


def export_xml():
    lines = [HEAD]
    for day in ("2024-03-01", "2024-03-02"):
        for hour in range(8, 22):
            lines.append(record("StepCount", f"{day} {hour:02}:00:00", f"{day} {hour:02}:10:00", 400))
    for minute in ("05", "06", "07"):
        lines.append(record("HeartRate", f"2024-03-01 08:{minute}:00", f"2024-03-01 08:{minute}:00", 72, "count/min"))
    lines += [
        sleep("2024-03-01 23:00:00", "2024-03-02 07:00:00", "InBed"),  # 480 minutes in bed
        sleep("2024-03-01 23:20:00", "2024-03-02 03:00:00", "AsleepCore"),
        sleep("2024-03-02 03:10:00", "2024-03-02 06:40:00", "AsleepDeep"),
    ]
    return "\n".join([*lines, "</HealthData>"]) + "\n"


def send_file(client, headers, content, name, **fields):
    data = {"file": (io.BytesIO(content), name), **fields}
    return client.post(HEALTHKIT, data=data, headers=headers, content_type="multipart/form-data")


def zipped(text):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("apple_health_export/export.xml", text)
    return buffer.getvalue()


@pytest.mark.parametrize("as_zip", [False, True], ids=["export.xml", "export.zip"])
def test_an_apple_health_export_is_imported_summarised_and_analysed(app, client, bearer, patient_id, as_zip):
    content = zipped(export_xml()) if as_zip else export_xml().encode()
    response = send_file(client, bearer(), content, "export.zip" if as_zip else "export.xml", patient_id=patient_id)
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert list(accepted) == ["upload_id", "status", "job_id", "status_url", "message"]
    assert accepted["status"] == "received" and accepted["job_id"].startswith("job_")
    assert accepted["status_url"] == f"/api/v1/healthkit/upload-status/{accepted['upload_id']}"
    status = client.get(accepted["status_url"], headers=bearer()).get_json()  # the eager job has run
    assert (status["status"], status["progress"], status["error"]) == ("completed", 100, None)
    assert status["records"] == {"steps": 28, "heart_rate": 3, "in_bed": 1, "asleep": 2}
    assert status["rejected_records"] == 0 and status["analysis_id"].startswith("hda_")
    processing = client.get(f"/api/v1/health-data/processing/{accepted['upload_id']}", headers=bearer()).get_json()
    assert processing["kind"] == "file" and processing["file_format"] == "apple_health"
    assert processing["analysis_id"] == status["analysis_id"] and processing["job_id"] == accepted["job_id"]
    answer = client.get(status["analysis_url"], headers=bearer()).get_json()
    assert answer["status"] == "completed" and answer["proxy"] is True  # step counts
    sleep_metrics = answer["analysis"]["sleep_metrics"]
    assert sleep_metrics["in_bed_source"] == "sleep_analysis_records"
    (night,) = sleep_metrics["nights"]
    assert night["in_bed_start"] == "2024-03-01T23:00:00" and night["time_in_bed_minutes"] == 480
    for role in ("outsider", "receptionist"):
        assert client.get(accepted["status_url"], headers=bearer(role)).status_code == 404


def test_a_corrupt_export_fails_naming_the_line_and_keeps_nothing(app, client, bearer, patient_id):
    broken = export_xml().replace("</HealthData>\n", "").replace('value="72"/>', 'value="72"', 1)
    response = send_file(client, bearer(), broken.encode(), "export.xml", patient_id=patient_id)
    assert response.status_code == 202
    upload_id = response.get_json()["upload_id"]
    status = client.get(response.get_json()["status_url"], headers=bearer()).get_json()
    assert (status["status"], status["progress"], status["records"]) == ("failed", 100, {})
    assert status["error"].startswith("Line ") and status["message"] == "The import failed."
    assert table_rows(app, "health_series_blocks", upload_id=upload_id) == []
    assert table_rows(app, "health_analyses", upload_id=upload_id) == []


def test_file_uploads_are_bounded_and_checked(app, client, bearer, patient_id):
    missing = client.post(
        HEALTHKIT, data={"patient_id": patient_id}, headers=bearer(), content_type="multipart/form-data"
    )
    assert missing.status_code == 422 and [e["field"] for e in missing.get_json()["errors"]] == ["file"]
    unknown = send_file(client, bearer(), b"x", "a.bin", patient_id=patient_id, format="gpx")
    assert [e["code"] for e in unknown.get_json()["errors"]] == ["UNKNOWN_FORMAT"]
    assert client.post(HEALTHKIT, json={"patient_id": patient_id}, headers=bearer()).status_code == 415
    app.config["HEALTH_UPLOAD_MAX_BYTES"] = 2048
    too_big = send_file(client, bearer(), b"<" * 200_000, "export.xml", patient_id=patient_id)
    assert too_big.status_code == 413 and too_big.mimetype == "application/problem+json"
    assert table_rows(app, "health_uploads") == []
