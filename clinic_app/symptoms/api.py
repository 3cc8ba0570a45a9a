from __future__ import annotations

from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.pagination import offset_cursor, offset_from_cursor
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.symptoms import bp, service
from clinic_app.symptoms.schemas import (
    CustomSymptomIn,
    CustomSymptomOut,
    SymptomOut,
    SymptomSearchOut,
    SymptomSearchQuery,
)

# A position in the ranking further than any catalogue reaches is not one this list gave out.
MAX_OFFSET = 1_000_000


@api_route(
    bp,
    "/api/v1/intake/symptoms",
    paginated="cursor",
    query=SymptomSearchQuery,
    response=SymptomSearchOut,
    summary="Search the symptom catalogue",
    description=(
        "The ICD-11 symptom list and the organization's own symptoms together, best match first: exact code, "
        "code prefix, title prefix, title words, everyday synonyms, then looser matches. Case-insensitive. "
        "`limit` at a time: follow `next_cursor` (a position in this ranking) until it is null."
    ),
    tags=("intake",),
)
@requires("patients:read")
def search_symptoms(query: SymptomSearchQuery) -> SymptomSearchOut:
    offset = offset_from_cursor(query.cursor, maximum=MAX_OFFSET) if query.cursor else 0
    results = service.search(current_organization_id(), query.q, limit=query.limit, offset=offset)
    shown = offset + len(results)
    return SymptomSearchOut(
        query=results.query,
        symptoms=[SymptomOut.model_validate(match) for match in results],
        total=results.total,
        limit=results.limit,
        next_cursor=offset_cursor(shown) if results.matches and shown < results.total else None,
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
