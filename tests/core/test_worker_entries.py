"""The dotted names create_app registers for RQ (``clinic_app.RUN_JOB`` and ``CLOCK_TICK``) are the
worker module's entries: the names are written out, not imported, so a rename must show here."""

from werkzeug.utils import import_string

import clinic_app
from clinic_app import worker
from clinic_app.core import periodic
from clinic_app.core.jobs.registry import registry


def test_the_names_create_app_gives_rq_are_the_worker_entries():
    assert import_string(clinic_app.RUN_JOB) is worker.run_job
    assert import_string(clinic_app.CLOCK_TICK) is worker.clock_tick


def test_an_app_registers_those_names(app):
    assert registry(app).rq_entry == clinic_app.RUN_JOB
    assert app.extensions[periodic.EXTENSION].rq_entry == clinic_app.CLOCK_TICK
