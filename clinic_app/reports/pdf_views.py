"""PDF download and verification routes (pages and JSON). Thin: parse, call `verify`, answer.

Who may do what:

* Download a report's PDF (`/reports/<id>/pdf`, `/api/v1/reports/<id>/pdf`): `reports:export`
  (owners and clinicians). Everyone else gets 404, as for any clinical content.
* Verify a hash or a PDF (`/reports/verify`, `/api/v1/reports/verify`): any member of the
  organization (`organization:member`), receptionists and practice admins included: checking
  that a document someone hands in is a genuine signed report of the clinic is front-desk work,
  and the answer shows only the report's id, version, signer, signing time and hash, never its
  content. Only reports of the caller's current organization are ever confirmed.
"""

from __future__ import annotations

from flask import Response, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from pydantic import Field
from wtforms import StringField

from clinic_app.core.access import requires
from clinic_app.core.api import Schema, Timestamp, api_route
from clinic_app.core.errors import FieldError, Invalid, Unavailable, wants_json
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import put_errors, render_page
from clinic_app.reports import bp, verify

TAGS = ("reports",)


# --- download ---------------------------------------------------------------------------------


def _pdf_response(exported: verify.ExportedPdf) -> Response:
    response = make_response(exported.content)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response.headers["X-Content-SHA256"] = exported.sha256
    return response


@bp.get("/reports/<report_id>/pdf")
@requires("reports:export", hide=True)
def download_pdf(report_id: str) -> ResponseReturnValue:
    try:
        exported = verify.export_pdf(current_organization_id(), report_id, actor=current_actor())
    except Unavailable as error:
        if wants_json():
            raise
        # A page that says what is wrong and that the report is fine, rather than a bare 503.
        return render_template("reports/pdf/unavailable.html", detail=error.detail, report_id=report_id), 503
    return _pdf_response(exported)


@api_route(
    bp,
    "/api/v1/reports/<report_id>/pdf",
    summary="Download a report as PDF",
    description=(
        "The report rendered as an A4 PDF (`application/pdf`). A signed report carries its signature "
        "block and content hash; a draft carries a 'Draft — not signed' banner. Every download is "
        "recorded (the SHA-256 of the bytes, also sent as `X-Content-SHA256`) so the file can be "
        "verified later with `POST /api/v1/reports/verify`."
    ),
    tags=TAGS,
    extra_statuses={409: "The report has no draft yet", 503: "PDF rendering is unavailable on this server"},
)
@requires("reports:export", hide=True)
def api_download_pdf(report_id: str) -> Response:
    return _pdf_response(verify.export_pdf(current_organization_id(), report_id, actor=current_actor()))


# --- verification: page -----------------------------------------------------------------------


class VerifyForm(FlaskForm):
    """Paste a hash or upload a PDF (one of the two). Only parses: `verify` decides."""

    sha256 = StringField("SHA-256 hash", render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 200})
    file = FileField("Report PDF", render_kw={"accept": "application/pdf,.pdf"})


def _verify_page(form: VerifyForm, result: verify.Verification | None = None, status: int = 200) -> ResponseReturnValue:
    html = render_page("reports/verify.html", "reports/_verify_panel.html", form=form, result=result)
    return html, status


@bp.get("/reports/verify")
@requires("organization:member")
def verify_page() -> ResponseReturnValue:
    return _verify_page(VerifyForm())


@bp.post("/reports/verify")
@requires("organization:member")
def verify_submit() -> ResponseReturnValue:
    form = VerifyForm()
    if not form.validate_on_submit():  # only the CSRF token can fail here
        return _verify_page(form, status=400 if form.errors.get("csrf_token") else 422)
    upload = form.file.data
    organization_id, actor = current_organization_id(), current_actor()
    try:
        if upload is not None and getattr(upload, "filename", ""):
            result = verify.verify_pdf(organization_id, upload.read(verify.MAX_PDF_BYTES + 1), actor=actor)
        elif (form.sha256.data or "").strip():
            result = verify.verify_hash(organization_id, form.sha256.data, actor=actor)
        else:
            raise Invalid(errors=[FieldError("sha256", "Paste a hash or choose a PDF file to check.")])
    except Invalid as error:
        put_errors(form, error.errors, fallback="sha256")
        return _verify_page(form, status=422)
    return _verify_page(VerifyForm(formdata=None), result)


# --- verification: JSON -----------------------------------------------------------------------


class ReportVerificationIn(Schema):
    """Exactly one of `sha256` (a hash to check) and `pdf_base64` (the PDF's bytes, base64)."""

    sha256: str | None = Field(default=None, max_length=200, description="A SHA-256 hash: 64 hexadecimal characters")
    pdf_base64: str | None = Field(
        default=None, description="The PDF file, base64-encoded (at most 10 MB before encoding)"
    )


class VerifiedReport(Schema):
    id: str
    version: int
    signed_at: Timestamp | None
    signed_by: str | None
    content_sha256: str | None


class ReportVerificationOut(Schema):
    verified: bool
    message: str
    sha256: str = Field(description="The hash that was checked (of the PDF's bytes, for an upload)")
    method: str | None = Field(description="pdf, export_hash or content_hash when verified")
    report: VerifiedReport | None
    claimed_report_id: str | None = Field(description="The report id a rejected PDF's metadata names, if any")


def _out(result: verify.Verification) -> ReportVerificationOut:
    report = None
    if result.verified and result.report_id is not None:
        report = VerifiedReport(
            id=result.report_id,
            version=result.report_version or 1,
            signed_at=result.signed_at,
            signed_by=result.signed_by,
            content_sha256=result.content_sha256,
        )
    return ReportVerificationOut(
        verified=result.verified,
        message=result.message,
        sha256=result.sha256,
        method=result.method,
        report=report,
        claimed_report_id=result.claimed_report_id,
    )


def _decode_pdf(encoded: str) -> bytes:
    import base64
    import binascii

    if len(encoded) > (verify.MAX_PDF_BYTES * 4) // 3 + 8:
        raise Invalid(errors=[FieldError("pdf_base64", "The file is larger than 10 MB; report PDFs are far smaller.")])
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(errors=[FieldError("pdf_base64", "This is not valid base64.")]) from None


@api_route(
    bp,
    "/api/v1/reports/verify",
    summary="Verify a report hash or PDF",
    description=(
        "Checks a hash (`sha256`) or a PDF (`pdf_base64`) against the signed reports of the caller's "
        "organization. Verified: the PDF's bytes match a copy exported while the report was signed, or "
        "the hash is such a copy's hash or a signed report's content hash. Anything else answers "
        "`verified: false` with the reason (a modified PDF that still names its report says which). "
        "Any member of the organization may verify; no report content is returned."
    ),
    methods=("POST",),
    body=ReportVerificationIn,
    response=ReportVerificationOut,
    tags=TAGS,
)
@requires("organization:member")
def api_verify(body: ReportVerificationIn) -> ReportVerificationOut:
    organization_id, actor = current_organization_id(), current_actor()
    if (body.sha256 is None) == (body.pdf_base64 is None):
        message = "Send exactly one of sha256 and pdf_base64."
        raise Invalid(errors=[FieldError("sha256", message), FieldError("pdf_base64", message)])
    if body.pdf_base64 is not None:
        data = _decode_pdf(body.pdf_base64)
        try:
            return _out(verify.verify_pdf(organization_id, data, actor=actor))
        except Invalid as error:
            raise Invalid(errors=[FieldError("pdf_base64", e.message) for e in error.errors]) from None
    return _out(verify.verify_hash(organization_id, body.sha256 or "", actor=actor))
