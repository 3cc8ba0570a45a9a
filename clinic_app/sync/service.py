"""The sync feature's service, as other features, commands and tools call it: the Cliniko
connection (``connection``), reading runs (``runs``), a run's life from start to finish
(``lifecycle``) and the schedule (``schedule``).

Every function takes the organization explicitly; another organization's run is ``NotFound``,
exactly like one that does not exist. Functions only flush: the request, job or command commits
(a started sync is queued when that commit happens). The API key is encrypted at rest, only its
hint (``••••••••abcd-au4``) is ever shown, logged or audited. The package's pages, API and
commands call this module too; its domain modules (connection, runs, lifecycle, schedule, engine,
job, scheduler) import the module that defines a function, never this one, so none imports back.
"""

from clinic_app.sync.connection import (
    NOT_CONNECTED,
    UNREACHABLE,
    client_for,
    connect,
    connection_status,
    disconnect,
    get_connection,
    is_cliniko_address,
    test_connection,
)
from clinic_app.sync.lifecycle import (
    STALE_DETAIL,
    cancel_sync,
    fail_stale_runs,
    finish_run,
    resume_sync,
    start_sync,
)
from clinic_app.sync.runs import get_run, history, history_summary, progress_of, running_run
from clinic_app.sync.schedule import (
    configure_schedule,
    due_for_scheduled_sync,
    mode_for_scheduled_trigger,
    mode_for_trigger,
)

__all__ = [
    "NOT_CONNECTED",
    "STALE_DETAIL",
    "UNREACHABLE",
    "cancel_sync",
    "client_for",
    "configure_schedule",
    "connect",
    "connection_status",
    "disconnect",
    "due_for_scheduled_sync",
    "fail_stale_runs",
    "finish_run",
    "get_connection",
    "get_run",
    "history",
    "history_summary",
    "is_cliniko_address",
    "mode_for_scheduled_trigger",
    "mode_for_trigger",
    "progress_of",
    "resume_sync",
    "running_run",
    "start_sync",
    "test_connection",
]
