from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.symptoms import bp, service
from clinic_app.symptoms.schemas import (
    CustomSymptomIn,
    CustomSymptomOut,
    SymptomOut,
    SymptomSearchOut,
    SymptomSearchQuery,
)


@api_route(
    bp,
    "/api/v1/intake/symptoms",
    query=SymptomSearchQuery,
    response=SymptomSearchOut,
    summary="Search the symptom catalogue",
    description=(
        "The ICD-11 symptom list and the organization's own symptoms together, best match first: exact code, "
        "code prefix, title prefix, title words, everyday synonyms, then looser matches. Case-insensitive."
    ),
    tags=("intake",),
)
@requires("patients:read")
def search_symptoms(query: SymptomSearchQuery) -> SymptomSearchOut:
    results = service.search(current_organization_id(), query.q, limit=query.limit)
    return SymptomSearchOut(
        query=results.query,
        symptoms=[SymptomOut.model_validate(match) for match in results],
        total=results.total,
        limit=results.limit,
    )


@api_route(
    bp,
    "/api/v1/intake/user_symptoms",
    methods=("POST",),
    body=CustomSymptomIn,
    response=CustomSymptomOut,
    status=201,
    summary="Add a custom symptom for the organization",
    description="For symptoms the ICD-11 list lacks. A name that is already an ICD-11 title is refused with a "
    "`suggestion` naming that entry.",
    tags=("intake",),
    extra_statuses={409: "The organization already has this name, or it is an ICD-11 title"},
)
@requires("symptoms:write")
def create_user_symptom(body: CustomSymptomIn) -> CustomSymptomOut:
    symptom = service.create_custom(
        current_organization_id(),
        name=body.name,
        description=body.description,
        category=body.category,
        actor=current_actor(),
    )
    return CustomSymptomOut(
        id=symptom.id,
        code=None,
        title=symptom.name,
        category=symptom.category,
        description=symptom.description,
        created_at=symptom.created_at,
    )
