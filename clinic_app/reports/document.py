"""What a printed report shows: a plain, decrypted snapshot handed to the PDF renderer.

`reports.service.document_for(report)` builds it (the caller audits the read); `pdf.render_pdf`
turns it into bytes. Keeping it a frozen dataclass of plain values means the renderer never
touches the database, and the same document always renders to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ReportDocument:
    """One report as it is printed.

    `sections` hold (title, HTML) pairs whose HTML was rendered from Markdown and sanitised by
    the reports service; the renderer inserts it as is. `signed_at` is timezone-aware UTC or
    None for an unsigned report (then the PDF carries a "Draft — not signed" banner).
    `time_zone` is the organization's IANA time zone name ("Australia/Sydney"); the signing time
    is printed in it (UTC when it is empty or unknown). The PDF's metadata dates stay in UTC.
    The ``signer_*`` fields are the signer's professional details recorded when they signed
    (discipline, "AHPRA PSY0001234567", the signature block's lines); None when there were none.
    """

    organization_name: str
    organization_address: str | None
    letterhead_lines: tuple[str, ...]
    report_id: str
    version: int
    title: str
    status: str
    patient_name: str
    patient_identifiers: tuple[tuple[str, str], ...]
    session_code: str | None
    session_date: str | None
    clinician_name: str | None
    sections: tuple[tuple[str, str], ...]
    signed_by: str | None
    signed_at: datetime | None
    content_sha256: str | None
    amends: str | None
    time_zone: str = "UTC"
    signer_discipline: str | None = None
    signer_registration: str | None = None
    signer_signature_block: str | None = None

    @property
    def is_signed(self) -> bool:
        """True when the report carries a signature (signer, time and content hash)."""
        return self.signed_at is not None and bool(self.content_sha256)
