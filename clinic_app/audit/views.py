"""The audit trail page (``admin:audit``): the organization's own events, newest first, with
filters, pages of 50, and the state of its hash chain as the last verification left it (the
page never reads the chain itself: "Verify now" starts the background check, whose progress the
page polls).

Every read below is scoped to the organization's own chain, so another organization's events and
the system chain (events with no organization, such as a failed log-in for an unknown address)
never appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from flask import make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, exists, select

from clinic_app.accounts.models import User
from clinic_app.audit import bp, verification
from clinic_app.audit.forms import OUTCOME_LABELS, AuditFilterForm
from clinic_app.auth.models import ApiToken
from clinic_app.core import audit
from clinic_app.core.access import requires
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Unavailable
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import local_midnight, organization_zone, utcnow
from clinic_app.core.web import done, is_htmx, render_page
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

PAGE_SIZE = 50


@dataclass(frozen=True)
class TrailFilters:
    action: str | None = None
    outcome: str | None = None
    actor_user_id: str | None = None
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC


@dataclass(frozen=True)
class TrailRow:
    id: str
    seq: int
    created_at: datetime
    actor: str | None  # None: the system (no person or token)
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    request_id: str | None


@dataclass(frozen=True)
class TrailPage:
    rows: list[TrailRow]
    # Event ids to page from: the page of newer events before this one, of older events after it.
    newer_cursor: str | None
    older_cursor: str | None


# --- reading the trail ------------------------------------------------------------------------


def _conditions(organization_id: str, filters: TrailFilters) -> list[ColumnElement[bool]]:
    conditions = [AuditEvent.chain == organization_id, AuditEvent.organization_id == organization_id]
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    if filters.outcome:
        conditions.append(AuditEvent.outcome == filters.outcome)
    if filters.actor_user_id:
        conditions.append(AuditEvent.actor_user_id == filters.actor_user_id)
    if filters.since:
        conditions.append(AuditEvent.created_at >= filters.since)
    if filters.until:
        conditions.append(AuditEvent.created_at < filters.until)
    return conditions


def _cursor_seq(organization_id: str, event_id: str | None) -> int | None:
    if not event_id:
        return None
    return db.session.scalar(
        select(AuditEvent.seq).where(AuditEvent.chain == organization_id, AuditEvent.id == event_id)
    )


def _any(conditions: list[ColumnElement[bool]]) -> bool:
    return bool(db.session.scalar(select(exists().where(*conditions))))


def _actor_label(user_name: str | None, token_name: str | None, event: AuditEvent) -> str | None:
    if user_name:
        return user_name
    if token_name:
        return f"API token “{token_name}”"
    if event.actor_user_id or event.actor_token_id:  # the account or token no longer exists
        return event.actor_user_id or event.actor_token_id
    return None


def trail_page(
    organization_id: str, filters: TrailFilters, *, before: str | None = None, after: str | None = None
) -> TrailPage:
    """One page of the organization's events, newest first.

    ``before=<event id>`` gives the page of events older than that one, ``after=<event id>`` the
    page of newer ones (ids, never sequence numbers, in URLs). Pages follow the chain's sequence,
    so they stay stable while new events arrive. An id that is not in this organization's chain
    is ignored: the first page.
    """
    conditions = _conditions(organization_id, filters)
    query = (
        select(AuditEvent, User.display_name, ApiToken.name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .outerjoin(ApiToken, (ApiToken.id == AuditEvent.actor_token_id) & (ApiToken.organization_id == organization_id))
        .where(*conditions)
    )
    after_seq = _cursor_seq(organization_id, after)
    before_seq = _cursor_seq(organization_id, before) if after_seq is None else None
    if after_seq is not None:
        found = db.session.execute(query.where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq).limit(PAGE_SIZE))
        result = list(found)[::-1]
    else:
        if before_seq is not None:
            query = query.where(AuditEvent.seq < before_seq)
        result = list(db.session.execute(query.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE)))
    if not result:
        return TrailPage(rows=[], newer_cursor=None, older_cursor=None)
    rows = [
        TrailRow(
            id=event.id,
            seq=event.seq,
            created_at=event.created_at,
            actor=_actor_label(user_name, token_name, event),
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            outcome=event.outcome,
            request_id=event.request_id,
        )
        for event, user_name, token_name in result
    ]
    newest, oldest = rows[0], rows[-1]
    return TrailPage(
        rows=rows,
        newer_cursor=newest.id if _any([*conditions, AuditEvent.seq > newest.seq]) else None,
        older_cursor=oldest.id if _any([*conditions, AuditEvent.seq < oldest.seq]) else None,
    )


def trail_actions(organization_id: str) -> list[str]:
    """The actions that occur in the organization's trail, alphabetically."""
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.chain == organization_id, AuditEvent.organization_id == organization_id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )


