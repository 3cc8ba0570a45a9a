"""Garbage collection in a serving process: the app's own objects kept out of full collections.

A worker holds a quarter of a million long-lived objects (the app, its routes, SQLAlchemy's
mappers and compiled statements, the templates). CPython's full collection walks all of them:
about 130 ms on the benchmark machine, once every thousand requests or so, and whichever request
is running then waits for it (the page benchmarks' p99 of 45 to 70 ms). Nothing among them ever
becomes garbage, so the serving entry point (``wsgi.py``) moves them into the collector's
permanent generation, once when the app is built and once more after the first requests have
compiled the templates and statements that warm-up creates. Requests' own garbage is collected
as before.
"""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask

WARM_AFTER_REQUESTS = 200


def keep_long_lived_out_of_collections(app: Flask, *, warm_after: int = WARM_AFTER_REQUESTS) -> None:
    """Freeze what is alive now, and again after this process's ``warm_after``-th request."""
    gc.freeze()
    served = 0

    def count(response: Any) -> Any:
        nonlocal served
        served += 1
        if served == warm_after:
            gc.freeze()
        return response

    app.after_request(count)
