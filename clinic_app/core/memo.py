"""Values kept for the rest of one request, and no longer.

Flask's ``g`` belongs to the application context, which a test (or a CLI command) may keep open
across several requests; a cache there would outlive the request that filled it. These dicts hang
on the request object itself.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request


def per_request(name: str) -> dict[Any, Any] | None:
    """The current request's dict called ``name`` (None outside a request: nothing is kept)."""
    if not has_request_context():
        return None
    memos: dict[str, dict[Any, Any]] = request.__dict__.setdefault("_clinic_memos", {})
    return memos.setdefault(name, {})