# --- the page ---------------------------------------------------------------------------------


def _filter_form(organization_id: str) -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = [("", "Any action")] + [(action, action) for action in trail_actions(organization_id)]
    form.actor.choices = [("", "Anyone")] + [
        (user.id, user.display_name if membership.is_active else f"{user.display_name} (former member)")
        for membership, user in orgs.members(organization_id)
    ]
    return form


def _local_midnight(day: date | None, zone: tzinfo) -> datetime | None:
    """The start of ``day`` in the organization's time zone, in UTC (None: no bound)."""
    if day is None:
        return None
    try:
        return local_midnight(day, zone).astimezone(UTC)
    except OverflowError:  # the first or last day of the calendar: nothing lies beyond it
        return None


def _filters(form: AuditFilterForm, zone: tzinfo) -> TrailFilters:
    # "To" includes the whole day: events before the next local midnight.
    to_day = form.date_to.data
    until_day = to_day + timedelta(days=1) if to_day and to_day < date.max else None
    return TrailFilters(
        action=form.action.data or None,
        outcome=form.outcome.data or None,
        actor_user_id=form.actor.data or None,
        since=_local_midnight(form.date_from.data, zone),
        until=_local_midnight(until_day, zone),
    )


def _wants_fragment() -> bool:
    # htmx restoring history after a cache miss replaces the whole body: it needs the full page.
    return is_htmx() and request.headers.get("HX-History-Restore-Request") != "true"


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _member_names(*user_ids: str | None) -> dict[str, str]:
    wanted = {user_id for user_id in user_ids if user_id}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


def _verification_context(organization_id: str, zone: tzinfo, **extra: object) -> dict[str, object]:
    status = verification.verification_status(organization_id)
    checkpoint = status.checkpoint
    names = _member_names(checkpoint.verified_by_id, checkpoint.checked_by_id) if checkpoint else {}
    return {
        "verification": status,
        "names": names,
        "ago": _ago,
        "local_time": lambda value: value.astimezone(zone).strftime("%d %b %Y, %H:%M:%S %Z"),
        **extra,
    }


@bp.get("/audit")
@requires("admin:audit")
def events() -> ResponseReturnValue:
    organization_id = current_organization_id()
    zone = organization_zone(organization_id)
    form = _filter_form(organization_id)
    page = None
    cursors = {"before": request.args.get("before"), "after": request.args.get("after")}
    if form.validate():
        page = trail_page(organization_id, _filters(form, zone), **cursors)
    context = {
        "form": form,
        "page": page,
        "zone": zone,
        "outcome_labels": OUTCOME_LABELS,
        "local_time": lambda value: value.astimezone(zone).strftime("%d %b %Y, %H:%M:%S %Z"),
        "page_url": lambda **cursor: url_for("audit.events", **form.query_args(), **cursor),
    }
    status = 200 if page is not None else 422
    if _wants_fragment():
        return render_template("audit/_events.html", **context), status
    context.update(_verification_context(organization_id, zone))
    # Reading the trail is itself recorded, after the reads above: an event pending in the session
    # is chained, under the chain's lock, as soon as the trail is read in the same transaction.
    # Full page loads only; the filters are ids and dates, no PHI.
    audit.record(
        "audit.viewed",
        organization_id=organization_id,
        actor=current_actor(),
        target_type="audit_trail",
        details={**form.query_args(), **{name: value for name, value in cursors.items() if value}},
    )
    return render_template("audit/events.html", **context), status


@bp.get("/audit/verification")
@requires("admin:audit")
def verification_panel() -> ResponseReturnValue:
    """The chain's verification state; while a run is in progress the fragment polls itself."""
    organization_id = current_organization_id()
    context = _verification_context(organization_id, organization_zone(organization_id))
    return render_page("audit/verification.html", "audit/_verification.html", **context)


@bp.post("/audit/verify")
@requires("admin:audit")
def start_verification() -> ResponseReturnValue:
    organization_id = current_organization_id()
    try:
        _job, started = verification.start_verification(organization_id, actor=current_actor())
    except Unavailable as error:
        context = _verification_context(
            organization_id,
            organization_zone(organization_id),
            error=f"The verification could not be started. {error.detail}",
        )
        return make_response(render_page("audit/verification.html", "audit/_verification.html", **context), 503)
    if started:
        notice = "Verification started: the events recorded since the last checkpoint are being checked."
    else:
        notice = "A verification is already running, so no second one was started. Its progress is shown here."
    if not is_htmx():
        return done(notice, url_for("audit.events"), "success" if started else "info")
    context = _verification_context(organization_id, organization_zone(organization_id), notice=notice)
    return render_template("audit/_verification.html", **context)
