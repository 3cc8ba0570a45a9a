"""An invoice as an A4 PDF, rendered by WeasyPrint from ``templates/billing/pdf/invoice.html``, as
reports are (docs/reports-pdf.md).

* **Byte-stable**: the same ``InvoiceDocument`` gives the same bytes. Nothing depends on the clock:
  the PDF's creation and modification dates are the issue time (a draft has none), and the file
  has no random identifier.
* **Offline**: the template needs nothing external, and the URL fetcher refuses everything but
  inline ``data:`` URLs.
* Without WeasyPrint's system libraries, ``render_pdf`` raises ``Unavailable`` (503).
"""

from __future__ import annotations

import logging
from datetime import UTC
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clinic_app.billing.document import InvoiceDocument
from clinic_app.billing.money import display
from clinic_app.config import PROJECT_ROOT
from clinic_app.core.errors import Unavailable

log = logging.getLogger("clinic_app.billing.pdf")

TEMPLATE_DIR = PROJECT_ROOT / "templates" / "billing" / "pdf"
UNAVAILABLE_DETAIL = (
    "PDF download is not available on this server: the PDF renderer's system libraries (Pango) are not installed."
)


@cache
def _weasyprint() -> Any:
    try:
        import weasyprint
    except (OSError, ImportError) as error:  # missing system libraries, or the package itself
        log.warning("PDF renderer unavailable", extra={"event": "pdf_unavailable", "reason": str(error)})
        return None
    return weasyprint


@cache
def _templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = display
    return environment


def render_html(document: InvoiceDocument) -> str:
    issued = document.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if document.issued_at else None
    return _templates().get_template("invoice.html").render(doc=document, pdf_date=issued)


def render_pdf(document: InvoiceDocument) -> bytes:
    """The invoice as PDF bytes. Raises Unavailable when WeasyPrint cannot load."""
    weasyprint = _weasyprint()
    if weasyprint is None:
        raise Unavailable(UNAVAILABLE_DETAIL, reason="pdf_renderer_unavailable")

    class OfflineFetcher(weasyprint.URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False)

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"the PDF renderer does not fetch {url[:80]!r}")
            return super().fetch(url, headers)

    html = weasyprint.HTML(string=render_html(document), base_url=None, url_fetcher=OfflineFetcher())
    return html.write_pdf(custom_metadata=True, pdf_identifier=None)
