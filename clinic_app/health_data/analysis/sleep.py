"""Sleep/wake scoring of activity counts: Cole-Kripke 1992 (+ Webster rescoring), Sadeh 1994, Oakley.

Every scorer takes the counts of consecutive epochs (missing epochs given as 0 by the caller) and
returns one boolean per epoch, True = sleep. Epochs outside the recording count as 0 in a window.
The constants and their references are in docs/health-data.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Cole, Kripke et al. 1992, Sleep 15(5):461-469, 1-minute epochs: D = P * sum(W_i * A_i),
# A_-4 .. A_+2 (four epochs before, the epoch, two after); sleep if D < 1. As in ActiGraph's
# implementation for 1-minute counts, A = min(counts / 100, 300).
COLE_KRIPKE_SCALE = 0.001
COLE_KRIPKE_COUNT_DIVISOR = 100
COLE_KRIPKE_CAP = 300
COLE_KRIPKE_WEIGHTS = (106, 54, 58, 76, 230, 74, 67)  # A0, A+1, A+2
COLE_KRIPKE_BEFORE = 4

# Webster et al. 1982 rescoring rules as Cole & Kripke applied them (minutes of 1-minute epochs).
WEBSTER_AFTER_WAKE = ((15, 4), (10, 3), (4, 1))  # (wake run at least, sleep epochs rescored)
WEBSTER_SURROUNDED = ((6, 10), (10, 20))  # (sleep run at most, wake on both sides at least)

# Sadeh et al. 1994, Sleep 17(3):201-207: PS = 7.601 - 0.065 MW5 - 1.08 NAT - 0.056 SD6 - 0.703 LG
SADEH_OFFSET = 7.601
SADEH_WEIGHTS = (-0.065, -1.08, -0.056, -0.703)
SADEH_COUNT_CAP = 300
SADEH_NAT_RANGE = (50, 100)  # 50 <= A < 100

# Oakley 1997 (Actiware, Cambridge Neurotechnology / Philips Respironics): a weighted total over the
# neighbouring epochs; wake if the total is above the wake threshold.
OAKLEY_THRESHOLDS = {"low": 20, "medium": 40, "high": 80}
OAKLEY_WEIGHTS = {  # by epoch length in seconds; centred windows
    30: (0.04, 0.04, 0.2, 0.2, 2.0, 0.2, 0.2, 0.04, 0.04),
    60: (0.04, 0.2, 1.0, 0.2, 0.04),
    120: (0.12, 0.5, 0.12),
}


def _window_total(counts: Sequence[float], index: int, weights: Sequence[float], before: int) -> float:
    total = 0.0
    for k, weight in enumerate(weights):
        j = index - before + k
        if 0 <= j < len(counts):
            total += weight * counts[j]
    return total


def _runs(sleep: Sequence[bool]) -> list[tuple[bool, int, int]]:
    """``[(state, start, length)]`` of consecutive equal values."""
    runs: list[tuple[bool, int, int]] = []
    for i, state in enumerate(sleep):
        if runs and runs[-1][0] == state:
            runs[-1] = (state, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((state, i, 1))
    return runs


def webster_rescore(sleep: Sequence[bool]) -> list[bool]:
    """Webster's rules on 1-minute epochs (True = sleep).

    a-c: after at least 4 (10, 15) minutes of wake, the first 1 (3, 4) minutes of sleep become wake;
    d-e: a sleep bout of at most 6 (10) minutes with at least 10 (20) minutes of wake on both sides
    becomes wake. Rules a-c read the original scoring, d-e the result of a-c.
    """
    result = list(sleep)
    runs = _runs(sleep)
    for position, (state, start, length) in enumerate(runs):
        if not state or position == 0:
            continue
        wake_before = runs[position - 1][2]
        for minimum, rescored in WEBSTER_AFTER_WAKE:
            if wake_before >= minimum:
                for i in range(start, start + min(rescored, length)):
                    result[i] = False
                break
    runs = _runs(result)
    for position in range(1, len(runs) - 1):
        state, start, length = runs[position]
        if not state:
            continue
        before, after = runs[position - 1][2], runs[position + 1][2]
        if any(length <= most and before >= wake and after >= wake for most, wake in WEBSTER_SURROUNDED):
            for i in range(start, start + length):
                result[i] = False
    return result


def cole_kripke(counts: Sequence[float], *, rescore: bool = True, scale: float = COLE_KRIPKE_SCALE) -> list[bool]:
    """Cole-Kripke 1992 on 1-minute epochs: sleep where D = P * sum(W_i A_i) < 1, then Webster's rules.

    A_i = min(count_i / 100, 300).
    """
    scaled = [min(c / COLE_KRIPKE_COUNT_DIVISOR, COLE_KRIPKE_CAP) for c in counts]
    sleep = [scale * _window_total(scaled, i, COLE_KRIPKE_WEIGHTS, COLE_KRIPKE_BEFORE) < 1 for i in range(len(scaled))]
    return webster_rescore(sleep) if rescore else sleep


def sadeh_scores(counts: Sequence[float]) -> list[float]:
    """Sadeh's PS per epoch (counts capped at 300; windows truncated at the ends of the record)."""
    capped = [min(float(c), SADEH_COUNT_CAP) for c in counts]
    low, high = SADEH_NAT_RANGE
    scores = []
    for i, activity in enumerate(capped):
        window = capped[max(0, i - 5) : i + 6]
        mean_w5 = math.fsum(window) / len(window)
        nat = sum(1 for a in window if low <= a < high)
        last6 = capped[max(0, i - 5) : i + 1]
        sd6 = statistics.stdev(last6) if len(last6) > 1 else 0.0
        lg = math.log(activity + 1)
        w = SADEH_WEIGHTS
        scores.append(SADEH_OFFSET + w[0] * mean_w5 + w[1] * nat + w[2] * sd6 + w[3] * lg)
    return scores


def sadeh(counts: Sequence[float]) -> list[bool]:
    """Sadeh 1994 on 1-minute epochs: sleep where PS > 0."""
    return [score > 0 for score in sadeh_scores(counts)]


def oakley(counts: Sequence[float], *, epoch_seconds: int = 60, threshold: str | float = "medium") -> list[bool]:
    """Oakley (Actiware): sleep where the weighted total is at or below the wake threshold (20/40/80)."""
    if epoch_seconds not in OAKLEY_WEIGHTS:
        raise ValueError(f"Oakley scoring supports epochs of {sorted(OAKLEY_WEIGHTS)} seconds")
    limit = OAKLEY_THRESHOLDS[threshold] if isinstance(threshold, str) else float(threshold)
    weights = OAKLEY_WEIGHTS[epoch_seconds]
    before = len(weights) // 2
    return [_window_total(counts, i, weights, before) <= limit for i in range(len(counts))]


ALGORITHMS = ("cole_kripke", "sadeh", "oakley")


def score(counts: Sequence[float], algorithm: str = "cole_kripke", *, epoch_seconds: int = 60) -> list[bool]:
    """Score with the named algorithm; Cole-Kripke and Sadeh need 1-minute epochs."""
    if algorithm == "oakley":
        return oakley(counts, epoch_seconds=epoch_seconds)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown sleep scoring algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    if epoch_seconds != 60:
        raise ValueError(f"{algorithm} is defined for 60-second epochs, not {epoch_seconds} s")
    return cole_kripke(counts) if algorithm == "cole_kripke" else sadeh(counts)
