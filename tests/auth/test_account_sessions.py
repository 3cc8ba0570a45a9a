"""The "where you are signed in" page and ``/api/v1/auth/sessions``: a person's live browsers and API
log-ins, ending one (that browser is signed out, that refresh token refused), ending all others
(the caller's own credential stays), and nobody else's ever."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from clinic_app.auth.models import TokenFamily, UserSession
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.factories import PASSWORD, api_token_for, csrf_from, sign_in

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
HTTPX = "python-httpx/0.27.0"
PAGE = "/account/sessions"
API = "/api/v1/auth/sessions"
HTMX = {"HX-Request": "true"}


@dataclass
class SignedIn:
    """A person signed in from Chrome and Firefox and logged in to the API from a program."""

    user: Any
    chrome: FlaskClient
    firefox: FlaskClient
    chrome_id: str
    firefox_id: str
    program: FlaskClient  # the program that logged in to the API (no cookies)
    api: dict[str, Any]  # the API log-in's answer (access and refresh tokens)
    family_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api['access_token']}"}


def browser(app, user_agent, ip="127.0.0.1"):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": ip})
    return client


def session_id_of(app, user, user_agent):
    with app.app_context():
        return db.session.scalar(
            select(UserSession.id).where(
                UserSession.user_id == user.id, UserSession.user_agent == user_agent, UserSession.revoked_at.is_(None)
            )
        )


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def refresh(signed: SignedIn):
    return signed.program.post("/api/v1/auth/refresh", json={"refresh_token": signed.api["refresh_token"]})


def actions(app, action):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at))
        return [(row.actor_user_id, row.target_id, row.details) for row in rows]


def post_form(client, path, data=None, headers=None):
    token = csrf_from(client.get(PAGE).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers=headers or {})


@pytest.fixture
def signed(app, tenants) -> SignedIn:
    user = tenants.user("clinician")
    chrome, firefox = browser(app, CHROME), browser(app, FIREFOX, ip="203.0.113.7")
    assert sign_in(chrome, user.email).status_code == 303
    assert sign_in(firefox, user.email).status_code == 303
    program = app.test_client()
    answer = program.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}, headers={"User-Agent": HTTPX}
    )
    assert answer.status_code == 200
    with app.app_context():
        family_id = db.session.scalar(select(TokenFamily.id).where(TokenFamily.user_id == user.id))
    return SignedIn(
        user=user,
        chrome=chrome,
        firefox=firefox,
        chrome_id=session_id_of(app, user, CHROME),
        firefox_id=session_id_of(app, user, FIREFOX),
        program=program,
        api=answer.get_json(),
        family_id=family_id,
    )


@pytest.fixture
def outsider_session(app, tenants) -> tuple[FlaskClient, str]:
    client = browser(app, CHROME)
    assert sign_in(client, tenants.outsider.email).status_code == 303
    return client, session_id_of(app, tenants.outsider, CHROME)


# --- the page -----------------------------------------------------------------------------------


def test_the_page_lists_both_browsers_and_the_api_log_in(app, signed, outsider_session):
    response = signed.chrome.get(PAGE)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" in html and "Where you are signed in" in html
    for label in ("Chrome 131 on Windows", "Firefox 133 on Linux", "API client (python-httpx)"):
        assert label in html
    assert "203.0.113.7" in html
    # Only Chrome's own row says "This device", and it has no sign-out button of its own.
    chrome_row = html.split(f'id="sign-in-{signed.chrome_id}"')[1].split("</tr>")[0]
    assert "data-this-device" in chrome_row and "/end" not in chrome_row
    assert html.count("data-this-device") == 1
    assert f"/account/sessions/{signed.firefox_id}/end" in html
    assert f"/account/api-logins/{signed.family_id}/end" in html
    assert outsider_session[1] not in html  # another person's session is not listed
    assert "Sign out all other sessions" in html


def test_the_htmx_render_is_the_fragment(signed):
    response = signed.chrome.get(PAGE, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert 'id="account-sessions"' in html and "Firefox 133 on Linux" in html


def test_ended_expired_and_idle_sessions_are_not_listed(app, signed, tenants):
    with app.app_context():
        db.session.execute(update(UserSession).where(UserSession.id == signed.firefox_id).values(revoked_at=utcnow()))
        db.session.execute(update(TokenFamily).where(TokenFamily.id == signed.family_id).values(revoked_at=utcnow()))
        db.session.commit()
    html = signed.chrome.get(PAGE).get_data(as_text=True)
    assert "Firefox" not in html and "python-httpx" not in html
    assert "No program is logged in to the API as you." in html
    assert "Sign out all other sessions" not in html  # nothing else to sign out


def test_ending_a_browser_signs_it_out(app, signed):
    response = post_form(signed.chrome, f"/account/sessions/{signed.firefox_id}/end")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    page = signed.chrome.get(PAGE).get_data(as_text=True)
    assert "That browser was signed out" in page and "Firefox" not in page
    assert not signed_in(signed.firefox)
    assert signed_in(signed.chrome)
    assert refresh(signed).status_code == 200  # the API log-in goes on
    assert actions(app, "auth.session_ended") == [
        (signed.user.id, signed.firefox_id, {"kind": "browser", "own": False})
    ]


def test_ending_an_api_log_in_refuses_its_tokens(app, signed):
    response = post_form(signed.chrome, f"/account/api-logins/{signed.family_id}/end", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "That API log-in was ended" in html and "python-httpx" not in html
    assert refresh(signed).status_code == 401
    assert signed.chrome.get("/api/v1/auth/me", headers=signed.bearer).status_code == 401
    assert signed_in(signed.firefox)
    with app.app_context():
        assert db.session.get(TokenFamily, signed.family_id).revoked_reason == "ended_by_person"


def test_ending_this_browser_from_the_list_is_signing_out(signed):
    response = post_form(signed.chrome, f"/account/sessions/{signed.chrome_id}/end")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not signed_in(signed.chrome)
    assert signed_in(signed.firefox)


def test_all_others_asks_first_then_keeps_this_browser(app, signed):
    asked = post_form(signed.chrome, "/account/sessions/end-others")
    assert asked.status_code == 200
    assert "Sign out all others" in asked.get_data(as_text=True) and 'name="confirmed"' in asked.get_data(as_text=True)
    assert signed_in(signed.firefox)  # nothing ended yet

    done = post_form(signed.chrome, "/account/sessions/end-others", {"confirmed": "yes"})
    assert done.status_code == 303 and done.headers["Location"] == PAGE
    assert signed_in(signed.chrome)
    assert not signed_in(signed.firefox)
    assert refresh(signed).status_code == 401
    assert actions(app, "auth.sessions_ended_others") == [
        (signed.user.id, signed.user.id, {"browser_sessions": 1, "api_logins": 1})
    ]


def test_all_others_with_htmx_answers_the_fragment(signed):
    response = post_form(signed.chrome, "/account/sessions/end-others", {"confirmed": "yes"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "Every other browser and API log-in" in html
    assert "Firefox" not in html and "This device" in html
    assert not signed_in(signed.firefox)


def test_another_persons_session_is_not_found(app, signed, outsider_session):
    outsider, outsider_id = outsider_session
    for path in (f"/account/sessions/{outsider_id}/end", "/account/api-logins/tfm_unknown/end"):
        assert post_form(signed.chrome, path).status_code == 404
    assert post_form(outsider, f"/account/api-logins/{signed.family_id}/end").status_code == 404
    assert post_form(outsider, f"/account/sessions/{signed.firefox_id}/end").status_code == 404
    assert signed_in(outsider) and signed_in(signed.firefox)
    assert refresh(signed).status_code == 200
    assert actions(app, "auth.session_ended") == []


def test_the_page_needs_a_signed_in_person(app, tenants, client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    assert client.get(PAGE, headers={"Authorization": f"Bearer {token}"}).status_code == 403


# --- the API ------------------------------------------------------------------------------------


def listed(client, headers):
    response = client.get(API, headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["id"]: item for item in response.get_json()["sessions"]}


def test_the_api_lists_the_callers_sessions(client, signed, outsider_session):
    sessions = listed(client, signed.bearer)
    assert set(sessions) == {signed.chrome_id, signed.firefox_id, signed.family_id}
    api = sessions[signed.family_id]
    assert api["kind"] == "api" and api["device"] == "API client (python-httpx)" and api["current"] is True
    assert api["ip_address"] == "127.0.0.1" and api["created_at"].endswith("Z") and api["last_seen_at"].endswith("Z")
    firefox = sessions[signed.firefox_id]
    assert firefox["kind"] == "browser" and firefox["device"] == "Firefox 133 on Linux"
    assert firefox["ip_address"] == "203.0.113.7" and firefox["current"] is False
    # A browser asking marks its own session.
    from_chrome = signed.chrome.get(API).get_json()["sessions"]
    assert [item["id"] for item in from_chrome if item["current"]] == [signed.chrome_id]


def test_the_api_ends_a_browser_and_an_api_log_in(client, signed):
    other = client.post(
        "/api/v1/auth/login", json={"email": signed.user.email, "password": PASSWORD}, headers={"User-Agent": HTTPX}
    ).get_json()
    headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert client.delete(f"{API}/{signed.firefox_id}", headers=headers).status_code == 204
    assert not signed_in(signed.firefox)
    assert client.delete(f"{API}/{signed.family_id}", headers=headers).status_code == 204
    assert refresh(signed).status_code == 401
    assert client.delete(f"{API}/{signed.family_id}", headers=headers).status_code == 404  # already ended
    assert set(listed(client, headers)) == {signed.chrome_id, other_family(client, headers)}


def other_family(client, headers):
    return next(item["id"] for item in client.get(API, headers=headers).get_json()["sessions"] if item["current"])


def test_the_api_refuses_another_persons_sessions(app, client, signed, outsider_session, tenants):
    outsider, outsider_id = outsider_session
    for session_id in (outsider_id, "ses_unknown", "tfm_unknown", "nonsense"):
        response = client.delete(f"{API}/{session_id}", headers=signed.bearer)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    outsider_api = client.post("/api/v1/auth/login", json={"email": tenants.outsider.email, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {outsider_api.get_json()['access_token']}"}
    for session_id in (signed.chrome_id, signed.family_id):
        assert client.delete(f"{API}/{session_id}", headers=bearer).status_code == 404
    assert signed_in(outsider) and signed_in(signed.chrome)
    assert refresh(signed).status_code == 200


def test_the_api_revokes_all_others_but_the_calling_log_in(app, client, signed):
    response = client.post(f"{API}/revoke-others", headers=signed.bearer)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ended_browser_sessions"] == 2 and response.get_json()["ended_api_logins"] == 0
    assert not signed_in(signed.chrome) and not signed_in(signed.firefox)
    assert list(listed(client, signed.bearer)) == [signed.family_id]
    assert refresh(signed).status_code == 200


def test_the_api_from_a_browser_keeps_that_browser(client, signed):
    headers = {"X-CSRFToken": csrf_from(signed.chrome.get(PAGE).get_data(as_text=True))}
    response = signed.chrome.post(f"{API}/revoke-others", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert signed_in(signed.chrome) and not signed_in(signed.firefox)
    assert refresh(signed).status_code == 401


def test_an_organization_api_token_has_no_sessions(app, client, tenants, signed):
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(API, headers=headers).status_code == 403
    assert client.delete(f"{API}/{signed.firefox_id}", headers=headers).status_code == 404
    assert client.post(f"{API}/revoke-others", headers=headers).status_code == 403
    assert signed_in(signed.firefox)


def test_the_api_needs_a_caller(client, signed):
    assert client.get(API).status_code == 401
    assert client.delete(f"{API}/{signed.firefox_id}").status_code == 401
    assert client.post(f"{API}/revoke-others").status_code == 401


def test_an_api_log_in_unused_past_its_refresh_lifetime_is_not_listed(app, client, signed):
    with app.app_context():
        long_ago = utcnow() - timedelta(days=8)
        db.session.execute(
            update(TokenFamily)
            .where(TokenFamily.id == signed.family_id)
            .values(created_at=long_ago, last_used_at=long_ago)
        )
        db.session.commit()
    assert signed.family_id not in {item["id"] for item in signed.chrome.get(API).get_json()["sessions"]}


def test_the_operations_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths[API]) == {"get"}
    assert set(paths[API + "/{session_id}"]) == {"delete"}
    assert set(paths[API + "/revoke-others"]) == {"post"}
    assert "403" in paths[API]["get"]["responses"]
