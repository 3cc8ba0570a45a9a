"""The API reference in Chromium: /redoc renders the OpenAPI document with the vendored ReDoc,
fetching nothing from anywhere but this app."""

import pytest

pytestmark = pytest.mark.browser


def test_redoc_renders_the_api_from_the_local_bundle(live_server, page):
    fetched, refused = [], []
    page.on("response", lambda response: fetched.append(response.url))
    page.on("requestfailed", lambda request: refused.append(request.url))
    page.goto(live_server.url + "/redoc")
    # ReDoc parses the whole document before it renders anything: on a busy machine that takes a
    # while, so this one wait is generous.
    heading = page.locator("h1", has_text="Clinic App API")
    heading.wait_for(timeout=90_000)
    # An operation from the document is in the rendered menu, so ReDoc read and rendered the spec.
    operation = page.locator(
        "[role=menuitem][aria-label='List active patients with the priority of their next appointment']"
    )
    operation.wait_for(state="attached")
    assert live_server.url + "/static/vendor/redoc/redoc.standalone.js" in fetched
    assert live_server.url + "/api/v1/openapi.json" in fetched
    assert [url for url in fetched if not url.startswith((live_server.url, "blob:", "data:"))] == []
    # ReDoc's sidebar asks for one image on its vendor's CDN; the page's policy refuses it (that
    # refusal is the only console error), so nothing leaves this app.
    assert set(refused) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert [e for e in page.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []
