"""The in-process backend: one daemon thread per app that runs jobs in order, each in the app's
context (the embedded default ``thread``, and ``eager``, which waits for it)."""

from __future__ import annotations

import logging
import queue
import threading

from flask import Flask

from clinic_app.core.jobs.run import run_job

log = logging.getLogger("clinic_app.jobs")


class LocalWorker:
    """One daemon thread that runs jobs in order, each in its own app context."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.queue: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="clinic-jobs", daemon=True)
        self.thread.start()

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)

    def wait_idle(self) -> None:
        self.queue.join()

    def _loop(self) -> None:
        while True:
            job_id = self.queue.get()
            try:
                with self.app.app_context():
                    run_job(job_id)
            except Exception:
                log.exception("job crashed", extra={"event": "job_crashed", "job_id": job_id})
            finally:
                self.queue.task_done()


_local_lock = threading.Lock()


def local_worker(app: Flask) -> LocalWorker:
    """The app's worker thread, started on first use."""
    with _local_lock:
        worker = app.extensions.get("clinic_local_worker")
        if worker is None:
            worker = LocalWorker(app)
            app.extensions["clinic_local_worker"] = worker
        return worker


def wait_for_local_jobs(app: Flask) -> None:
    """Block until the in-process worker has nothing left (tests and CLI commands use this)."""
    worker = app.extensions.get("clinic_local_worker")
    if worker is not None:
        worker.wait_idle()
