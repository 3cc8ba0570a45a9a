import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinic_app.config import VARIABLES, ConfigError, load_config, parse_encryption_keys

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k1:" + base64.urlsafe_b64encode(b"x" * 32).decode()


def production_env(**changes: str) -> dict[str, str]:
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "FIELD_ENCRYPTION_KEYS": GOOD_KEY,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
        "PUBLIC_URL": "https://clinic.example.com",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v != ""}


def test_production_without_secret_key_is_refused():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(production_env(SECRET_KEY=""))


@pytest.mark.parametrize("weak", ["change-me", "dev", "short-but-not-empty"])
def test_production_with_default_or_weak_secret_is_refused(weak):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(production_env(SECRET_KEY=weak))


def test_production_without_encryption_key_is_refused():
    with pytest.raises(ConfigError, match="FIELD_ENCRYPTION_KEYS"):
        load_config(production_env(FIELD_ENCRYPTION_KEYS=""))


def test_production_without_database_is_refused():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_config(production_env(DATABASE_URL=""))


def test_production_without_public_url_is_refused():
    with pytest.raises(ConfigError, match="PUBLIC_URL is missing"):
        load_config(production_env(PUBLIC_URL=""))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://clinic.example.com", "must start with https://"),
        ("clinic.example.com", "must start with https://"),
        ("https://clinic.example.com/app", "without a path or query"),
        ("https://clinic.example.com/?next=/", "without a path or query"),
        ("https://clinic.example.com#top", "without a path or query"),
        ("https://admin@clinic.example.com", "must name a host"),
        ("https://", "must name a host"),
        ("https://clinic.example.com:99999", "not a valid address"),
    ],
)
def test_production_public_url_must_be_an_https_origin(value, message):
    with pytest.raises(ConfigError, match="PUBLIC_URL") as refused:
        load_config(production_env(PUBLIC_URL=value))
    assert message in str(refused.value)


def test_public_url_is_kept_without_a_trailing_slash():
    assert load_config(production_env(PUBLIC_URL="https://Clinic.Example.com/"))["PUBLIC_URL"] == (
        "https://clinic.example.com"
    )
    assert load_config(production_env(PUBLIC_URL="https://clinic.example.com:8443"))["PUBLIC_URL"] == (
        "https://clinic.example.com:8443"
    )


def test_development_public_url_defaults_to_the_local_server_and_may_be_http(tmp_path):
    assert load_config({"INSTANCE_PATH": str(tmp_path)})["PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert load_config({"INSTANCE_PATH": str(tmp_path), "PORT": "8123"})["PUBLIC_URL"] == "http://127.0.0.1:8123"
    chosen = load_config({"INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": "http://clinic.test:5000"})
    assert chosen["PUBLIC_URL"] == "http://clinic.test:5000"
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        load_config({"INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": "ftp://clinic.test"})


def test_production_config_sets_secure_cookies_and_psycopg3():
    config = load_config(production_env())
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert config["JOBS_BACKEND"] == "thread"


def test_starting_the_wsgi_app_in_production_without_secret_fails_with_a_clear_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    env.update(APP_ENV="production", INSTANCE_PATH=str(tmp_path), FIELD_ENCRYPTION_KEYS=GOOD_KEY)
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Configuration error: SECRET_KEY is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_generates_and_keeps_secrets_outside_the_repo(tmp_path):
    first = load_config({"INSTANCE_PATH": str(tmp_path)})
    second = load_config({"INSTANCE_PATH": str(tmp_path)})
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert first["FIELD_ENCRYPTION_KEYS"] == second["FIELD_ENCRYPTION_KEYS"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'clinic.db'}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nocolon", "kid:base64key"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        (f"{GOOD_KEY},{GOOD_KEY}", "twice"),
        ("k1:!!!", "32 bytes|base64"),
    ],
)
def test_encryption_keys_are_validated(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_encryption_keys(value)


def test_several_encryption_keys_keep_their_order():
    other = "k2:" + base64.urlsafe_b64encode(b"y" * 32).decode()
    keys = parse_encryption_keys(f"{other},{GOOD_KEY}")
    assert list(keys) == ["k2", "k1"]


@pytest.mark.parametrize(("name", "value"), [("APP_ENV", "staging"), ("PORT", "abc"), ("JOBS_BACKEND", "celery")])
def test_bad_values_are_refused_by_name(name, value, tmp_path):
    with pytest.raises(ConfigError, match=name):
        load_config({"INSTANCE_PATH": str(tmp_path), name: value})


def test_rq_backend_needs_redis(tmp_path):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_config({"INSTANCE_PATH": str(tmp_path), "JOBS_BACKEND": "rq"})


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text()
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in readme]
    assert missing == []


def test_postgresql_sessions_run_without_jit_or_parallel_workers():
    """The app's short indexed statements must not pay for JIT compilation or parallel workers
    (docs/performance.md); timestamps always come back in UTC."""
    config = load_config(overrides={"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/x"})
    options = config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"].split()
    assert options == ["-c", "timezone=UTC", "-c", "jit=off", "-c", "max_parallel_workers_per_gather=0"]


def test_the_live_postgresql_session_has_them(app_context):
    from sqlalchemy import text

    from clinic_app.extensions import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL settings (CI runs the suite on PostgreSQL)")
    settings = [db.session.scalar(text(f"SHOW {name}")) for name in ("jit", "max_parallel_workers_per_gather")]
    assert settings == ["off", "0"]
