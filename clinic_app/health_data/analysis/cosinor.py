"""Single-component 24-hour cosinor (Nelson et al. 1979; Cornelissen 2014) by ordinary least squares.

y(t) = M + b cos(2 pi t / 24) + g sin(2 pi t / 24), t in hours of the recorded clock. Then
mesor = M, amplitude = sqrt(b^2 + g^2), acrophase_hours = the clock time of the fitted peak
(atan2(g, b) * 24 / (2 pi), modulo 24), r_squared = 1 - SS_residual / SS_total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

PERIOD_HOURS = 24.0


def _solve3(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting for a 3x3 system; None if singular."""
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, 3):
            factor = m[r][col] / m[col][col]
            for c in range(col, 4):
                m[r][c] -= factor * m[col][c]
    x = [0.0, 0.0, 0.0]
    for r in (2, 1, 0):
        x[r] = (m[r][3] - sum(m[r][c] * x[c] for c in range(r + 1, 3))) / m[r][r]
    return x


def cosinor(times: Sequence[datetime], values: Sequence[float | None]) -> dict | None:
    """Fit the 24-h cosinor to the non-missing points; ``None`` if there are too few or the fit is singular."""
    points = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
    if len(points) < 3:
        return None
    origin = datetime.combine(points[0][0].date(), datetime.min.time())
    omega = 2 * math.pi / PERIOD_HOURS
    rows = []
    for moment, value in points:
        hours = (moment - origin).total_seconds() / 3600
        rows.append((1.0, math.cos(omega * hours), math.sin(omega * hours), float(value)))
    normal = [[math.fsum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    rhs = [math.fsum(r[i] * r[3] for r in rows) for i in range(3)]
    solution = _solve3(normal, rhs)
    if solution is None:
        return None
    mesor, beta, gamma = solution
    mean = math.fsum(r[3] for r in rows) / len(rows)
    ss_total = math.fsum((r[3] - mean) ** 2 for r in rows)
    ss_residual = math.fsum((r[3] - (mesor + beta * r[1] + gamma * r[2])) ** 2 for r in rows)
    acrophase = (math.atan2(gamma, beta) / omega) % PERIOD_HOURS
    return {
        "mesor": mesor,
        "amplitude": math.hypot(beta, gamma),
        "acrophase_hours": acrophase,
        "r_squared": None if ss_total == 0 else 1 - ss_residual / ss_total,
    }
