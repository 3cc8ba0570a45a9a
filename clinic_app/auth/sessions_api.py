"""The caller's own sessions over the API: list their live browser sessions and API log-ins, end
one, or end all but the credential of the request.

A person's sessions only: an organization API token has none (403), and another person's id
answers 404 as an unknown one does.
"""

from __future__ import annotations

from flask import Response

from clinic_app.auth import bp, sign_ins
from clinic_app.auth.identity import current_identity
from clinic_app.auth.sessions_schemas import RevokeOthersOut, SignInList, SignInOut
from clinic_app.core.access import authenticated
from clinic_app.core.api import api_route
from clinic_app.core.errors import Forbidden, NotFound

TAGS = ("auth",)
NOT_A_PERSON = {403: "Called with an organization API token (it has no sessions)"}


def _caller() -> sign_ins.Caller:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("Sessions belong to a person; an organization API token has none.")
    return sign_ins.Caller(
        user_id=identity.user.id,
        session_id=identity.session_row.id if identity.session_row is not None else None,
        family_id=identity.token_family_id,
        organization_id=identity.bound_organization_id or identity.organization_id,
    )


def _out(item: sign_ins.SignIn) -> SignInOut:
    return SignInOut(
        id=item.id,
        kind=item.kind,  # type: ignore[arg-type]
        device=item.device,
        ip_address=item.ip_address,
        created_at=item.created_at,
        last_seen_at=item.last_seen_at,
        current=item.current,
    )


@api_route(
    bp,
    "/api/v1/auth/sessions",
    unpaged="one person's live sign-ins, which expire on their own",
    response=SignInList,
    summary="Where the caller is signed in: their live browser sessions and API log-ins",
    tags=TAGS,
    extra_statuses=NOT_A_PERSON,
)
@authenticated
def api_sessions() -> SignInList:
    browsers, apis = sign_ins.live_sign_ins(_caller())
    return SignInList(sessions=[_out(item) for item in [*browsers, *apis]])


@api_route(
    bp,
    "/api/v1/auth/sessions/<session_id>",
    methods=("DELETE",),
    status=204,
    summary="End one of the caller's browser sessions (ses_…) or API log-ins (tfm_…)",
    description="Its cookie, or its access and refresh tokens, stop working at once. Ending the calling "
    "credential itself is allowed: it is logging out.",
    tags=TAGS,
    extra_statuses={404: "No such session or log-in of the caller (an organization API token has none)"},
)
@authenticated
def api_session_end(session_id: str) -> Response:
    identity = current_identity()
    if identity is None or identity.user is None:
        # An organization API token has no sessions: whatever the id names, none is the caller's.
        raise NotFound("No such session.")
    sign_ins.end_sign_in(_caller(), session_id)
    return Response(status=204)


@api_route(
    bp,
    "/api/v1/auth/sessions/revoke-others",
    methods=("POST",),
    response=RevokeOthersOut,
    summary="End every browser session and API log-in of the caller except this request's own",
    tags=TAGS,
    extra_statuses=NOT_A_PERSON,
)
@authenticated
def api_sessions_revoke_others() -> RevokeOthersOut:
    ended = sign_ins.end_all_others(_caller())
    return RevokeOthersOut(
        message="Every other session of your account was signed out.",
        ended_browser_sessions=ended.browser_sessions,
        ended_api_logins=ended.api_logins,
    )
