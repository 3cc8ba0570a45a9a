"""Background jobs: one API, three backends.

``enqueue(kind, ...)`` records a ``Job`` row and, once the caller's transaction commits, hands the
job id to

* RQ (``JOBS_BACKEND=rq``, the default when ``REDIS_URL`` is set): JSON serializer, named queues,
  timeouts, retries; ``flask worker`` runs the worker and its scheduler;
* an in-process worker thread (``thread``, the embedded default);
* a thread that is waited for (``eager``, for tests that want the result at once).

Job functions are declared with ``@job_function(kind, read_permission=..., cancel_permission=...)``
and registered by the app factory (``register_jobs(app, [...])``). They receive a ``JobContext``
plus the JSON-safe keyword arguments given to ``enqueue`` (ids, never ORM objects or PHI). They
must be idempotent: RQ may run a job again after a crash.

``ctx.progress()`` is a checkpoint: the work flushed so far is committed together with the
progress figure, so a page polling the job sees it move and a job that dies keeps what it
finished. Anything after the last checkpoint is rolled back.

The modules: ``model`` (the row, its statuses, ``JobContext``), ``registry`` (declaring and
registering kinds, who may see and cancel them), ``queueing`` (enqueue, cancel, dispatch after
commit), ``local`` (the in-process worker thread), ``redis_queue`` (RQ's connection and queues),
``run`` (running a job, failing stale ones).
"""

from clinic_app.core.jobs.local import LocalWorker, wait_for_local_jobs
from clinic_app.core.jobs.model import (
    CANCELLED,
    FAILED,
    FINISHED_STATUSES,
    QUEUED,
    QUEUES,
    RUNNING,
    STALE_AFTER,
    SUCCEEDED,
    Job,
    JobCancelled,
    JobContext,
    elapsed_seconds,
    mark_failed,
)
from clinic_app.core.jobs.queueing import enqueue, request_cancel
from clinic_app.core.jobs.redis_queue import redis_connection, rq_queue
from clinic_app.core.jobs.registry import (
    JobSpec,
    job_function,
    may_cancel,
    may_read,
    policy_table,
    register_jobs,
    registered_kinds,
)
from clinic_app.core.jobs.run import fail_stale_jobs, is_stale, run_job

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED_STATUSES",
    "QUEUED",
    "QUEUES",
    "RUNNING",
    "STALE_AFTER",
    "SUCCEEDED",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobSpec",
    "LocalWorker",
    "elapsed_seconds",
    "enqueue",
    "fail_stale_jobs",
    "is_stale",
    "job_function",
    "mark_failed",
    "may_cancel",
    "may_read",
    "policy_table",
    "redis_connection",
    "register_jobs",
    "registered_kinds",
    "request_cancel",
    "rq_queue",
    "run_job",
    "wait_for_local_jobs",
]
