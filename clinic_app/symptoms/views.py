"""The symptom catalogue page: search as you type, and (with ``symptoms:write``) add the clinic's
own symptoms."""

from __future__ import annotations

import json

from flask import make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, is_htmx, put_errors, render_page
from clinic_app.symptoms import bp, service
from clinic_app.symptoms.forms import CustomSymptomForm

PAGE_LIMIT = 50


@bp.get("/symptoms")
@requires("patients:read")
def catalogue() -> ResponseReturnValue:
    results = service.search(current_organization_id(), request.args.get("q", ""), limit=PAGE_LIMIT)
    # is_htmx() (behind render_page) is false for a history restore, which needs the whole page.
    return render_page(
        "symptoms/catalogue.html", "symptoms/_results.html", results=results, form=CustomSymptomForm(formdata=None)
    )


@bp.post("/symptoms/custom")
@requires("symptoms:write")
def add_custom() -> ResponseReturnValue:
    form = CustomSymptomForm()
    organization_id = current_organization_id()
    if form.validate_on_submit():  # CSRF only: the service checks the values
        try:
            symptom = service.create_custom(
                organization_id,
                name=form.name.data,
                description=form.description.data,
                category=form.category.data,
                actor=current_actor(),
            )
        except Invalid as error:
            put_errors(form, error.errors, fallback="name")
        except Conflict as error:
            put_errors(form, [FieldError("name", error.detail)])
        else:
            notice = f"“{symptom.name}” was added to your clinic's symptoms."
            if not is_htmx():
                return done(notice, url_for("symptoms.catalogue", q=symptom.name))
            response = make_response(
                render_template("symptoms/_custom_form.html", form=CustomSymptomForm(formdata=None), notice=notice)
            )
            # The page refreshes its results list on this event (json.dumps keeps the header ASCII).
            response.headers["HX-Trigger"] = json.dumps({"symptoms-changed": {"id": symptom.id}})
            return response
    if is_htmx():
        return render_template("symptoms/_custom_form.html", form=form), 422
    results = service.search(organization_id, "", limit=PAGE_LIMIT)
    return render_template("symptoms/catalogue.html", results=results, form=form), 422
