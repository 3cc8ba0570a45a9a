"""A report as an A4 PDF, rendered by WeasyPrint from `templates/reports/pdf/report.html`.

Promises:

* **Deterministic**: the same `ReportDocument` always gives the same bytes. Nothing in the output
  depends on the clock or the server's time zone (the PDF creation and modification dates are the
  signing time in UTC; an unsigned draft carries none; the printed signing time is in the
  document's `time_zone`), and the PDF has no random file identifier. Fonts are subset by HarfBuzz
  (`libharfbuzz-subset0`, installed by `.ci/run` and the Dockerfile); without it WeasyPrint falls
  back to fontTools, which stamps the current time into each embedded font, so the bytes then
  differ from one second to the next (the PDF still renders, and verification still works, since
  it compares against the bytes actually exported).
* **Offline**: rendering never fetches anything. The template needs no external resource (fonts
  come from the system through fontconfig), and the URL fetcher refuses every URL except inline
  `data:` ones, so an image or stylesheet address inside a section's HTML is skipped, not fetched.
* **Self-describing**: the report id, version, status and content hash are in the PDF's document
  information dictionary (`ReportId`, `ReportVersion`, `ReportStatus`, `ContentSha256`), so the
  verification page can name the report a modified file claims to be.

WeasyPrint needs Pango (and HarfBuzz, fontconfig) from the system. Importing it fails with
`OSError` when they are missing; `available()` reports that instead of letting a download answer 500.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clinic_app.config import PROJECT_ROOT
from clinic_app.core.errors import Unavailable
from clinic_app.core.time import in_zone, zone_named
from clinic_app.reports.document import ReportDocument

log = logging.getLogger("clinic_app.reports.pdf")

TEMPLATE_DIR = PROJECT_ROOT / "templates" / "reports" / "pdf"
# Custom <meta> names; WeasyPrint writes each into the PDF's document information dictionary
# under the name without its punctuation (see `info_key`), e.g. /clinicreportid.
META_REPORT_ID = "clinic-report-id"
META_VERSION = "clinic-report-version"
META_STATUS = "clinic-report-status"
META_CONTENT_SHA256 = "clinic-content-sha256"
CREATOR = "Clinic app"

UNAVAILABLE_DETAIL = (
    "PDF export is not available on this server: the PDF renderer's system libraries (Pango) are "
    "not installed. Ask your administrator to install them; the report itself is unaffected."
)


class OfflineOnly(Exception):
    """A URL the renderer was asked to fetch; rendering never goes to the network or the disk."""


def info_key(meta_name: str) -> str:
    """The key a custom <meta> name gets in the PDF's document information dictionary."""
    return "/" + "".join(char for char in meta_name if char.isascii() and char.isalnum())


@cache
def _weasyprint() -> tuple[Any, str | None]:
    """The weasyprint module, or (None, why not). Cached: the libraries do not appear at run time."""
    try:
        import weasyprint
    except (OSError, ImportError) as error:  # missing system libraries, or the package itself
        log.warning("PDF renderer unavailable", extra={"event": "pdf_unavailable", "reason": str(error)})
        return None, f"{type(error).__name__}: {error}"
    return weasyprint, None


def available() -> bool:
    """True when WeasyPrint and its system libraries load; see `unavailable_reason()` otherwise."""
    return _weasyprint()[0] is not None


def unavailable_reason() -> str | None:
    """Why PDF rendering is unavailable (for logs and the operator), or None when it works."""
    return _weasyprint()[1]


def offline_fetcher(weasyprint: Any) -> Any:
    """A WeasyPrint URL fetcher that serves inline `data:` URLs and refuses everything else."""

    class OfflineFetcher(weasyprint.URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False)

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise OfflineOnly(f"the PDF renderer does not fetch {url[:80]!r}")
            return super().fetch(url, headers)

    return OfflineFetcher()


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _pdf_date(moment: datetime) -> str:
    # W3C date-time, which WeasyPrint turns into the PDF's D:YYYYMMDDHHmmSS+00'00'.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time_text(moment: datetime, time_zone: str | None) -> str:
    """``moment`` as a reader in ``time_zone`` reads it, with the zone's abbreviation and UTC
    offset: "24 Nov 2026, 01:05 AEDT (UTC+11:00)". In UTC just "23 Nov 2026, 14:05 UTC"; a zone
    whose only abbreviation is its offset ("-03") shows the offset once: "... 11:05 (UTC-03:00)"."""
    local = in_zone(moment, zone_named(time_zone))  # UTC when the name is empty or unknown
    offset_minutes = round((local.utcoffset() or timedelta(0)).total_seconds() / 60)
    hours, minutes = divmod(abs(offset_minutes), 60)
    offset = f"UTC{'-' if offset_minutes < 0 else '+'}{hours:02d}:{minutes:02d}"
    abbreviation = local.tzname() or ""
    when = local.strftime("%d %b %Y, %H:%M")
    if abbreviation == "UTC" and offset == "UTC+00:00":
        return f"{when} UTC"
    if not abbreviation or abbreviation[0] in "+-":
        return f"{when} ({offset})"
    return f"{when} {abbreviation} ({offset})"


def render_html(document: ReportDocument) -> str:
    """The HTML the PDF is rendered from (also handy to look at in a test). The signing time is
    printed in the organization's time zone (``document.time_zone``); the metadata dates in UTC."""
    signed_at = document.signed_at.astimezone(UTC) if document.signed_at else None
    return (
        _templates()
        .get_template("report.html")
        .render(
            doc=document,
            signed=document.is_signed,
            signed_at_text=local_time_text(signed_at, document.time_zone) if signed_at else None,
            pdf_date=_pdf_date(signed_at) if signed_at else None,
            meta={
                META_REPORT_ID: document.report_id,
                META_VERSION: str(document.version),
                META_STATUS: "signed" if document.is_signed else document.status,
                **({META_CONTENT_SHA256: document.content_sha256} if document.is_signed else {}),
            },
            creator=CREATOR,
        )
    )


def render_pdf(document: ReportDocument) -> bytes:
    """The report as PDF bytes: deterministic for the same document, nothing fetched.

    Raises `Unavailable` (503) when WeasyPrint's system libraries are missing.
    """
    weasyprint = _weasyprint()[0]
    if weasyprint is None:
        raise Unavailable(UNAVAILABLE_DETAIL, reason="pdf_renderer_unavailable")
    html = weasyprint.HTML(string=render_html(document), base_url=None, url_fetcher=offline_fetcher(weasyprint))
    # custom_metadata writes the <meta> names above into the document information dictionary;
    # pdf_identifier=None leaves out the file identifier (which would otherwise vary).
    return html.write_pdf(custom_metadata=True, pdf_identifier=None)
