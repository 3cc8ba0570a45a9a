"""The health-data services against the database: uploads stored encrypted in day blocks, files
imported by the job (all or nothing), analyses, deletion that really deletes, and no value in the
database dump or the logs."""

import io
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.core.jobs import Job
from clinic_app.core.logging import JSONFormatter
from clinic_app.extensions import db
from clinic_app.health_data import analyses, blocks, imports, queries, service
from clinic_app.health_data.metrics import HealthMetric
from clinic_app.health_data.models import HealthSeriesBlock
from clinic_app.health_data.series import Series
from tests.health_data.conftest import EXAMPLE_01, raw_dump, register_patient, table_rows
from tests.health_data.test_apple_health import HR, RECORDS, export_text, rec

SENTINEL_BPM = 187.4321
SUBJECT = "Quillon Vantasseur"  # a name in an AWD header


def _actor(tenants):
    return audit.Actor(user_id=tenants.user("clinician").id)


def _logs(caplog):
    formatter = JSONFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def _upload_file(app, tenants, patient_id, data: bytes, file_format, filename="upload.bin", algorithm="cole_kripke"):
    with app.app_context():
        upload = service.receive_file(
            tenants.a.id,
            patient_id,
            io.BytesIO(data),
            filename=filename,
            file_format=file_format,
            actor=_actor(tenants),
            algorithm=algorithm,
        )
        db.session.commit()  # the eager job runs once this commits
        return upload.id


def _state(app, tenants, upload_id):
    with app.app_context():
        upload = service.get_upload(tenants.a.id, upload_id)
        analysis = analyses.latest_for_patient(tenants.a.id, upload.patient_id)
        result = analyses.result_of(analysis) if analysis else None
        return upload.status, service.error_message(upload), upload.sample_count, result


