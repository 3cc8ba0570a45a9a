"""The page where a person edits their own professional profile in the current organization
(under their account). One URL, one view: the full page, or for htmx the form partial; a refused
save re-renders the form with each field's message (422), a saved one flashes and reloads."""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.accounts.models import User
from clinic_app.core.access import requires
from clinic_app.core.errors import FieldError, Forbidden, Invalid
from clinic_app.core.identity import current_identity
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, put_errors, render_page
from clinic_app.profiles import bp, service
from clinic_app.profiles.forms import ProfessionalProfileForm
from clinic_app.profiles.report_templates import template_choices

# Offered as suggestions; any body may be typed (only AHPRA's number format is checked).
REGISTRATION_BODIES = (
    "AHPRA",
    "Australian Association of Social Workers",
    "Australian Counselling Association",
    "Dietitians Australia",
    "Exercise & Sports Science Australia",
    "PACFA",
    "Speech Pathology Australia",
)


def _person() -> User:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("API tokens have no personal account.")
    return identity.user


def _form_errors(form: ProfessionalProfileForm, errors: list[FieldError]) -> None:
    # One box holds the qualifications, one per line: "qualifications.2" is its third line.
    on_form = []
    for error in errors:
        head, _, index = error.field.partition(".")
        if head == "qualifications" and index.isdigit():
            error = FieldError(head, f"Line {int(index) + 1}: {error.message}", error.code)
        on_form.append(error)
    put_errors(form, on_form)


@bp.route("/account/professional-profile", methods=["GET", "POST"])
@requires("organization:member")
def edit() -> ResponseReturnValue:
    user, organization_id = _person(), current_organization_id()
    view = service.get_profile(organization_id, user.id)
    saved = view.data
    form = ProfessionalProfileForm(
        data={
            "discipline": saved.discipline,
            "registration_body": saved.registration_body,
            "registration_number": saved.registration_number,
            "qualifications": "\n".join(saved.qualifications),
            "signature_block": saved.signature_block,
            "default_report_template_id": saved.default_report_template_id or "",
        }
    )
    form.default_report_template_id.choices = [
        ("", "The practice's default template"),
        *template_choices(organization_id),
    ]
    status = 200
    if request.method == "POST":
        try:
            service.update_profile(organization_id, user.id, form.changes(), actor=current_actor())
        except Invalid as error:
            _form_errors(form, error.errors)
            status = 422
        else:
            return done("Your professional profile was saved.", url_for("profiles.edit"))
    page = render_page(
        "profiles/profile.html", "profiles/_form.html", form=form, user=user, saved=saved, bodies=REGISTRATION_BODIES
    )
    return page, status
