"""Cliniko's API as seen from outside a connection: which shard a key belongs to and where that
shard's API lives, the hint shown instead of a key, how a list names its records, how a linked
record gives its id, the "changed since" filter, one page of a list, and the errors a call can end
in (each fit to show an admin, none holding the key). ``client`` makes the calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.{shard}.cliniko.com/v1"
SHARDS = ("au1", "au2", "au3", "au4", "ca1", "uk1", "uk2", "eu1")
DEFAULT_SHARD = "au1"
# List paths that qualify a resource rather than name it: /practitioners/inactive lists practitioners.
_QUALIFIER_SEGMENTS = frozenset({"inactive", "archived", "deleted", "cancelled"})


def shard_of(api_key: str) -> str:
    """The shard an API key belongs to: its suffix after the last ``-`` when that names a known
    shard; Cliniko's older keys carry no suffix and live on ``au1``."""
    _, dash, suffix = api_key.strip().rpartition("-")
    suffix = suffix.lower()
    return suffix if dash and suffix in SHARDS else DEFAULT_SHARD


def base_url_for(api_key: str, template: str | None = None) -> str:
    """The API root for this key: ``template`` (default Cliniko's) with ``{shard}`` filled in.

    Only ``{shard}`` is substituted, so a template may hold other braces without surprises.
    """
    chosen = (template or DEFAULT_BASE_URL).strip()
    return chosen.replace("{shard}", shard_of(api_key)).rstrip("/")


def id_from_link(value: dict | None) -> str | None:
    """The id of a linked record, from ``{"links": {"self": ".../patients/82"}}`` -> ``"82"``.

    Cliniko gives related records only as links, so this is how an appointment learns its patient.
    """
    if not isinstance(value, dict):
        return None
    links = value.get("links")
    target = links.get("self") if isinstance(links, dict) else None
    if not isinstance(target, str) or not target.strip():
        return None
    path = httpx.URL(target.strip()).path.rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    return segment or None


def updated_since(moment: datetime) -> str:
    """The ``q[]`` filter for records changed after ``moment``: ``updated_at:>2025-06-01T00:00:00Z``.

    A naive ``moment`` is taken as UTC (the app's convention). Fractions of a second are dropped,
    which moves the bound earlier, never later: at worst a record is fetched twice, never missed.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return "updated_at:>" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mask_key(api_key: str) -> str:
    """A hint that lets an admin recognise a key without revealing it: ``••••••••abcd-au4``.

    At most four characters of the secret part are shown, and none when the key is short.
    """
    key = api_key.strip()
    body, dash, suffix = key.rpartition("-")
    if not (dash and suffix.lower() in SHARDS):
        body, suffix = key, ""
    visible = body[-4:] if len(body) >= 16 else ""
    return "••••••••" + visible + (f"-{suffix}" if suffix else "")


class ClinikoError(Exception):
    """Anything that stopped a Cliniko call; ``str()`` is fit to show an admin and holds no key."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword arguments, which Exception's default pickling cannot replay;
        # rebuild from the message and attributes so errors survive a trip between processes.
        return (_restore_error, (type(self), self.message, dict(self.__dict__)))


def _restore_error(cls: type[ClinikoError], message: str, state: dict[str, Any]) -> ClinikoError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ClinikoAuthError(ClinikoError):
    """Cliniko answered 401: the key is wrong, revoked, or was sent to another shard."""

    def __init__(self, *, shard: str, host: str) -> None:
        super().__init__(
            "Cliniko answered 401 Unauthorized: the API key was refused: wrong key, or the key belongs to another "
            f"shard (this key is for {shard}, sent to {host}).",
            status_code=401,
        )
        self.shard = shard
        self.host = host


class ClinikoRequestError(ClinikoError):
    """A request Cliniko will not answer however often it is sent (a 4xx other than 401 and 429),
    or an answer that is not what the API documents."""

    def __init__(self, message: str, *, status_code: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message, status_code=status_code)
        self.body_excerpt = body_excerpt


class ClinikoUnavailable(ClinikoError):
    """Cliniko could not be reached or kept failing (429s, 5xx, timeouts) until the retries ran out."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 0) -> None:
        super().__init__(message, status_code=status_code)
        self.attempts = attempts


@dataclass(frozen=True)
class Page:
    """One page of a list. ``next_url`` is what to save as a resume point; ``total_entries`` is what
    Cliniko says the whole list holds, for the engine to compare with what it received."""

    resource: str
    items: list[dict]
    total_entries: int
    number: int
    next_url: str | None


def items_key(resource: str) -> str:
    """The key a list's records arrive under: the resource's last path segment, except that a
    qualifier such as ``inactive`` names a filtered view of the segment before it."""
    segments = [segment for segment in resource.strip("/").split("/") if segment]
    if not segments:
        raise ValueError("a resource name is required")
    if len(segments) > 1 and segments[-1] in _QUALIFIER_SEGMENTS:
        return segments[-2]
    return segments[-1]