def _awd_bytes(subject=SUBJECT, days=8):
    lines = [subject, "04-Mar-2024", "21:00", " 4", "00", "V123456", "X"]
    for minute in range(days * 1440):
        hour = (21 + minute // 60) % 24
        # asleep 00:00-07:00 with a small movement every 13 minutes (a still wrist, not a removed one)
        night = (3 if minute % 13 == 0 else 0) if hour < 7 else None
        lines.append(f"{night if night is not None else 180 + (minute * 37) % 400} , 12")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_metrics_are_stored_encrypted_read_back_and_audited(app, tenants, caplog):
    caplog.set_level(logging.DEBUG)
    patient = register_patient(app, tenants.a)
    metric = HealthMetric.model_validate(
        {
            "metric_type": "heart_rate",
            "biometric_data": {"heart_rate": SENTINEL_BPM},
            "created_at": "2024-05-01T08:00:00",
        }
    )
    with app.app_context():
        received = service.record_metrics(tenants.a.id, patient, [metric], actor=_actor(tenants), sync_token="t-1")
        db.session.commit()
        upload_id = received.upload.id
        again = service.record_metrics(tenants.a.id, patient, [metric], actor=_actor(tenants), sync_token="t-1")
        assert again.repeated and again.upload.id == upload_id
        _, values = queries.upload_values(tenants.a.id, upload_id, actor=_actor(tenants), channel="api")
        db.session.commit()
    assert values[0]["biometric_data"]["heart_rate"] == SENTINEL_BPM
    assert len(table_rows(app, "health_uploads")) == 1
    blocks_rows = table_rows(app, "health_series_blocks", upload_id=upload_id)
    assert len(blocks_rows) == 1 and blocks_rows[0]["values_enc"].startswith("v1:")
    sentinel = str(SENTINEL_BPM)
    assert sentinel not in raw_dump(app)
    assert sentinel not in _logs(caplog)
    actions = [e["action"] for e in table_rows(app, "audit_events", target_id=upload_id)]
    assert "health_data.uploaded" in actions and "health_data.viewed" in actions


def test_another_organizations_patient_and_upload_are_not_found(app, tenants):
    theirs = register_patient(app, tenants.b)
    ours = register_patient(app, tenants.a)
    metric = HealthMetric.model_validate({"metric_type": "blood_glucose", "biometric_data": {"blood_glucose": 90}})
    with app.app_context():
        with pytest.raises(NotFound):
            service.record_metrics(tenants.a.id, theirs, [metric], actor=_actor(tenants))
        upload = service.record_metrics(tenants.a.id, ours, [metric], actor=_actor(tenants)).upload
        db.session.commit()
        with pytest.raises(NotFound):
            service.get_upload(tenants.b.id, upload.id)
        with pytest.raises(NotFound):
            service.delete_upload(tenants.b.id, upload.id, actor=audit.Actor())


def test_an_awd_file_is_imported_and_analysed_and_its_header_name_is_not_kept(app, tenants, caplog, example_01):
    caplog.set_level(logging.DEBUG)
    patient = register_patient(app, tenants.a)
    upload_id = _upload_file(app, tenants, patient, _awd_bytes(), "awd", filename="visit.awd")
    status, error, samples, result = _state(app, tenants, upload_id)
    assert (status, error, samples) == ("completed", None, 8 * 1440)
    assert result["input"]["channel"] == "activity_counts" and not result["input"]["proxy"]
    assert len(result["sleep_metrics"]["nights"]) >= 6
    assert result["circadian_rhythm"]["interdaily_stability"] > 0.9  # identical days
    assert SUBJECT.lower() not in raw_dump(app).lower()
    assert SUBJECT.lower() not in _logs(caplog).lower()
    assert not list(Path(app.config["HEALTH_UPLOAD_DIR"]).glob("*.sealed"))


def test_the_public_example_recording_matches_pyactigraphy(app, tenants, example_01):
    patient = register_patient(app, tenants.a)
    upload_id = _upload_file(app, tenants, patient, EXAMPLE_01.read_bytes(), "awd")
    status, _, _, result = _state(app, tenants, upload_id)
    assert status == "completed"
    rhythm = result["circadian_rhythm"]
    assert rhythm["interdaily_stability"] == pytest.approx(0.527656245354158, abs=1e-9)
    assert rhythm["intradaily_variability"] == pytest.approx(0.32913524895082263, abs=1e-9)
    assert rhythm["counts"]["interdaily_stability"] == pytest.approx(0.46561431150973936, abs=1e-9)
    assert rhythm["counts"]["intradaily_variability"] == pytest.approx(0.7095292983583361, abs=1e-9)


def _steps_over(first_day: datetime, days: int) -> list[str]:
    step = "HKQuantityTypeIdentifierStepCount"
    out = []
    for day in range(days):
        for hour in range(8, 21):
            start = first_day + timedelta(days=day, hours=hour)
            end = start + timedelta(minutes=10)
            out.append(rec(step, f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}", str(300 + hour)))
    return out


def test_apple_health_nights_equal_a_hand_count(app, tenants):
    patient = register_patient(app, tenants.a)
    records = [*RECORDS, *_steps_over(datetime(2024, 2, 28), 6)]
    upload_id = _upload_file(app, tenants, patient, export_text(records).encode(), "apple_health")
    status, error, _, result = _state(app, tenants, upload_id)
    assert (status, error) == ("completed", None)
    assert result["input"]["proxy"] is True and "proxy" in result["proxy_note"]
    assert result["sleep_metrics"]["in_bed_source"] == "sleep_analysis_records"
    first, second = result["sleep_metrics"]["nights"]
    # night of 1 March: in bed 23:00-07:00; asleep 23:20-03:00 and 03:10-06:40 (stages overlap)
    assert (first["in_bed_start"], first["in_bed_end"]) == ("2024-03-01T23:00:00", "2024-03-02T07:00:00")
    assert first["time_in_bed_minutes"] == 480
    assert first["total_sleep_minutes"] == 220 + 210
    assert first["sleep_onset_latency_minutes"] == 20
    assert first["waso_minutes"] == 10 and first["awakenings"] == 1
    assert first["sleep_efficiency"] == pytest.approx(430 / 480)
    # night of 2 March: asleep 22:30-06:00, no in-bed record: the asleep span is the night
    assert second["total_sleep_minutes"] == 450 and second["sleep_efficiency"] == 1


def test_a_corrupt_export_fails_naming_the_line_and_leaves_nothing(app, tenants):
    patient = register_patient(app, tenants.a)
    records = [*_steps_over(datetime(2024, 2, 28), 3), rec(HR, "2024-03-01 08:05:00", "2024-03-01 08:05:00", "fast")]
    upload_id = _upload_file(app, tenants, patient, export_text(records).encode(), "apple_health")
    status, error, samples, _ = _state(app, tenants, upload_id)
    line = 7 + len(records)  # the bad record is the last one
    assert status == "failed" and error.startswith(f"Line {line}:") and "not a number" in error
    assert samples == 0
    # the whole message quotes the cell, so it is kept encrypted; the plain column names the line only
    (row,) = table_rows(app, "health_uploads")
    assert row["error"] == f"Line {line}: the file is malformed." and "fast" not in raw_dump(app)
    assert table_rows(app, "health_series_blocks") == []
    assert table_rows(app, "health_analyses") == []
    with app.app_context():
        job = db.session.scalars(db.select(Job).where(Job.kind == service.IMPORT_KIND)).one()
        assert job.status == "failed"


def test_a_truncated_zip_fails_and_leaves_nothing(app, tenants):
    patient = register_patient(app, tenants.a)
    upload_id = _upload_file(app, tenants, patient, b"PK\x03\x04 broken", "apple_health")
    status, error, _, _ = _state(app, tenants, upload_id)
    assert status == "failed" and error
    assert table_rows(app, "health_series_blocks") == []


def test_deleting_an_upload_removes_its_values_and_analyses_from_the_tables(app, tenants):
    patient = register_patient(app, tenants.a)
    upload_id = _upload_file(app, tenants, patient, _awd_bytes(days=3), "awd")
    assert table_rows(app, "health_series_blocks", upload_id=upload_id)
    assert table_rows(app, "health_analyses", upload_id=upload_id)
    with app.app_context():
        service.delete_upload(tenants.a.id, upload_id, actor=_actor(tenants))
        db.session.commit()
    assert table_rows(app, "health_series_blocks") == []
    assert table_rows(app, "health_analyses") == []
    assert table_rows(app, "health_uploads") == []
    deleted = table_rows(app, "audit_events", action="health_data.deleted")
    assert len(deleted) == 1 and deleted[0]["target_id"] == upload_id


def test_a_file_still_importing_cannot_be_deleted(make_app, tenants):
    app = make_app(JOBS_BACKEND="thread")
    patient = register_patient(app, tenants.a)
    with app.app_context():
        upload = service.receive_file(
            tenants.a.id, patient, io.BytesIO(b"x"), filename="a.csv", file_format="plain_csv", actor=_actor(tenants)
        )
        upload.status = "processing"
        with pytest.raises(Conflict):
            service.delete_upload(tenants.a.id, upload.id, actor=_actor(tenants))
        assert service.sealed_path(upload).exists()
        db.session.rollback()  # the request failed: its sealed copy goes with the upload row
        assert not service.sealed_path(upload).exists()


def test_bad_file_requests_write_nothing(app, tenants):
    patient = register_patient(app, tenants.a)
    with app.app_context():
        with pytest.raises(Invalid):
            service.receive_file(
                tenants.a.id, patient, io.BytesIO(b""), filename="e", file_format="awd", actor=_actor(tenants)
            )
        db.session.rollback()
        with pytest.raises(Invalid):
            service.receive_file(
                tenants.a.id, patient, io.BytesIO(b"1"), filename="e", file_format="exe", actor=_actor(tenants)
            )
        db.session.rollback()
    assert table_rows(app, "health_uploads") == []
    assert not list(Path(app.config["HEALTH_UPLOAD_DIR"]).glob("*"))


def test_reading_a_fortnight_reads_only_that_patients_days(app, tenants):
    mine, other = register_patient(app, tenants.a), register_patient(app, tenants.a, first_name="Ola")
    start = datetime(2024, 1, 1)
    year = Series(start, timedelta(minutes=1), [float(i % 50) for i in range(60 * 24 * 60)])  # 60 days
    with app.app_context():
        for patient in (mine, other):
            service.record_series(tenants.a.id, patient, year, channel="activity_counts", actor=_actor(tenants))
        db.session.commit()
        read = blocks._blocks(
            tenants.a.id,
            mine,
            ["activity_counts"],
            first_day=datetime(2024, 2, 1).date(),
            last_day=datetime(2024, 2, 14).date(),
        )
        assert len(read) == 14 and {b.patient_id for b in read} == {mine}
        total = db.session.scalar(db.select(db.func.count()).select_from(HealthSeriesBlock))
        assert total == 2 * 60


def test_a_diary_night_is_used_for_the_nights_of_the_next_analysis(app, tenants):
    patient = register_patient(app, tenants.a)
    upload_id = _upload_file(app, tenants, patient, _awd_bytes(days=3), "awd")
    with app.app_context():
        service.add_diary_night(
            tenants.a.id, patient, datetime(2024, 3, 5, 22, 0), datetime(2024, 3, 6, 7, 30), actor=_actor(tenants)
        )
        with pytest.raises(Invalid):
            service.add_diary_night(
                tenants.a.id, patient, datetime(2024, 3, 6, 7, 0), datetime(2024, 3, 6, 6, 0), actor=_actor(tenants)
            )
        analysis = analyses.request_analysis(
            tenants.a.id, service.get_upload(tenants.a.id, upload_id), algorithm="sadeh", actor=_actor(tenants)
        )
        db.session.commit()
        analysis_id = analysis.id
    with app.app_context():
        result = analyses.result_of(analyses.get_analysis(tenants.a.id, analysis_id))
    assert result["sleep_metrics"]["algorithm"] == "sadeh"
    assert result["sleep_metrics"]["in_bed_source"] == "recorded_in_bed"
    night = result["sleep_metrics"]["nights"][0]
    assert (night["in_bed_start"], night["in_bed_end"]) == ("2024-03-05T22:00:00", "2024-03-06T07:30:00")
    assert json.dumps(result)  # JSON-safe (no NaN)


def test_an_import_whose_worker_died_is_failed_and_its_partial_values_deleted(make_app, tenants):
    app = make_app(JOBS_BACKEND="thread")
    patient = register_patient(app, tenants.a)
    with app.app_context():
        upload = service.receive_file(
            tenants.a.id,
            patient,
            io.BytesIO(_awd_bytes(days=1)),
            filename="a.awd",
            file_format="awd",
            actor=_actor(tenants),
        )
        # what a worker killed half-way leaves: a checkpoint's blocks, the upload processing, the job
        # failed as stale by the jobs reaper
        upload.status = "processing"
        blocks.BlockWriter(upload).add_series(
            "activity_counts", Series(datetime(2024, 1, 1), timedelta(minutes=1), [1.0] * 10)
        )
        job = db.session.get(Job, upload.job_id)
        job.status = "failed"
        db.session.info.pop("jobs_to_dispatch", None)  # the worker is the one that died: nothing runs
        db.session.commit()
        upload_id = upload.id
        assert table_rows(app, "health_series_blocks", upload_id=upload_id)
        assert imports.reconcile_imports() == 1
        assert imports.reconcile_imports() == 0
    assert table_rows(app, "health_series_blocks", upload_id=upload_id) == []
    (row,) = table_rows(app, "health_uploads", id=upload_id)
    assert row["status"] == "failed" and "stopped" in row["error"] and row["file_key_enc"] is None


def test_an_analysis_whose_worker_died_is_failed(make_app, tenants):
    app = make_app(JOBS_BACKEND="thread")
    patient = register_patient(app, tenants.a)
    series = Series(datetime(2024, 1, 1), timedelta(minutes=1), [float(i % 30) for i in range(1440)])
    with app.app_context():
        upload = service.record_series(tenants.a.id, patient, series, channel="activity_counts", actor=_actor(tenants))
        analysis = analyses.request_analysis(tenants.a.id, upload, algorithm="cole_kripke", actor=_actor(tenants))
        db.session.info.pop("jobs_to_dispatch", None)  # the worker that took it died
        db.session.get(Job, analysis.job_id).status = "failed"  # as the stale-job reaper leaves it
        db.session.commit()
        analysis_id = analysis.id
        assert imports.reconcile_imports() == 1
        assert imports.reconcile_imports() == 0
    (row,) = table_rows(app, "health_analyses", id=analysis_id)
    assert row["status"] == "failed" and "stopped" in row["error"]
