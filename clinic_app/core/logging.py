"""Structured JSON logs with the request id on every line.

What is logged is chosen field by field: method, path (never the query string, which can carry a
search term or a token), status, timing, ids. No PHI, passwords or tokens are passed to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any

from flask import g, has_request_context

from clinic_app.core.time import isoformat, utcnow

# Attributes every LogRecord has; anything else passed with ``extra=`` is emitted as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": isoformat(utcnow()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every log line, ours and the libraries', to stdout as one JSON object per line."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    # The development server's own access log duplicates ours and includes query strings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
