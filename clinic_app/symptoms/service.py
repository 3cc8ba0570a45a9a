"""Searching the symptom catalogue, adding an organization's own symptoms, and keeping the shared
ICD-11 master list in line with the shipped CSV."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Select, and_, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from clinic_app.core import audit
from clinic_app.core.db import new_id
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.symptoms.catalogue import (
    CATEGORIES,
    DEFAULT_CUSTOM_CATEGORY,
    MasterRow,
    category_label,
    read_master_list,
    split_synonyms,
)
from clinic_app.symptoms.models import CustomSymptom, MasterSymptom

MASTER, CUSTOM = "master", "custom"
NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 500
QUERY_MAX_LENGTH = 100
LIMIT_MAX = 100

# Ranks, best first. Within a rank: an exact match (the whole title or synonym), then whole words
# before parts of words, then shorter titles, which are the more general symptom (see _Hit).
EXACT_CODE, CODE_PREFIX, TITLE_PREFIX, WORD_PREFIX, SYNONYM, LOOSE = range(6)

# Chapter 21 codes: "M", a block letter A-H, then a digit ("mb2", "mb24.5", "me84.2").
_CODE_QUERY = re.compile(r"m[a-h]\d[0-9a-z]?(\.[0-9a-z]{0,2})?")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SymptomMatch:
    """One catalogue entry, from either list. ``code`` is None for custom symptoms;
    ``matched_term`` is the synonym that matched when the title itself did not."""

    source: str
    id: str
    code: str | None
    title: str
    category: str
    matched_term: str | None = None

    @property
    def category_label(self) -> str:
        return category_label(self.category)


@dataclass(frozen=True)
class SearchResults:
    """The best ``limit`` matches of ``query``; ``total`` counts every match."""

    query: str
    matches: list[SymptomMatch]
    total: int
    limit: int
    offset: int = 0

    def __iter__(self) -> Iterator[SymptomMatch]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)


@dataclass(frozen=True)
class MasterListSync:
    added: int
    updated: int
    unchanged: int


# --- search ------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _every_token_starts_a_word(tokens: list[str], words: list[str]) -> bool:
    return all(any(word.startswith(token) for word in words) for token in tokens)


class _Hit(NamedTuple):
    rank: int
    exact: bool  # the whole code, title or synonym is the query
    whole_words: bool  # every query word is a whole word of what matched ("sleep" in "Sleep disturbance")
    term: str | None = None  # the synonym that matched

    def sort_key(self, code: str | None, title: str) -> tuple[object, ...]:
        # Code prefixes list in code order; otherwise shorter (more general) titles first.
        order = (code or "",) if self.rank == CODE_PREFIX else (len(title), title.casefold())
        return (self.rank, not self.exact, not self.whole_words, *order)


def _rank(query: str, tokens: list[str], *, code: str | None, title: str, synonyms: list[str]) -> _Hit | None:
    """How well an entry matches ``query`` (already casefolded, single spaces); None: not at all."""
    if code is not None and _CODE_QUERY.fullmatch(query):
        folded_code = code.casefold()
        if folded_code == query:
            return _Hit(EXACT_CODE, True, True)
        if folded_code.startswith(query):
            return _Hit(CODE_PREFIX, False, True)
    if not tokens:
        return None
    folded_title, title_words = title.casefold(), _words(title)
    whole = set(tokens) <= set(title_words)
    if folded_title.startswith(query):
        return _Hit(TITLE_PREFIX, folded_title == query, whole)
    if _every_token_starts_a_word(tokens, title_words):
        return _Hit(WORD_PREFIX, False, whole)
    for term in synonyms:
        folded_term, term_words = term.casefold(), _words(term)
        if folded_term.startswith(query) or _every_token_starts_a_word(tokens, term_words):
            return _Hit(SYNONYM, folded_term == query, set(tokens) <= set(term_words), term)
    # Words spread over the title and synonyms ("knee swelling"), or text inside a word ("ache").
    containing = next((term for term in synonyms if query in term.casefold()), None)
    spread = title_words + [word for term in synonyms for word in _words(term)]
    if query in folded_title or containing or _every_token_starts_a_word(tokens, spread):
        return _Hit(LOOSE, False, set(tokens) <= set(spread), containing)
    return None


def _clean_query(q: str | None) -> str:
    return " ".join((q or "").split())[:QUERY_MAX_LENGTH]


def search(organization_id: str, q: str | None, limit: int = 20, offset: int = 0) -> SearchResults:
    """The master list and ``organization_id``'s custom symptoms matching ``q``, best first:
    exact code, code prefix, title prefix, every word starting a title word, a synonym, then
    looser matches (within each, whole words before parts of words, then shorter titles).
    Case-insensitive. Never includes another organization's custom symptoms.

    An empty ``q`` lists the catalogue: the organization's own symptoms by name, then the master
    list by code. ``limit`` is clamped to 1..100; ``total`` counts all matches; ``offset`` skips
    that many of them (the API's next page).
    """
    shown_query = _clean_query(q)
    query = shown_query.casefold()
    limit = max(1, min(int(limit), LIMIT_MAX))
    offset = max(0, int(offset))
    if not query:
        return _browse(organization_id, limit, offset)
    tokens = _words(query)
    code_like = bool(_CODE_QUERY.fullmatch(query))
    if not tokens and not code_like:
        return SearchResults(query=shown_query, matches=[], total=0, limit=limit)

    ranked: list[tuple[tuple[object, ...], SymptomMatch]] = []
    for row in db.session.execute(_master_candidates(query, tokens, code_like)):
        hit = _rank(query, tokens, code=row.code, title=row.title, synonyms=split_synonyms(row.search_terms))
        if hit is not None:
            match = SymptomMatch(MASTER, row.id, row.code, row.title, row.category, hit.term)
            ranked.append(((*hit.sort_key(row.code, row.title), MASTER), match))
    for row in db.session.execute(_custom_candidates(organization_id, tokens)):
        hit = _rank(query, tokens, code=None, title=row.name, synonyms=[])
        if hit is not None:
            match = SymptomMatch(CUSTOM, row.id, None, row.name, row.category)
            ranked.append(((*hit.sort_key(None, row.name), CUSTOM), match))
    ranked.sort(key=lambda item: item[0])
    return SearchResults(
        query=shown_query,
        matches=[match for _key, match in ranked[offset : offset + limit]],
        total=len(ranked),
        limit=limit,
        offset=offset,
    )


def _master_candidates(query: str, tokens: list[str], code_like: bool) -> Select:
    # A superset of what _rank accepts (every token somewhere in the title or synonyms, or a code
    # prefix); the ranking itself happens in Python, on a few hundred rows at most.
    haystack = func.lower(MasterSymptom.title + " " + MasterSymptom.search_terms)
    conditions = []
    if tokens:
        conditions.append(and_(*(haystack.contains(token, autoescape=True) for token in tokens)))
    if code_like:
        conditions.append(func.lower(MasterSymptom.code).startswith(query, autoescape=True))
    return select(
        MasterSymptom.id, MasterSymptom.code, MasterSymptom.title, MasterSymptom.category, MasterSymptom.search_terms
    ).where(or_(*conditions))


def _custom_candidates(organization_id: str, tokens: list[str]) -> Select:
    # Custom symptoms have no code: a query of punctuation only (no tokens) matches none of them.
    conditions = [CustomSymptom.name_key.contains(token, autoescape=True) for token in tokens] or [false()]
    return select(CustomSymptom.id, CustomSymptom.name, CustomSymptom.category).where(
        CustomSymptom.organization_id == organization_id, *conditions
    )


def _browse(organization_id: str, limit: int, offset: int = 0) -> SearchResults:
    custom_total = db.session.scalar(
        select(func.count()).select_from(CustomSymptom).where(CustomSymptom.organization_id == organization_id)
    )
    master_total = db.session.scalar(select(func.count()).select_from(MasterSymptom))
    custom = db.session.execute(
        select(CustomSymptom.id, CustomSymptom.name, CustomSymptom.category)
        .where(CustomSymptom.organization_id == organization_id)
        .order_by(CustomSymptom.name_key, CustomSymptom.id)
        .offset(offset)
        .limit(limit)
    ).all()
    matches = [SymptomMatch(CUSTOM, row.id, None, row.name, row.category) for row in custom]
    if len(matches) < limit:
        master = db.session.execute(
            select(MasterSymptom.id, MasterSymptom.code, MasterSymptom.title, MasterSymptom.category)
            .order_by(MasterSymptom.code, MasterSymptom.id)
            .offset(max(0, offset - (custom_total or 0)))
            .limit(limit - len(matches))
        ).all()
        matches += [SymptomMatch(MASTER, row.id, row.code, row.title, row.category) for row in master]
    total = (custom_total or 0) + (master_total or 0)
    return SearchResults(query="", matches=matches, total=total, limit=limit, offset=offset)


# --- one symptom -------------------------------------------------------------------------------


def get_symptom(organization_id: str, symptom_id: str) -> SymptomMatch:
    """A master symptom, or one of ``organization_id``'s custom symptoms, by id.

    Raises NotFound for an unknown id and for another organization's custom symptom alike.
    """
    symptom_id = symptom_id or ""
    if symptom_id.startswith(f"{MasterSymptom.id_prefix}_"):
        master = db.session.get(MasterSymptom, symptom_id)
        if master is not None:
            return SymptomMatch(MASTER, master.id, master.code, master.title, master.category)
    elif symptom_id.startswith(f"{CustomSymptom.id_prefix}_"):
        custom = db.session.get(CustomSymptom, symptom_id)
        if custom is not None and custom.organization_id == organization_id:
            return SymptomMatch(CUSTOM, custom.id, None, custom.name, custom.category)
    raise NotFound("No such symptom.")


# --- custom symptoms ---------------------------------------------------------------------------


def _single_line(text: str | None) -> str:
    return " ".join((text or "").split())


def create_custom(
    organization_id: str,
    name: str | None,
    description: str | None = None,
    category: str | None = None,
    *,
    actor: audit.Actor,
) -> CustomSymptom:
    """Add a symptom to ``organization_id``'s own list and record ``symptom.custom_created``.

    The name is trimmed (inner runs of spaces become one) and must be 1-120 characters; the
    optional description at most 500; the category one of ``CATEGORIES`` (default "other").
    Raises Invalid (per field), or Conflict when the organization already has the name (any
    case), or when it is the title of a master symptom (the detail names that one, and the
    problem carries it as ``suggestion``).
    """
    name = _single_line(name)
    description = (description or "").strip() or None
    category = (category or "").strip() or DEFAULT_CUSTOM_CATEGORY
    errors = []
    if not name:
        errors.append(FieldError("name", "Enter the symptom's name."))
    elif len(name) > NAME_MAX_LENGTH:
        errors.append(FieldError("name", f"Use at most {NAME_MAX_LENGTH} characters (this has {len(name)})."))
    if description is not None and len(description) > DESCRIPTION_MAX_LENGTH:
        errors.append(
            FieldError("description", f"Use at most {DESCRIPTION_MAX_LENGTH} characters (this has {len(description)}).")
        )
    if category not in CATEGORIES:
        errors.append(FieldError("category", f"Choose one of: {', '.join(CATEGORIES)}."))
    if errors:
        raise Invalid(errors=errors)

    name_key = name.casefold()
    same_name = (CustomSymptom.organization_id == organization_id, CustomSymptom.name_key == name_key)
    existing = db.session.scalar(select(CustomSymptom).where(*same_name))
    if existing is not None:
        raise Conflict(
            f"Your clinic already has the symptom “{existing.name}”.",
            existing={"id": existing.id, "title": existing.name},
        )
    master = db.session.scalar(select(MasterSymptom).where(func.lower(MasterSymptom.title) == name_key).limit(1))
    if master is not None:
        raise Conflict(
            f"“{master.title}” is already in the ICD-11 list as {master.code}: use that one instead.",
            suggestion={"id": master.id, "code": master.code, "title": master.title},
        )

    symptom = CustomSymptom(
        organization_id=organization_id,
        name=name,
        name_key=name_key,
        description=description,
        category=category,
        created_by_id=actor.user_id,
    )
    db.session.add(symptom)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone added the same name a moment ago. The failed flush ended the transaction, so
        # roll it back here: the caller can still read (to re-render its form) and nothing was kept.
        db.session.rollback()
        raise Conflict(f"Your clinic already has the symptom “{name}”.") from None
    audit.record(
        "symptom.custom_created",
        organization_id=organization_id,
        actor=actor,
        target_type="custom_symptom",
        target_id=symptom.id,
        details={"category": category},
    )
    return symptom


# --- the master list ---------------------------------------------------------------------------


def sync_master_list(connection: Connection | None = None, rows: list[MasterRow] | None = None) -> MasterListSync:
    """Bring ``master_symptoms`` in line with the shipped CSV (or ``rows``): add missing codes and
    correct titles, chapters, categories and synonyms that changed. Idempotent. Never deletes a
    row, since patients' records may point at it. Runs in ``connection``'s transaction (the
    session's by default); the caller commits.
    """
    connection = connection or db.session.connection()
    rows = read_master_list() if rows is None else rows
    table = MasterSymptom.__table__
    columns = ("title", "chapter", "category", "search_terms")
    stored = {
        row.code: tuple(getattr(row, name) for name in columns)
        for row in connection.execute(select(table.c.code, *(table.c[name] for name in columns)))
    }
    missing = [{"id": new_id(MasterSymptom.id_prefix), **asdict(row)} for row in rows if row.code not in stored]
    if missing:
        connection.execute(insert(table), missing)
    updated = 0
    for row in rows:
        wanted = tuple(getattr(row, name) for name in columns)
        if row.code in stored and stored[row.code] != wanted:
            changes = dict(zip(columns, wanted, strict=True))
            connection.execute(update(table).where(table.c.code == row.code).values(changes))
            updated += 1
    return MasterListSync(added=len(missing), updated=updated, unchanged=len(rows) - len(missing) - updated)
