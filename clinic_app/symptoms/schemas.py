from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.symptoms.catalogue import CATEGORIES
from clinic_app.symptoms.service import LIMIT_MAX, QUERY_MAX_LENGTH


class SymptomSearchQuery(Schema):
    q: str = Field(
        default="",
        max_length=QUERY_MAX_LENGTH,
        description="Words, everyday synonyms or an ICD-11 code (prefix). Empty: the whole catalogue.",
    )
    limit: int = limit_field(20, LIMIT_MAX)
    cursor: str | None = cursor_field()


class SymptomOut(Schema):
    id: str = Field(description="sym_... for the ICD-11 list, csym_... for the organization's own symptoms")
    source: Literal["master", "custom"]
    code: str | None = Field(description="ICD-11 MMS code; null for custom symptoms")
    title: str
    category: str


class SymptomSearchOut(Schema):
    query: str
    symptoms: list[SymptomOut] = Field(description="Best match first (master and custom, as in the contract)")
    total: int = Field(description="How many entries match in all (symptoms holds at most limit of them)")
    limit: int
    next_cursor: str | None = next_cursor_field()


class CustomSymptomIn(Schema):
    name: str = Field(description="1-120 characters, unique in the organization (any case)")
    description: str | None = Field(default=None, description="Up to 500 characters")
    category: str | None = Field(default=None, description="One of: " + ", ".join(CATEGORIES) + " (default other)")


class CustomSymptomOut(SymptomOut):
    source: Literal["custom"] = "custom"
    description: str | None
    created_at: Timestamp
