"""Practice setup for booking: practitioners and appointment types (list, add, change, archive,
restore). Changing them is for ``admin:organization`` (owners and practice admins); the lists are
also in the JSON API for everyone with ``appointments:read``. Thin: the forms parse, the
``practitioners`` service validates and writes, its field errors go back on the form (422).
"""

from __future__ import annotations

from typing import Any

from flask import make_response, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.appointments import bp
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.calendar_source import cliniko_connected
from clinic_app.appointments.forms import AppointmentTypeForm, PractitionerForm
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, put_errors, render_confirm, render_page

SETUP = "appointments.setup_page"


def _staff(organization_id: str) -> list[tuple[str, str]]:
    return [("", "Not linked"), *setup.staff_choices(organization_id)]


def _setup_context(**extra: Any) -> dict[str, Any]:
    organization_id = current_organization_id()
    practitioner_form = PractitionerForm(formdata=None)
    practitioner_form.user_id.choices = _staff(organization_id)
    context: dict[str, Any] = {
        "people": setup.list_practitioners(organization_id, include_archived=True),
        "kinds": setup.list_types(organization_id, include_archived=True),
        "practitioner_form": practitioner_form,
        "type_form": AppointmentTypeForm(formdata=None),
        "connected": cliniko_connected(organization_id),
        "staff_names": dict(setup.staff_choices(organization_id)),
    }
    context.update(extra)
    return context


@bp.get("/appointments/setup")
@requires("admin:organization")
def setup_page() -> ResponseReturnValue:
    return render_page("appointments/setup.html", "appointments/_setup.html", **_setup_context())


def _raw(form: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: "".join(getattr(form, name).raw_data or []) for name in names}


PRACTITIONER_FIELDS = ("title", "first_name", "last_name", "designation", "user_id")
TYPE_FIELDS = ("name", "duration_minutes", "category", "color")


# --- practitioners ------------------------------------------------------------------------------


@bp.post("/appointments/practitioners")
@requires("admin:organization")
def create_practitioner() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = PractitionerForm()
    form.user_id.choices = _staff(organization_id)
    try:
        data = setup.validate_practitioner(organization_id, _raw(form, PRACTITIONER_FIELDS))
    except Invalid as error:
        put_errors(form, error.errors)
        page = render_page(
            "appointments/setup.html", "appointments/_setup.html", **_setup_context(practitioner_form=form)
        )
        return make_response(page, 422)
    practitioner = setup.create_practitioner(organization_id, data, actor=current_actor())
    return done(f"{practitioner.display_name} was added.", url_for(SETUP))


