"""Settings, read from the environment in one place and validated at start-up.

Two shapes are supported by the same code:

* the embedded default (``APP_ENV=development``): SQLite under ``instance/``, jobs on an
  in-process thread, secrets generated once into ``instance/secrets.json``;
* production (``APP_ENV=production``): ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL`` (RQ and
  rate limits), ``PUBLIC_URL`` (the https address links in e-mail point to), and secrets that
  must come from the environment. A missing or default secret stops the process with a message
  that says which variable to set.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

ENVIRONMENTS = ("development", "test", "production")
JOB_BACKENDS = ("rq", "thread", "eager")

# Values that must never be accepted as a production secret.
INSECURE_SECRETS = frozenset({"", "dev", "change-me", "changeme", "secret", "development"})


class ConfigError(RuntimeError):
    """The environment does not describe a runnable application."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    help: str


# Every environment variable the app reads. README.md's configuration table mirrors this list
# (a test checks that each name appears there).
VARIABLES: tuple[Variable, ...] = (
    Variable("APP_ENV", "development", "`development`, `test` or `production`."),
    Variable("SECRET_KEY", None, "Signs sessions and CSRF tokens. Required in production."),
    Variable(
        "FIELD_ENCRYPTION_KEYS",
        None,
        "Master keys for PHI field encryption: `kid:base64key[,kid:base64key...]`, the first is "
        "current. Required in production.",
    ),
    Variable("DATABASE_URL", None, "SQLAlchemy URL; PostgreSQL in production. Default: SQLite in `instance/`."),
    Variable("REDIS_URL", None, "Redis for RQ jobs and rate limits. Unset: in-process jobs, in-memory limits."),
    Variable("JOBS_BACKEND", None, "`rq`, `thread` or `eager`. Default: `rq` with REDIS_URL, else `thread`."),
    Variable("PORT", "5000", "Port `make run` serves on (127.0.0.1)."),
    Variable(
        "PUBLIC_URL",
        None,
        "The address people open the app at, e.g. `https://clinic.example.com` (scheme and host, optional "
        "port, no path). Links in e-mail (invitations, confirmations, password resets) start with it, never "
        "with the request's Host header. Required in production (https); default `http://127.0.0.1:<PORT>`.",
    ),
    Variable("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024), "Largest accepted request body in bytes."),
    Variable(
        "HEALTH_UPLOAD_MAX_BYTES",
        str(1024 * 1024 * 1024),
        "Largest health-data file (an Apple Health export, an actigraphy file) accepted, in bytes.",
    ),
    Variable(
        "WEBAUTHN_RP_ID",
        None,
        "The domain passkeys are bound to (WebAuthn relying-party id): the host of `PUBLIC_URL` or a parent "
        "domain of it, e.g. `clinic.example.com`. Default: the host of `PUBLIC_URL`. Changing it later makes "
        "every passkey already added stop working.",
    ),
    Variable(
        "SIGNUP_ENABLED",
        None,
        "`true`: anyone may sign a new practice up (`/signup`, `POST /api/v1/auth/register`); `false`: those "
        "answer 404 and the sign-in page has no link (organizations made by `flask create-org`). Default: "
        "`true` in development and test, `false` in production.",
    ),
    Variable(
        "HEALTH_UPLOAD_DIR",
        None,
        "Folder for health-data files waiting for their import job (each sealed with its own key; deleted "
        "when imported). Web and worker processes must share it. Default: `health_uploads` in the instance folder.",
    ),
    Variable("LOG_LEVEL", "INFO", "Python log level for the JSON logs."),
    Variable("HTMX_CDN_URL", None, "Optional: load htmx from this URL (with the pinned SRI hash) instead of /static."),
    Variable("RATELIMIT_ENABLED", "true", "Set `false` only for benchmarks."),
    Variable("SESSION_IDLE_MINUTES", "30", "Browser session idle timeout."),
    Variable("SESSION_MAX_HOURS", "12", "Browser session absolute lifetime."),
    Variable("INSTANCE_PATH", None, "Folder for the SQLite file and generated development secrets."),
    Variable(
        "TRUSTED_PROXIES",
        "0",
        "How many reverse proxies in front of the app to trust for X-Forwarded-For/-Proto/-Host (0: none).",
    ),
    Variable(
        "SMTP_HOST", None, "Mail server for outgoing e-mail. Unset: mail is printed to the console (not in production)."
    ),
    Variable("SMTP_PORT", "587", "Mail server port."),
    Variable("SMTP_USERNAME", None, "Optional log-in for the mail server."),
    Variable("SMTP_PASSWORD", None, "Password for `SMTP_USERNAME`."),
    Variable("SMTP_STARTTLS", "true", "Upgrade the mail connection with STARTTLS before logging in and sending."),
    Variable("MAIL_FROM", "clinic@localhost", "Sender address of outgoing e-mail."),
    Variable(
        "SYNC_SCHEDULER_ENABLED",
        "true",
        "Run the app's clock: scheduled syncs and periodic tasks (a thread here, a repeating RQ job in production).",
    ),
    Variable(
        "SYNC_SCHEDULER_INTERVAL",
        "60",
        "Seconds between two ticks of the app's clock (the sync scheduler runs at each).",
    ),
    Variable("CLINIKO_REQUESTS_PER_MINUTE", "200", "Requests a sync sends Cliniko per minute (its limit per user)."),
    Variable("RETENTION_NIGHTLY_HOUR", "2", "Hour (UTC, 0-23) from which the nightly retention run starts."),
    Variable(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        "With several gunicorn workers: an empty directory where each process writes its metrics for /metrics.",
    ),
    Variable(
        "WEBHOOK_ALLOWED_HOSTS",
        None,
        "Comma-separated hosts webhooks may reach although they resolve to a non-public address "
        "(e.g. `127.0.0.1` for a local receiver in development and tests). Ignored in production.",
    ),
    Variable(
        "CLINIKO_SANDBOX_URL",
        None,
        "Sandbox Cliniko that `flask seed-demo` connects the demo clinic to (`make run` sets it). "
        "Ignored in production.",
    ),
)


def _env(name: str, environ: dict[str, str]) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _as_bool(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _as_int(value: str, name: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    return number


def parse_public_url(value: str, *, production: bool) -> str:
    """``PUBLIC_URL`` checked and without a trailing slash: http(s) (https in production), a host,
    no user name, path, query or fragment. Raises ConfigError naming the variable."""
    example = "e.g. https://clinic.example.com"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(f"PUBLIC_URL is not a valid address ({example}), not {value!r}.") from None
    allowed = ("https",) if production else ("http", "https")
    if parts.scheme not in allowed:
        need = "https://" if production else "http:// or https://"
        raise ConfigError(f"PUBLIC_URL must start with {need} ({example}), not {value!r}.")
    if (
        not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or any(ch.isspace() or not ch.isprintable() for ch in value)
    ):
        raise ConfigError(f"PUBLIC_URL must name a host and nothing else before it ({example}), not {value!r}.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
        raise ConfigError(f"PUBLIC_URL is the site's address alone, without a path or query ({example}).")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port is not None else ""
    return f"{parts.scheme}://{netloc}"


def _webauthn_rp_id(value: str | None, public_url: str) -> str | None:
    """``WEBAUTHN_RP_ID`` checked against ``PUBLIC_URL``: its host or a parent domain of it (what
    browsers accept). None when unset: the host of ``PUBLIC_URL`` is used."""
    if value is None:
        return None
    rp_id = value.strip().lower()
    host = (urlsplit(public_url).hostname or "").lower()
    if not rp_id or (host != rp_id and not host.endswith("." + rp_id)):
        raise ConfigError(
            f"WEBAUTHN_RP_ID must be the host of PUBLIC_URL ({host}) or a domain it is under, not {value!r}."
        )
    return rp_id


def parse_encryption_keys(value: str) -> dict[str, bytes]:
    """Parse ``kid:base64key,...`` into an ordered mapping; each key must be 32 bytes."""
    keys: dict[str, bytes] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        kid, sep, encoded = part.partition(":")
        if not sep or not kid or not encoded:
            raise ConfigError("FIELD_ENCRYPTION_KEYS entries look like `kid:base64key`.")
        if not kid.replace("-", "").replace("_", "").isalnum() or len(kid) > 32:
            raise ConfigError(f"FIELD_ENCRYPTION_KEYS key id {kid!r} must be short and alphanumeric.")
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            raise ConfigError(f"FIELD_ENCRYPTION_KEYS key {kid!r} is not valid base64.") from None
        if len(raw) != 32:
            raise ConfigError(f"FIELD_ENCRYPTION_KEYS key {kid!r} must decode to 32 bytes, not {len(raw)}.")
        if kid in keys:
            raise ConfigError(f"FIELD_ENCRYPTION_KEYS lists key id {kid!r} twice.")
        keys[kid] = raw
    if not keys:
        raise ConfigError("FIELD_ENCRYPTION_KEYS has no keys.")
    return keys


def _development_secrets(instance_path: Path) -> dict[str, str]:
    """Secrets for the embedded default: generated once, kept in instance/ (never in the repo)."""
    path = instance_path / "secrets.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= stored.keys():
            return stored
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    stored = {"SECRET_KEY": secrets.token_urlsafe(48), "FIELD_ENCRYPTION_KEYS": f"dev1:{key}"}
    instance_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    path.chmod(0o600)
    return stored


def load_config(environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment, then apply ``overrides``.

    Raises ConfigError with a message naming the variable when something is missing or wrong.
    """
    environ = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})
    # Overrides given as environment-style names (tests use these) win over the environment.
    for variable in VARIABLES:
        if variable.name in overrides and isinstance(overrides[variable.name], str):
            environ[variable.name] = overrides[variable.name]

    app_env = (_env("APP_ENV", environ) or "development").lower()
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}.")
    production = app_env == "production"

    instance_path = Path(_env("INSTANCE_PATH", environ) or DEFAULT_INSTANCE_PATH)

    secret_key = _env("SECRET_KEY", environ)
    encryption_keys = _env("FIELD_ENCRYPTION_KEYS", environ)
    if production:
        if secret_key is None or secret_key.lower() in INSECURE_SECRETS or len(secret_key) < 32:
            raise ConfigError(
                "SECRET_KEY is missing or too weak. In production set SECRET_KEY to a random value of "
                'at least 32 characters, e.g. python -c "import secrets; print(secrets.token_urlsafe(48))".'
            )
        if encryption_keys is None:
            raise ConfigError(
                "FIELD_ENCRYPTION_KEYS is missing. In production set it to `kid:base64key` with a random "
                "32-byte key (see README.md, Configuration)."
            )
    elif secret_key is None or encryption_keys is None:
        generated = _development_secrets(instance_path)
        secret_key = secret_key or generated["SECRET_KEY"]
        encryption_keys = encryption_keys or generated["FIELD_ENCRYPTION_KEYS"]

    database_url = _env("DATABASE_URL", environ)
    if database_url is None:
        if production:
            raise ConfigError("DATABASE_URL is missing. Production runs on PostgreSQL: set DATABASE_URL.")
        instance_path.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance_path / 'clinic.db'}"
    elif database_url.startswith("postgres://") or database_url.startswith("postgresql://"):
        # Use psycopg 3 whatever spelling the platform hands us.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]

    redis_url = _env("REDIS_URL", environ)
    jobs_backend = (_env("JOBS_BACKEND", environ) or ("rq" if redis_url else "thread")).lower()
    if jobs_backend not in JOB_BACKENDS:
        raise ConfigError(f"JOBS_BACKEND must be one of {', '.join(JOB_BACKENDS)}, not {jobs_backend!r}.")
    if jobs_backend == "rq" and not redis_url:
        raise ConfigError("JOBS_BACKEND=rq needs REDIS_URL.")

    port = _as_int(_env("PORT", environ) or "5000", "PORT")
    public_url = _env("PUBLIC_URL", environ)
    if public_url is None:
        if production:
            raise ConfigError(
                "PUBLIC_URL is missing. In production set it to the https address people open the app at, "
                "e.g. https://clinic.example.com: links in e-mail are built from it."
            )
        public_url = f"http://127.0.0.1:{port}"
    public_url = parse_public_url(public_url, production=production)

    mail_from = _env("MAIL_FROM", environ) or "clinic@localhost"
    if "@" not in mail_from or "\n" in mail_from or "\r" in mail_from:
        raise ConfigError(f"MAIL_FROM must be an e-mail address, not {mail_from!r}.")

    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "PRODUCTION": production,
        "TESTING": app_env == "test",
        "SECRET_KEY": secret_key,
        "FIELD_ENCRYPTION_KEYS": parse_encryption_keys(encryption_keys),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {},  # idle connections are pinged in core.db
        "REDIS_URL": redis_url,
        "JOBS_BACKEND": jobs_backend,
        "PORT": port,
        "PUBLIC_URL": public_url,
        "MAX_CONTENT_LENGTH": _as_int(
            _env("MAX_CONTENT_LENGTH", environ) or str(16 * 1024 * 1024), "MAX_CONTENT_LENGTH"
        ),
        "HEALTH_UPLOAD_MAX_BYTES": _as_int(
            _env("HEALTH_UPLOAD_MAX_BYTES", environ) or str(1024 * 1024 * 1024), "HEALTH_UPLOAD_MAX_BYTES"
        ),
        "WEBAUTHN_RP_ID": _webauthn_rp_id(_env("WEBAUTHN_RP_ID", environ), public_url),
        "SIGNUP_ENABLED": _as_bool(
            _env("SIGNUP_ENABLED", environ) or ("false" if production else "true"), "SIGNUP_ENABLED"
        ),
        "HEALTH_UPLOAD_DIR": _env("HEALTH_UPLOAD_DIR", environ) or str(instance_path / "health_uploads"),
        "LOG_LEVEL": (_env("LOG_LEVEL", environ) or "INFO").upper(),
        "HTMX_CDN_URL": _env("HTMX_CDN_URL", environ),
        "RATELIMIT_ENABLED": _as_bool(_env("RATELIMIT_ENABLED", environ) or "true", "RATELIMIT_ENABLED"),
        "SESSION_IDLE_MINUTES": _as_int(_env("SESSION_IDLE_MINUTES", environ) or "30", "SESSION_IDLE_MINUTES"),
        "SESSION_MAX_HOURS": _as_int(_env("SESSION_MAX_HOURS", environ) or "12", "SESSION_MAX_HOURS"),
        "INSTANCE_PATH": str(instance_path),
        "TRUSTED_PROXIES": _as_int(_env("TRUSTED_PROXIES", environ) or "0", "TRUSTED_PROXIES", minimum=0),
        "SMTP_HOST": _env("SMTP_HOST", environ),
        "SMTP_PORT": _as_int(_env("SMTP_PORT", environ) or "587", "SMTP_PORT"),
        "SMTP_USERNAME": _env("SMTP_USERNAME", environ),
        "SMTP_PASSWORD": _env("SMTP_PASSWORD", environ),
        "SMTP_STARTTLS": _as_bool(_env("SMTP_STARTTLS", environ) or "true", "SMTP_STARTTLS"),
        "MAIL_FROM": mail_from,
        "SYNC_SCHEDULER_ENABLED": _as_bool(_env("SYNC_SCHEDULER_ENABLED", environ) or "true", "SYNC_SCHEDULER_ENABLED"),
        "SYNC_SCHEDULER_INTERVAL": _as_int(_env("SYNC_SCHEDULER_INTERVAL", environ) or "60", "SYNC_SCHEDULER_INTERVAL"),
        "RETENTION_NIGHTLY_HOUR": _as_int(
            _env("RETENTION_NIGHTLY_HOUR", environ) or "2", "RETENTION_NIGHTLY_HOUR", minimum=0
        ),
        "PROMETHEUS_MULTIPROC_DIR": _env("PROMETHEUS_MULTIPROC_DIR", environ),
        "CLINIKO_SANDBOX_URL": None if production else _env("CLINIKO_SANDBOX_URL", environ),
        "WEBHOOK_ALLOWED_HOSTS": ()
        if production
        else tuple(
            h.strip().lower().strip("[]")
            for h in (_env("WEBHOOK_ALLOWED_HOSTS", environ) or "").split(",")
            if h.strip()
        ),
        "CLINIKO_REQUESTS_PER_MINUTE": _as_int(
            _env("CLINIKO_REQUESTS_PER_MINUTE", environ) or "200", "CLINIKO_REQUESTS_PER_MINUTE"
        ),
        # Cookies: HttpOnly and SameSite everywhere; Secure (and the __Host- prefix) in production.
        "SESSION_COOKIE_NAME": "__Host-clinic_session" if production else "clinic_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session that holds it
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "WTF_CSRF_CHECK_DEFAULT": False,  # clinic_app.core.http.csrf_guard decides when to check
        "JSON_SORT_KEYS": False,
    }
    if database_url.startswith("sqlite"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    elif database_url.startswith("postgresql"):
        # Timestamps come back in UTC whatever the server's default zone: read in a zone east of
        # UTC, a stored 9999-12-31T23:59Z would be a year psycopg cannot represent.
        # The app's statements are short and indexed (docs/performance.md): JIT compilation and
        # parallel workers cost more to start than they save (the worklist at 10,000,000
        # appointments took 94 ms in a parallel plan and under 1 ms serially).
        config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] = {
            "options": "-c timezone=UTC -c jit=off -c max_parallel_workers_per_gather=0"
        }
    for key, value in overrides.items():
        if key not in {v.name for v in VARIABLES} or not isinstance(value, str):
            config[key] = value
    return config
