from clinic_app.core.openapi import openapi_path


def test_openapi_document_lists_every_api_route(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    expected = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "site.openapi_json":
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                expected.add((openapi_path(rule.rule), method))
    assert expected - documented == set()
    assert ("/health", "GET") in documented and ("/", "GET") in documented


def test_openapi_operations_reference_real_schemas(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    start = spec["paths"]["/api/v1/consultation/start"]["post"]
    body_ref = start["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schemas[body_ref]["properties"]["chief_complaint"]["maxLength"] == 500
    assert "422" in start["responses"] and "415" in start["responses"]
    job = spec["paths"]["/api/v1/jobs/{job_id}"]["get"]
    response_ref = job["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "progress" in schemas[response_ref]["properties"]
    assert job["parameters"][0] == {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def test_docs_page_renders_offline_from_the_document(client):
    html = client.get("/docs").get_data(as_text=True)
    assert "/api/v1/jobs/{job_id}" in html and "/api/v1/health/migration" in html
    assert "cdn" not in html.lower()
    assert "pass <code>next_cursor</code> back as <code>cursor</code>" in html  # a list says how it pages
    assert "Returned whole: the clinic&#39;s few tax rates" in html


def test_redoc_page_loads_the_vendored_bundle_under_its_own_policy(client):
    page = client.get("/redoc")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<script src="/static/vendor/redoc/redoc.standalone.js"></script>' in html
    assert 'spec-url="/api/v1/openapi.json"' in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    with client.get("/static/vendor/redoc/redoc.standalone.js") as bundle:
        assert bundle.status_code == 200 and len(bundle.data) > 500_000
    with client.get("/static/vendor/redoc/LICENSE") as notice:
        assert b"MIT" in notice.data
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no other origin
    assert policy["worker-src"] == "'self' blob:" and policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["frame-ancestors"] == "'none'" and policy["img-src"] == "'self' data:"
    # Only this page is widened: every other page keeps the app's nonce policy.
    assert "'unsafe-inline'" not in client.get("/docs").headers["Content-Security-Policy"]


def test_every_reference_in_the_document_resolves(client):
    import json
    import re

    spec = client.get("/api/v1/openapi.json").get_json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"])
    assert "Problem" in refs
    assert not any(name.endswith(("-Input", "-Output")) for name in spec["components"]["schemas"])
