"""The curated ICD-11 master list as shipped in ``data/icd11_symptoms.csv``, and the categories
symptoms are grouped by. See docs/symptoms.md for where the list comes from and how to extend it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

MASTER_LIST_CSV = Path(__file__).parent / "data" / "icd11_symptoms.csv"
CSV_COLUMNS = ("code", "title", "chapter", "category", "search_terms")
SYNONYM_SEPARATOR = "|"

# Our own grouping (ICD-11 blocks are too fine for a picker), in the order a clinician scans them.
CATEGORIES: dict[str, str] = {
    "mood": "Mood and affect",
    "anxiety": "Anxiety and fear",
    "risk": "Risk to self or others",
    "thought": "Thought",
    "perception": "Perception",
    "cognition": "Cognition and memory",
    "energy": "Energy and motivation",
    "behaviour": "Behaviour",
    "personality": "Personality features",
    "eating": "Eating and weight",
    "sleep": "Sleep",
    "speech": "Speech and voice",
    "pain": "Pain",
    "musculoskeletal": "Musculoskeletal",
    "neurological": "Neurological",
    "sensory": "Smell, taste, hearing and vision",
    "general": "General",
    "respiratory": "Breathing",
    "cardiovascular": "Heart and circulation",
    "digestive": "Digestive",
    "urinary": "Bladder",
    "pelvic": "Pelvic and women's health",
    "other": "Other",
}
DEFAULT_CUSTOM_CATEGORY = "other"


def category_label(category: str) -> str:
    return CATEGORIES.get(category, category.replace("_", " ").capitalize())


@dataclass(frozen=True)
class MasterRow:
    code: str
    title: str
    chapter: str
    category: str
    search_terms: str

    @property
    def synonyms(self) -> list[str]:
        return split_synonyms(self.search_terms)


def split_synonyms(search_terms: str) -> list[str]:
    return [term.strip() for term in search_terms.split(SYNONYM_SEPARATOR) if term.strip()]


def read_master_list(path: Path = MASTER_LIST_CSV) -> list[MasterRow]:
    """Every row of the shipped CSV. Raises ValueError if the header is not the expected one."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(f"{path.name}: expected columns {','.join(CSV_COLUMNS)}, got {reader.fieldnames}")
        return [MasterRow(**{name: (row[name] or "").strip() for name in CSV_COLUMNS}) for row in reader]
