"""The sync benchmarks' baseline, in its own process: ``python -m bench.sync_walk --base-url URL``.

A bare ``ClinikoClient`` reads every page of every list a comprehensive sync reads, with the same
filters, and stores nothing: the cost of the transfer alone. The API key comes on standard input;
one JSON line (seconds, requests, records per list) goes to standard output. bench/sync.py runs it
under the harness's measuring wrapper, so it imports only what the walk needs (not the harness nor
the app's database layer): its time and peak memory are the walk's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench.settings import HOST
from clinic_app.sync.client import ClinikoClient

PER_PAGE = 100

# Every list a comprehensive sync reads, with its filters, as clinic_app/sync/engine.py asks for
# them (businesses, practitioners active and inactive, appointment types, patients and
# appointments including archived, cancelled and deleted ones), in id order.
SYNC_READS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("businesses", ()),
    ("practitioners", (("sort", "id"),)),
    ("practitioners/inactive", (("sort", "id"),)),
    ("appointment_types", (("q[]", "archived_at:*"), ("sort", "id"))),
    ("patients", (("q[]", "archived_at:*"), ("q[]", "deleted_at:*"), ("sort", "id"))),
    (
        "individual_appointments",
        (("q[]", "archived_at:*"), ("q[]", "cancelled_at:*"), ("q[]", "deleted_at:*"), ("sort", "id")),
    ),
)


def walk(api_key: str, base_url_template: str, per_minute: int | None) -> dict[str, Any]:
    """Read every page of every list the sync reads, keeping only counts."""
    pacing = {} if per_minute is None else {"requests_per_minute": per_minute}
    started = time.perf_counter()
    records: dict[str, int] = {}
    with ClinikoClient(api_key, base_url=base_url_template, **pacing) as client:
        for resource, params in SYNC_READS:
            for page in client.iter_pages(resource, params=list(params), per_page=PER_PAGE):
                records[resource] = records.get(resource, 0) + len(page.items)
        stats = client.stats
    return {
        "seconds": time.perf_counter() - started,
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "records": records,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.sync_walk``: the baseline's child process."""
    parser = argparse.ArgumentParser(
        description="The sync benchmarks' baseline: read every list the sync reads from the sandbox, store nothing. "
        "The API key comes on standard input."
    )
    parser.add_argument("--base-url", required=True, help="the sandbox's base URL template (127.0.0.1 only)")
    parser.add_argument("--per-minute", type=int, default=None, help="client pacing (default: the client's own)")
    args = parser.parse_args(argv)
    if not args.base_url.startswith(f"http://{HOST}:"):
        parser.error(f"the base URL must be on {HOST}")
    api_key = sys.stdin.readline().strip()
    print(json.dumps(walk(api_key, args.base_url, args.per_minute)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
