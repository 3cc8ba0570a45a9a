"""Links in e-mail start with the configured PUBLIC_URL, whatever Host the request came in with."""

import pytest
from flask import url_for

from clinic_app.config import ConfigError, load_config
from clinic_app.core.access import public
from clinic_app.core.mail import public_url


def test_a_link_is_built_on_public_url_not_on_the_requests_host(make_app):
    app = make_app(PUBLIC_URL="https://clinic.example.com")
    with app.test_request_context("/staff", base_url="http://evil.example", headers={"Host": "evil.example"}):
        link = public_url(url_for("auth.login"))
        assert url_for("auth.login", _external=True).startswith("http://evil.example")  # what the header says
    assert link == "https://clinic.example.com/login"


def test_forwarded_host_from_a_trusted_proxy_does_not_move_links_either(make_app):
    app = make_app(PUBLIC_URL="https://clinic.example.com", TRUSTED_PROXIES="1")
    client = app.test_client()
    seen = {}

    @app.get("/_probe_public_url")
    @public
    def probe():  # a route of this test only, to read public_url inside a proxied request
        seen["link"] = public_url("/set-password/abc")
        return ""

    client.get("/_probe_public_url", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"})
    assert seen["link"] == "https://clinic.example.com/set-password/abc"


def test_the_test_app_has_a_local_public_url(app):
    assert app.config["PUBLIC_URL"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize("path", ["https://evil.example/x", "//evil.example/x", "x/y", "/\\evil.example"])
def test_public_url_takes_only_a_path_on_this_site(app, path):
    with app.app_context(), pytest.raises(ValueError):
        public_url(path)


@pytest.mark.parametrize(
    "public_url, rp_id, expected",
    [
        ("https://clinic.example.com", None, None),
        ("https://clinic.example.com", "clinic.example.com", "clinic.example.com"),
        ("https://clinic.example.com", "Example.com", "example.com"),
    ],
)
def test_the_passkey_domain_is_the_public_host_or_a_parent(public_url, rp_id, expected):
    environ = {"APP_ENV": "development", "PUBLIC_URL": public_url}
    if rp_id is not None:
        environ["WEBAUTHN_RP_ID"] = rp_id
    assert load_config(environ)["WEBAUTHN_RP_ID"] == expected


@pytest.mark.parametrize("rp_id", ["evil.example", "ample.com", "other.clinic.example.com"])
def test_a_passkey_domain_the_public_address_is_not_under_is_refused(rp_id):
    with pytest.raises(ConfigError, match="WEBAUTHN_RP_ID"):
        load_config({"APP_ENV": "development", "PUBLIC_URL": "https://clinic.example.com", "WEBAUTHN_RP_ID": rp_id})
