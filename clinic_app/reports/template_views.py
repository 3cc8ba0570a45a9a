"""The report template pages: the organization's templates, a new one, and the editor (an update
makes a new version; reports already written keep the version they used). Templates hold no
patient information; they are managed by whoever writes reports (``reports:write``)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, render_page
from clinic_app.reports import bp, templates_service
from clinic_app.reports.forms import TemplateForm, section_rows_for_editor, template_form_sections


@bp.get("/reports/templates")
@requires("reports:write", hide=True)
def templates_index() -> ResponseReturnValue:
    templates = templates_service.list_templates(current_organization_id())
    return render_page("reports/templates.html", "reports/_templates.html", templates=templates)


def _editor(form: TemplateForm, rows: list[dict[str, Any]], status: int = 200, **context: Any) -> ResponseReturnValue:
    errors = context.pop("errors", {})
    html = render_page(
        "reports/template_edit.html", "reports/_template_form.html", form=form, rows=rows, errors=errors, **context
    )
    return html, status


def _posted(form: TemplateForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "description": form.description.data,
        "is_default": form.is_default.data,
        "sections": template_form_sections(request.form),
    }


def _invalid(form: TemplateForm, raw: dict[str, Any], error: Invalid, **context: Any) -> ResponseReturnValue:
    errors = {e.field: e.message for e in error.errors}
    for name in ("name", "description"):
        if name in errors:
            getattr(form, name).errors = [errors[name]]
    return _editor(form, section_rows_for_editor(raw["sections"]), 422, errors=errors, **context)


@bp.route("/reports/templates/new", methods=["GET", "POST"])
@requires("reports:write", hide=True)
def template_new() -> ResponseReturnValue:
    form = TemplateForm()
    context = {"action": url_for("reports.template_new"), "view": None}
    if request.method == "GET":
        return _editor(form, section_rows_for_editor([]), **context)
    raw = _posted(form)
    try:
        data = templates_service.validate_template(raw)
        created = templates_service.create_template(current_organization_id(), data, actor=current_actor())
    except Invalid as error:
        return _invalid(form, raw, error, **context)
    return done(f"Template “{created.template.name}” created.", url_for("reports.templates_index"))


@bp.route("/reports/templates/<template_id>", methods=["GET", "POST"])
@requires("reports:write", hide=True)
def template_edit(template_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    view = templates_service.get_template(organization_id, template_id)
    context = {"action": url_for("reports.template_edit", template_id=template_id), "view": view}
    if request.method == "GET":
        form = TemplateForm(
            formdata=None,
            name=view.template.name,
            description=view.template.description,
            is_default=view.template.is_default,
        )
        return _editor(form, section_rows_for_editor(list(view.version.sections)), **context)
    form = TemplateForm()
    raw = _posted(form)
    try:
        data = templates_service.validate_template(raw)
        updated = templates_service.update_template(organization_id, template_id, data, actor=current_actor())
    except Invalid as error:
        return _invalid(form, raw, error, **context)
    message = f"Template “{updated.template.name}” saved as version {updated.template.current_version}."
    return done(message, url_for("reports.templates_index"))