@bp.route("/appointments/practitioners/<practitioner_id>/edit", methods=["GET", "POST"])
@requires("admin:organization")
def edit_practitioner(practitioner_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    practitioner = setup.get_practitioner(organization_id, practitioner_id)
    form = PractitionerForm(obj=practitioner) if request.method == "GET" else PractitionerForm()
    form.user_id.choices = _staff(organization_id)
    status = 200
    if request.method == "POST":
        try:
            data = setup.validate_practitioner(organization_id, _raw(form, PRACTITIONER_FIELDS))
            changed = setup.update_practitioner(organization_id, practitioner_id, data, actor=current_actor())
        except Invalid as error:
            put_errors(form, error.errors)
            status = 422
        else:
            return done("Saved." if changed else "Nothing was changed.", url_for(SETUP))
    page = render_page(
        "appointments/edit_practitioner.html",
        "appointments/_practitioner_form.html",
        form=form,
        practitioner=practitioner,
        action=url_for("appointments.edit_practitioner", practitioner_id=practitioner_id),
    )
    return make_response(page, status)


def _archive_practitioner(practitioner_id: str, archived: bool) -> ResponseReturnValue:
    organization_id = current_organization_id()
    practitioner = setup.get_practitioner(organization_id, practitioner_id)
    if request.form.get("confirmed") != "yes":
        return _confirm(
            "Archive practitioner" if archived else "Restore practitioner",
            f"Archive {practitioner.display_name}? Their appointments stay; they take no new bookings."
            if archived
            else f"Restore {practitioner.display_name}, so they can be booked again?",
            "Archive" if archived else "Restore",
            danger=archived,
        )
    setup.set_practitioner_archived(organization_id, practitioner_id, archived, actor=current_actor())
    word = "archived" if archived else "restored"
    return done(f"{practitioner.display_name} was {word}.", url_for(SETUP))


def _confirm(title: str, question: str, button: str, *, danger: bool) -> ResponseReturnValue:
    """A plain form's confirmation step (htmx buttons ask with hx-confirm and send confirmed=yes)."""
    return render_confirm(title=title, question=question, button=button, danger=danger, back=url_for(SETUP))


@bp.post("/appointments/practitioners/<practitioner_id>/archive")
@requires("admin:organization")
def archive_practitioner(practitioner_id: str) -> ResponseReturnValue:
    return _archive_practitioner(practitioner_id, True)


@bp.post("/appointments/practitioners/<practitioner_id>/restore")
@requires("admin:organization")
def restore_practitioner(practitioner_id: str) -> ResponseReturnValue:
    return _archive_practitioner(practitioner_id, False)


# --- appointment types ----------------------------------------------------------------------------


@bp.post("/appointments/types")
@requires("admin:organization")
def create_type() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = AppointmentTypeForm()
    try:
        data = setup.validate_type(organization_id, _raw(form, TYPE_FIELDS))
    except Invalid as error:
        put_errors(form, error.errors)
        page = render_page("appointments/setup.html", "appointments/_setup.html", **_setup_context(type_form=form))
        return make_response(page, 422)
    appointment_type = setup.create_type(organization_id, data, actor=current_actor())
    return done(f"{appointment_type.name} was added.", url_for(SETUP))


@bp.route("/appointments/types/<appointment_type_id>/edit", methods=["GET", "POST"])
@requires("admin:organization")
def edit_type(appointment_type_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    appointment_type = setup.get_type(organization_id, appointment_type_id)
    form = AppointmentTypeForm(obj=appointment_type) if request.method == "GET" else AppointmentTypeForm()
    status = 200
    if request.method == "POST":
        try:
            data = setup.validate_type(organization_id, _raw(form, TYPE_FIELDS), current_id=appointment_type_id)
            changed = setup.update_type(organization_id, appointment_type_id, data, actor=current_actor())
        except Invalid as error:
            put_errors(form, error.errors)
            status = 422
        else:
            return done("Saved." if changed else "Nothing was changed.", url_for(SETUP))
    page = render_page(
        "appointments/edit_type.html",
        "appointments/_type_form.html",
        form=form,
        appointment_type=appointment_type,
        action=url_for("appointments.edit_type", appointment_type_id=appointment_type_id),
    )
    return make_response(page, status)


def _archive_type(appointment_type_id: str, archived: bool) -> ResponseReturnValue:
    organization_id = current_organization_id()
    appointment_type = setup.get_type(organization_id, appointment_type_id)
    if request.form.get("confirmed") != "yes":
        return _confirm(
            "Archive appointment type" if archived else "Restore appointment type",
            f"Archive {appointment_type.name}? Its appointments stay; it cannot be chosen for new bookings."
            if archived
            else f"Restore {appointment_type.name}?",
            "Archive" if archived else "Restore",
            danger=archived,
        )
    setup.set_type_archived(organization_id, appointment_type_id, archived, actor=current_actor())
    word = "archived" if archived else "restored"
    return done(f"{appointment_type.name} was {word}.", url_for(SETUP))


@bp.post("/appointments/types/<appointment_type_id>/archive")
@requires("admin:organization")
def archive_type(appointment_type_id: str) -> ResponseReturnValue:
    return _archive_type(appointment_type_id, True)


@bp.post("/appointments/types/<appointment_type_id>/restore")
@requires("admin:organization")
def restore_type(appointment_type_id: str) -> ResponseReturnValue:
    return _archive_type(appointment_type_id, False)
