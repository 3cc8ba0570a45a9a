"""Structured JSON logs with the request id on every line.

What is logged is chosen field by field: method, path (never the query string, which can carry a
search term or a token), status, timing, ids. No PHI, passwords or tokens are passed to a logger.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

# Attributes every LogRecord has; anything else passed with ``extra=`` is emitted as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


# One encoder for every line (``json.dumps`` with ``default`` builds a new one per call).
_ENCODER = json.JSONEncoder(default=str)


def _timestamp(created: float) -> str:
    """When the record was made, as the JSON contract writes times (UTC, milliseconds, ``Z``)."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # less "+00:00"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return _ENCODER.encode(entry)


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record made during a request carries its id, whichever handler receives it."""
    record = _base_factory(*args, **kwargs)
    if has_request_context():
        record.request_id = g.get("request_id")
    return record


def configure_logging(level: str) -> None:
    """Send every log line, ours and the libraries', to stdout as one JSON object per line."""
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    # The development server's own access log duplicates ours and includes query strings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
