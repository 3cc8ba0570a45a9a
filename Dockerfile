# The clinic app: gunicorn serving wsgi:app on port 8000 (the same image runs the RQ worker).
#
#   docker build -t clinic-app .
#   docker run -e SECRET_KEY=... -e FIELD_ENCRYPTION_KEYS=... -e DATABASE_URL=... -e REDIS_URL=... \
#       -e PUBLIC_URL=https://clinic.example.com -p 8000:8000 clinic-app
#
# Secrets are never baked in: SECRET_KEY, FIELD_ENCRYPTION_KEYS, DATABASE_URL and PUBLIC_URL are
# required at run time (the app refuses to start without them). See docker-compose.yml for the whole stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# System libraries WeasyPrint (PDF reports) needs, in one layer without the package lists.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the app user can read it but not change it.
COPY . .

USER app

# WEB_CONCURRENCY is gunicorn's own variable for the number of workers (about one per core);
# GUNICORN_CMD_ARGS holds the rest of its settings (bench/run.py measures with the same). Sync
# workers: a Python process serves one request at a time, so a request never waits for another's
# interpreter lock; the TLS-terminating proxy in front (the session cookie is Secure) buffers slow
# clients. The timeout leaves room for an audio transcription (STT_TIMEOUT_SECONDS, 120 s). No
# access log: the app writes its own JSON line per request.
ENV APP_ENV=production \
    WEB_CONCURRENCY=2 \
    GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --worker-class sync --timeout 150 --graceful-timeout 20 --worker-tmp-dir /dev/shm"

EXPOSE 8000

# python rather than curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

CMD ["gunicorn", "wsgi:app"]
