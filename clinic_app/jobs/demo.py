"""A job with real, visible progress, so the whole pipeline (page -> queue -> worker -> page) can
be seen working before the real jobs (sync, report generation) exist."""

from __future__ import annotations

import time
from typing import Any

from clinic_app.core.jobs import JobContext, job_function

DEMO_KIND = "demo.countdown"


@job_function(DEMO_KIND, queue="default", timeout=300)
def countdown(ctx: JobContext, steps: int, delay_seconds: float) -> dict[str, Any]:
    for done in range(1, steps + 1):
        time.sleep(delay_seconds)
        ctx.progress(done * 100 / steps, step=f"Step {done} of {steps}")
    return {"steps": steps}
