"""Health endpoints in the contract's exact shapes, reporting real state."""

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
