"""Non-wear: runs of at least 90 consecutive minutes of zero counts (the window of Choi et al. 2011).

Variant: the strict form, with no allowance for short non-zero interruptions (Choi's 2-minute
artifact tolerance is not applied), so any count > 0 ends a run; a missing epoch also ends a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NONWEAR_MINUTES = 90


def nonwear_mask(values: Sequence[float | None], *, epoch_seconds: float = 60, minutes: float = NONWEAR_MINUTES):
    """One boolean per epoch: True where the epoch is in a zero run of at least ``minutes``."""
    needed = math.ceil(minutes * 60 / epoch_seconds)
    mask = [False] * len(values)
    run_start = None
    for i, value in enumerate([*values, None]):
        if value is not None and value == 0:
            if run_start is None:
                run_start = i
            continue
        if run_start is not None and i - run_start >= needed:
            for j in range(run_start, i):
                mask[j] = True
        run_start = None
    return mask


def wear_fraction(values: Sequence[float | None], mask: Sequence[bool]) -> float:
    """Share of all epochs that have a value and are not non-wear (0 for an empty series)."""
    if not values:
        return 0.0
    valid = sum(1 for v, m in zip(values, mask, strict=True) if v is not None and not m)
    return valid / len(values)
