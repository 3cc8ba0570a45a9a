"""The RQ backend's plumbing: the app's Redis connection and its named queues (JSON serializer)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app

from clinic_app.core.errors import Unavailable

log = logging.getLogger("clinic_app.jobs")


def redis_connection(app: Flask | None = None) -> Any:
    from redis import Redis

    app = app or current_app
    connection = app.extensions.get("clinic_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions["clinic_redis"] = connection
    return connection


def check_redis() -> None:
    """Raise Unavailable (503) when Redis does not answer."""
    from redis.exceptions import RedisError

    try:
        redis_connection().ping()
    except RedisError:
        log.warning("redis unavailable", extra={"event": "redis_unavailable"})
        raise Unavailable("The job queue is unavailable right now. Please try again in a minute.") from None


def rq_queue(app: Flask, name: str) -> Any:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)
