"""Which job kinds an app runs, and who may watch or stop them.

``@job_function(kind, ...)`` only declares: it validates the kind's settings and attaches them to
the function (``function.job_spec``). Nothing is registered by importing a module; the app factory
lists its job functions and calls ``register_jobs(app, [...])``, as it registers its blueprints.
The registry belongs to the app (``app.extensions``), so everything that reads it runs in an app
context.

A job is about something (a report, a sync, the audit trail), so the people who may watch or stop
it are the people who may see or act on that subject: the kind names the permission to see its
jobs and the permission to cancel them (``may_read``, ``may_cancel``). A kind without a read
permission (a system job such as key rotation) is shown to nobody through the job pages and API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from clinic_app.core.jobs.model import QUEUES, Job

EXTENSION = "clinic_jobs"


@dataclass(frozen=True)
class JobSpec:
    kind: str
    function: Callable[..., dict[str, Any] | None]
    queue: str
    timeout: int
    retries: int
    # Who may see jobs of this kind, and who may cancel them (None: nobody, through the job routes).
    read_permission: str | None = None
    cancel_permission: str | None = None


@dataclass
class Registry:
    """An app's job kinds, and the dotted name of the function an RQ worker calls with a job id
    (the composition root's: it gives the worker process an app)."""

    rq_entry: str
    specs: dict[str, JobSpec] = field(default_factory=dict)


def job_function(
    kind: str,
    *,
    queue: str = "default",
    timeout: int = 600,
    retries: int = 0,
    read_permission: str | None = None,
    cancel_permission: str | None = None,
) -> Callable[..., Any]:
    """Declare ``function(ctx, **params)`` as the job ``kind`` (``register_jobs`` registers it).

    ``read_permission`` is what a member or API token needs to see a job of this kind (its status,
    progress, parameters and result); ``cancel_permission`` what they need, on top of that, to
    cancel it. Left out, jobs of the kind are seen and cancelled by no one through the job routes.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if cancel_permission is not None and read_permission is None:
        raise ValueError(f"job {kind!r}: a cancel permission needs a read permission")

    def declare(function: Callable[..., Any]) -> Callable[..., Any]:
        function.job_spec = JobSpec(  # type: ignore[attr-defined]
            kind, function, queue, timeout, retries, read_permission, cancel_permission
        )
        return function

    return declare


def register_jobs(app: Flask, functions: Iterable[Callable[..., Any]], *, rq_entry: str) -> None:
    """Make ``functions`` (each declared with ``@job_function``) the job kinds ``app`` runs.
    ``rq_entry`` is the dotted name RQ calls with a job id. Registering a kind twice with another
    function is a mistake, and says so."""
    registry = app.extensions.setdefault(EXTENSION, Registry(rq_entry))
    registry.rq_entry = rq_entry
    for function in functions:
        spec = getattr(function, "job_spec", None)
        if not isinstance(spec, JobSpec):
            raise TypeError(f"{function!r} is not declared with @job_function")
        known = registry.specs.get(spec.kind)
        if known is not None and known.function is not function:
            raise ValueError(f"job kind {spec.kind!r} is registered twice")
        registry.specs[spec.kind] = spec


def registry(app: Flask | None = None) -> Registry:
    """The app's registry (``current_app``'s by default); empty when it registered no jobs."""
    app = app or current_app
    found = app.extensions.get(EXTENSION)
    return found if found is not None else Registry(rq_entry="")


def spec_for(kind: str, app: Flask | None = None) -> JobSpec | None:
    return registry(app).specs.get(kind)


def registered_kinds(app: Flask | None = None) -> list[str]:
    return sorted(registry(app).specs)


def may_read(job: Job, can: Callable[[str], bool]) -> bool:
    """Whether a caller whose permissions ``can`` answers may see ``job`` (its organization is the
    caller's to check)."""
    spec = spec_for(job.kind)
    return spec is not None and spec.read_permission is not None and can(spec.read_permission)


def may_cancel(job: Job, can: Callable[[str], bool]) -> bool:
    """Whether that caller may also cancel ``job``."""
    spec = spec_for(job.kind)
    return (
        spec is not None and spec.cancel_permission is not None and may_read(job, can) and can(spec.cancel_permission)
    )


def policy_table(modules: str = "clinic_app.", app: Flask | None = None) -> str:
    """Who sees and cancels each job kind registered by ``modules``, as Markdown for
    docs/permissions.md."""
    rows = ["| Job kind | Seen with | Cancelled with |", "|---|---|---|"]
    for spec in sorted(registry(app).specs.values(), key=lambda s: s.kind):
        if not spec.function.__module__.startswith(modules):
            continue
        read = f"`{spec.read_permission}`" if spec.read_permission else "nobody (not shown)"
        cancel = f"`{spec.cancel_permission}`" if spec.cancel_permission else "nobody"
        rows.append(f"| `{spec.kind}` | {read} | {cancel} |")
    return "\n".join(rows)
