"""The fuzz runs' knobs: how many examples, and Hypothesis settings that make a run repeatable.

``FUZZ_EXAMPLES`` (default 10) is the number of generated requests per API operation and of
submissions per form field set; boundary cases the API document implies come on top, up to
``FUZZ_BOUNDARY_CASES`` (default 2 x FUZZ_EXAMPLES) per operation. Runs are derandomized, so CI
sees the same requests every time; ``FUZZ_SEED=<int>`` explores a different, still repeatable,
part of the space. ``FUZZ_REPORT=<directory>`` writes each API operation's outcome there as JSON
(requests sent, statuses seen, findings), passing or not. For example, a longer local run:

    FUZZ_EXAMPLES=200 FUZZ_SEED=7 FUZZ_REPORT=/tmp/fuzz .venv/bin/pytest -n 2 tests/fuzz
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings


def _number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}.")
    return value


EXAMPLES = _number("FUZZ_EXAMPLES", 10)
BOUNDARY_CASES = _number("FUZZ_BOUNDARY_CASES", 2 * EXAMPLES)
SEED = os.environ.get("FUZZ_SEED", "").strip()
REPORT = os.environ.get("FUZZ_REPORT", "").strip()


def fuzz_settings(max_examples: int = EXAMPLES) -> Callable[[Any], Any]:
    """Decorate a ``@given`` function: bounded, no deadline, nothing stored between runs, and no
    shrinking (the harness keeps every distinct failure and the smallest request that showed it,
    rather than stopping at the first)."""
    chosen = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not SEED,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        print_blob=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )

    def apply(test: Any) -> Any:
        test = chosen(test)
        return seed(int(SEED))(test) if SEED else test

    return apply
