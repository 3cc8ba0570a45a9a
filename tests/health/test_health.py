"""Health endpoints in the contract's exact shapes, reporting real state."""

import pytest
from sqlalchemy import text

from clinic_app.extensions import db


def test_health_has_the_contract_shape(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["status", "timestamp", "version", "environment"]
    assert body["status"] == "healthy"
    assert set(body["environment"]) == {
        "APP_ENV",
        "PORT",
        "authentication_configured",
        "database_configured",
        "encryption_configured",
    }
    assert body["environment"]["APP_ENV"] == "test"
    assert isinstance(body["environment"]["PORT"], str)
    assert body["timestamp"].endswith("Z")


def test_root_answers_json_to_api_clients(client):
    for accept in ("*/*", "application/json"):
        body = client.get("/", headers={"Accept": accept}).get_json()
        assert list(body) == ["message", "version", "status", "timestamp", "docs", "redoc"]
        assert body["docs"] == "/docs" and body["redoc"] == "/redoc"


def test_root_is_the_home_page_for_browsers(client):
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.mimetype == "text/html"
    assert "/static/vendor/htmx-2.0.11.min.js" in response.get_data(as_text=True)
    assert "Accept" in response.headers["Vary"]


def test_readiness_reports_database_migrations_and_jobs(client, app):
    body = client.get("/api/v1/health/").get_json()
    assert body["status"] == "healthy"
    assert body["database"]["status"] == "healthy"
    assert body["migrations"]["status"] == "healthy"
    assert body["jobs_backend"] == app.config["JOBS_BACKEND"]
    assert body["redis"]["configured"] is bool(app.config.get("REDIS_URL"))


def test_database_health_reports_a_real_round_trip(client, app):
    body = client.get("/api/v1/health/db").get_json()
    assert body["connected"] is True
    with app.app_context():
        assert body["dialect"] == db.engine.dialect.name
    assert body["latency_ms"] >= 0


def test_database_health_reports_an_unreachable_database(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/api/v1/health/db")
    assert response.status_code == 503
    assert response.get_json()["connected"] is False
    assert app.test_client().get("/api/v1/health/").get_json()["status"] == "unhealthy"


def test_migration_status_is_up_to_date_after_upgrade(client):
    body = client.get("/api/v1/health/migration").get_json()
    assert body["up_to_date"] is True
    assert body["current_revision"] == body["head_revision"]


def test_migration_status_reports_pending_when_behind(client, app):
    with app.app_context():
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        db.session.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        db.session.commit()
    try:
        response = client.get("/api/v1/health/migration")
        assert response.status_code == 503
        assert response.get_json()["status"] == "pending"
        assert response.get_json()["current_revision"] == "older"
    finally:
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
            db.session.commit()


# --- what an anonymous caller is told in production ---------------------------------------------------

DETAILS = {
    "/health": ("version", "environment"),
    "/api/v1/health/": ("version", "database", "migrations", "redis", "workers", "jobs_backend"),
    "/api/v1/health/db": ("dialect", "latency_ms"),
    "/api/v1/health/migration": ("current_revision", "head_revision"),
}


@pytest.fixture
def production_app(app):
    app.config["PRODUCTION"] = True  # the flag the endpoints read; the rest stays test-friendly
    return app


@pytest.mark.parametrize("path", list(DETAILS))
def test_in_production_anonymous_callers_get_the_status_only(production_app, path):
    client = production_app.test_client()
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_json()
    for name in DETAILS[path]:
        assert name in body and body[name] is None, name  # the contract's field, its detail withheld
    assert body["status"] in ("healthy", "up_to_date")
    text = response.get_data(as_text=True)
    with production_app.app_context():
        assert db.engine.dialect.name not in text
    assert production_app.config["VERSION"] not in text and '"test"' not in text


def test_in_production_the_shape_of_health_stays_the_contracts(production_app):
    body = production_app.test_client().get("/health").get_json()
    assert list(body) == ["status", "timestamp", "version", "environment"]
    assert body["status"] == "healthy" and body["timestamp"].endswith("Z")


def test_in_production_an_unhealthy_database_is_still_said(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    app.config["PRODUCTION"] = True
    response = app.test_client().get("/api/v1/health/db")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy" and body["connected"] is False
    assert body["error"] is None and body["dialect"] is None
    assert app.test_client().get("/api/v1/health/").status_code == 503


@pytest.mark.parametrize(("role", "detailed"), [("owner", True), ("admin", True), ("clinician", False)])
def test_in_production_signed_in_owners_and_admins_get_the_details(production_app, login_as, role, detailed):
    client = login_as(role)
    body = client.get("/health").get_json()
    assert (body["version"] == production_app.config["VERSION"]) is detailed
    assert (body["environment"] is not None) is detailed
    ready = client.get("/api/v1/health/").get_json()
    assert (ready["database"] is not None) is detailed
    database = client.get("/api/v1/health/db").get_json()
    with production_app.app_context():
        assert (database["dialect"] == db.engine.dialect.name) is detailed
    migration = client.get("/api/v1/health/migration").get_json()
    assert (migration["current_revision"] is not None) is detailed


def test_in_production_a_token_with_admin_health_gets_the_details(production_app, tenants):
    from tests.factories import access_token_for, api_token_for

    client = production_app.test_client()
    monitor = api_token_for(production_app, tenants.a.id, ["admin:health"], creator=tenants.user("owner"))
    other = api_token_for(production_app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    assert client.get("/health", headers={"Authorization": f"Bearer {monitor}"}).get_json()["environment"]
    assert client.get("/health", headers={"Authorization": f"Bearer {other}"}).get_json()["environment"] is None
    admin = access_token_for(production_app, tenants.user("admin"))
    assert client.get("/api/v1/health/db", headers={"Authorization": f"Bearer {admin}"}).get_json()["dialect"]
    receptionist = access_token_for(production_app, tenants.user("receptionist"))
    answer = client.get("/api/v1/health/db", headers={"Authorization": f"Bearer {receptionist}"})
    assert answer.get_json()["dialect"] is None
    broken = client.get("/health", headers={"Authorization": "Bearer not-a-token"})
    assert broken.status_code == 200 and broken.get_json()["environment"] is None
