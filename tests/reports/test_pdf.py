"""The report PDF: what it shows (read back with pypdf), signed against draft, the signing time in
the organization's time zone (across daylight-saving changes), byte-for-byte determinism whatever
the clock says, metadata that names the report, nothing fetched while rendering, and a clear 503
when WeasyPrint cannot run."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from pypdf import PdfReader

from clinic_app.core.errors import Unavailable
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.reports import pdf
from clinic_app.reports import service as reports
from clinic_app.reports.document import ReportDocument
from clinic_app.reports.models import Report
from tests.reports.test_verify import download, make_report

HASH = hashlib.sha256(b"canonical report content").hexdigest()
SIGNED_AT = datetime(2026, 11, 27, 3, 4, 5, tzinfo=UTC)


def signed_document(**changes: object) -> ReportDocument:
    document = ReportDocument(
        organization_name="Harbour Physiotherapy",
        organization_address="1 Harbour Street, Sydney NSW 2000",
        letterhead_lines=("Phone 02 9000 1234",),
        report_id="rep_PdfTestReport0000001",
        version=1,
        title="Physiotherapy consultation",
        status="signed",
        patient_name="Matilda Quokka",
        patient_identifiers=(("Date of birth", "1980-02-03"), ("Patient id", "pat_PdfTestPatient000001")),
        session_code="CS-20261127-ABCDEFGH",
        session_date="27 Nov 2026",
        clinician_name="Dr Casey Clinician",
        sections=(
            ("Presenting complaint", "<p>Right knee pain after a <strong>netball</strong> game.</p>"),
            ("Assessment", "<ul><li>Swelling around the medial joint line</li></ul>"),
            ("Plan", "<p>Quadriceps strengthening; review in two weeks.</p>"),
        ),
        signed_by="Dr Casey Clinician",
        signed_at=SIGNED_AT,
        content_sha256=HASH,
        amends=None,
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


def draft_document(**changes: object) -> ReportDocument:
    return signed_document(status="draft", signed_by=None, signed_at=None, content_sha256=None, **changes)


def text_of(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_signed_report_shows_the_patient_sections_signature_and_full_hash():
    content = pdf.render_pdf(signed_document())
    assert content.startswith(b"%PDF-")
    text = flat(text_of(content))
    for expected in (
        "Harbour Physiotherapy",
        "1 Harbour Street, Sydney NSW 2000",
        "Matilda Quokka",
        "1980-02-03",
        "pat_PdfTestPatient000001",
        "CS-20261127-ABCDEFGH",
        "Physiotherapy consultation",
        "Presenting complaint",
        "Right knee pain after a netball game.",
        "Swelling around the medial joint line",
        "Quadriceps strengthening; review in two weeks.",
        "Electronically signed by Dr Casey Clinician on 27 Nov 2026, 03:04 UTC",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert HASH in text.replace(" ", "")  # all 64 characters, however the line wraps
    assert "Draft" not in text


def test_a_draft_carries_the_not_signed_banner_and_no_hash():
    text = flat(text_of(pdf.render_pdf(draft_document())))
    assert "Draft — not signed" in text
    assert "DRAFT — NOT SIGNED" in text  # repeated in the page margin
    assert "Electronically signed" not in text
    assert "SHA-256" not in text
    # A report marked signed but without its hash is printed as a draft, never as signed.
    half = flat(text_of(pdf.render_pdf(signed_document(content_sha256=None))))
    assert "Draft — not signed" in half and "Electronically signed" not in half


def test_an_amendment_names_the_report_it_amends():
    text = flat(text_of(pdf.render_pdf(signed_document(version=2, amends="rep_TheOriginalReport00001"))))
    assert "this version amends report rep_TheOriginalReport00001" in text
    assert "Version 2" in text


def test_the_metadata_names_the_report_and_its_hash_with_dates_from_the_signature():
    info = PdfReader(io.BytesIO(pdf.render_pdf(signed_document()))).metadata
    assert info[pdf.info_key(pdf.META_REPORT_ID)] == "rep_PdfTestReport0000001"
    assert info[pdf.info_key(pdf.META_VERSION)] == "1"
    assert info[pdf.info_key(pdf.META_STATUS)] == "signed"
    assert info[pdf.info_key(pdf.META_CONTENT_SHA256)] == HASH
    assert info["/CreationDate"] == info["/ModDate"] == "D:20261127030405Z"
    assert "Matilda" not in repr(dict(info))  # the patient's name stays out of the file's properties

    draft = PdfReader(io.BytesIO(pdf.render_pdf(draft_document()))).metadata
    assert draft[pdf.info_key(pdf.META_REPORT_ID)] == "rep_PdfTestReport0000001"
    assert draft[pdf.info_key(pdf.META_STATUS)] == "draft"
    assert pdf.info_key(pdf.META_CONTENT_SHA256) not in draft
    assert "/CreationDate" not in draft


def test_the_same_document_gives_the_same_bytes_whatever_the_clock():
    with time_machine.travel(datetime(2027, 1, 1, 9, 0, tzinfo=UTC), tick=False):
        first = pdf.render_pdf(signed_document())
        first_draft = pdf.render_pdf(draft_document())
    with time_machine.travel(datetime(2031, 6, 30, 23, 59, tzinfo=UTC), tick=False):
        second = pdf.render_pdf(signed_document())
        second_draft = pdf.render_pdf(draft_document())
    assert first == second
    assert first_draft == second_draft
    assert first != first_draft
    assert pdf.render_pdf(signed_document(patient_name="Another Person")) != first


def test_text_from_the_document_is_escaped_not_interpreted():
    text = flat(text_of(pdf.render_pdf(signed_document(patient_name="Ann <b>Bold</b> & Co"))))
    assert "Ann <b>Bold</b> & Co" in text


class _Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    _Counter.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rendering_fetches_nothing_even_when_a_section_links_resources(local_server, tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    sections = (
        (
            "Linked",
            f'<p>Image:<img src="{local_server}/image.png" alt="remote image"></p>'
            f'<link rel="stylesheet" href="{local_server}/style.css">'
            f'<img src="file://{secret}" alt="local file">'
            f'<p style="background: url({local_server}/background.png)">Styled</p>',
        ),
    )
    content = pdf.render_pdf(signed_document(sections=sections))
    assert content.startswith(b"%PDF-")
    assert _Counter.hits == []

    import weasyprint

    fetcher = pdf.offline_fetcher(weasyprint)
    for url in (f"{local_server}/x.css", f"file://{secret}", "https://example.org/font.woff"):
        with pytest.raises(pdf.OfflineOnly):
            fetcher.fetch(url)
    assert _Counter.hits == []
    assert fetcher.fetch("data:text/plain,inline").read() == b"inline"


def test_a_missing_renderer_is_reported_not_crashed(monkeypatch):
    assert pdf.available() is True
    assert pdf.unavailable_reason() is None
    monkeypatch.setattr(pdf, "_weasyprint", lambda: (None, "OSError: cannot load library 'libpango-1.0-0'"))
    assert pdf.available() is False
    assert "libpango" in (pdf.unavailable_reason() or "")
    with pytest.raises(Unavailable) as raised:
        pdf.render_pdf(signed_document())
    assert raised.value.status == 503
    assert "not available" in raised.value.detail


# --- the signing time in the organization's time zone ----------------------------------------

# Sydney leaves daylight saving at 03:00 AEDT on Sunday 5 April 2026 (16:00 UTC the day before)
# and enters it at 02:00 AEST on Sunday 4 October 2026 (16:00 UTC the day before).
SYDNEY_TIMES = [
    (datetime(2026, 11, 23, 14, 5, tzinfo=UTC), "24 Nov 2026, 01:05 AEDT (UTC+11:00)"),
    (datetime(2026, 4, 4, 15, 30, tzinfo=UTC), "05 Apr 2026, 02:30 AEDT (UTC+11:00)"),
    (datetime(2026, 4, 4, 16, 30, tzinfo=UTC), "05 Apr 2026, 02:30 AEST (UTC+10:00)"),
    (datetime(2026, 10, 3, 15, 30, tzinfo=UTC), "04 Oct 2026, 01:30 AEST (UTC+10:00)"),
    (datetime(2026, 10, 3, 16, 30, tzinfo=UTC), "04 Oct 2026, 03:30 AEDT (UTC+11:00)"),
]


@pytest.mark.parametrize(("signed_at", "expected"), SYDNEY_TIMES)
def test_the_signing_time_is_printed_in_the_organizations_time_zone_across_daylight_saving(signed_at, expected):
    content = pdf.render_pdf(signed_document(signed_at=signed_at, time_zone="Australia/Sydney"))
    text = flat(text_of(content))
    assert f"Electronically signed by Dr Casey Clinician on {expected}." in text
    assert " UTC." not in text
    # The metadata dates keep the signing time in UTC, with their own offset.
    info = PdfReader(io.BytesIO(content)).metadata
    assert info["/CreationDate"] == info["/ModDate"] == "D:" + signed_at.strftime("%Y%m%d%H%M%S") + "Z"


def test_the_local_signing_time_text_for_other_zones():
    moment = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
    assert pdf.local_time_text(moment, "UTC") == "23 Nov 2026, 14:05 UTC"
    assert pdf.local_time_text(moment, "Australia/Adelaide") == "24 Nov 2026, 00:35 ACDT (UTC+10:30)"
    assert pdf.local_time_text(moment, "Europe/London") == "23 Nov 2026, 14:05 GMT (UTC+00:00)"
    assert pdf.local_time_text(moment, "America/New_York") == "23 Nov 2026, 09:05 EST (UTC-05:00)"
    # A zone whose abbreviation is only its offset shows the offset once.
    assert pdf.local_time_text(moment, "America/Sao_Paulo") == "23 Nov 2026, 11:05 (UTC-03:00)"
    # An empty or unknown zone prints UTC rather than failing the download.
    assert pdf.local_time_text(moment, "") == "23 Nov 2026, 14:05 UTC"
    assert pdf.local_time_text(moment, "Mars/Olympus_Mons") == "23 Nov 2026, 14:05 UTC"
    assert pdf.local_time_text(moment, "../etc/passwd") == "23 Nov 2026, 14:05 UTC"


def test_a_local_time_pdf_is_the_same_bytes_whatever_the_clock_or_the_servers_zone(monkeypatch):
    sydney = signed_document(signed_at=datetime(2026, 4, 4, 16, 30, tzinfo=UTC), time_zone="Australia/Sydney")
    with time_machine.travel(datetime(2027, 1, 1, 9, 0, tzinfo=UTC), tick=False):
        first = pdf.render_pdf(sydney)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        with time_machine.travel(datetime(2031, 6, 30, 23, 59, tzinfo=UTC), tick=False):
            second = pdf.render_pdf(sydney)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert first == second
    # The zone is part of what is printed: the same report for a UTC clinic differs.
    assert pdf.render_pdf(dataclasses.replace(sydney, time_zone="UTC")) != first


def test_a_sydney_clinics_download_prints_the_signing_time_in_sydney(app, tenants, login_as):
    with app.app_context():
        db.session.get(Organization, tenants.a.id).time_zone = "Australia/Sydney"
        db.session.commit()
    # Signed at 02:30 on the night Sydney leaves daylight saving: the second 02:30, in AEST.
    with time_machine.travel(datetime(2026, 4, 4, 16, 30, 15, tzinfo=UTC), tick=False):
        report_id = make_report(app, tenants.a, tenants.user("clinician"))
    with app.app_context():
        document = reports.document_for(db.session.get(Report, report_id))
    assert document.time_zone == "Australia/Sydney"

    client = login_as("clinician")
    first, second = download(client, report_id), download(client, report_id)
    assert first == second
    text = flat(text_of(first))
    assert "on 05 Apr 2026, 02:30 AEST (UTC+10:00)." in text
    assert PdfReader(io.BytesIO(first)).metadata["/CreationDate"] == "D:20260404163015Z"
