"""Report templates: the defaults every organization starts with, listing, creating and changing.

A template's structure never changes in place: an update writes a new ``ReportTemplateVersion``
and moves ``current_version`` on, so a report keeps pointing at the sections it was generated
from. The default templates are created the first time an organization's templates are asked
for (``ensure_default_templates``, idempotent), or by the demo seeding.

Writes only flush; the caller commits. Audit events ``report_template.created`` and
``report_template.updated`` carry ids and versions only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.reports.defaults import DEFAULT_TEMPLATES, MENTAL_HEALTH
from clinic_app.reports.models import ReportTemplate, ReportTemplateVersion

NAME_MAX, DESCRIPTION_MAX, TITLE_MAX, GUIDANCE_MAX, KEY_MAX = 120, 500, 120, 1000, 40
MAX_SECTIONS = 30
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    guidance: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "title": self.title, "guidance": self.guidance}


@dataclass(frozen=True)
class TemplateInput:
    name: str
    description: str | None
    sections: tuple[SectionSpec, ...]
    is_default: bool = False


@dataclass(frozen=True)
class TemplateView:
    template: ReportTemplate
    version: ReportTemplateVersion

    @property
    def sections(self) -> list[SectionSpec]:
        return sections_of(self.version)


def sections_of(version: ReportTemplateVersion) -> list[SectionSpec]:
    return [SectionSpec(s["key"], s["title"], s.get("guidance") or "") for s in version.sections or []]


# --- defaults -----------------------------------------------------------------------------------


def ensure_default_templates(organization_id: str) -> None:
    """Create the built-in templates the organization does not have yet (idempotent). The
    mental-health template is the default unless the organization already chose one."""
    have = set(
        db.session.scalars(
            select(ReportTemplate.builtin_key).where(
                ReportTemplate.organization_id == organization_id, ReportTemplate.builtin_key.is_not(None)
            )
        )
    )
    missing = [t for t in DEFAULT_TEMPLATES if t.builtin_key not in have]
    if not missing:
        return
    has_default = db.session.scalar(
        select(ReportTemplate.id).where(ReportTemplate.organization_id == organization_id, ReportTemplate.is_default)
    )
    taken = {
        n.lower()
        for n in db.session.scalars(
            select(ReportTemplate.name).where(ReportTemplate.organization_id == organization_id)
        )
    }
    for default in missing:
        name = default.name if default.name.lower() not in taken else f"{default.name} (standard)"
        template = ReportTemplate(
            organization_id=organization_id,
            builtin_key=default.builtin_key,
            name=name,
            description=default.description,
            current_version=1,
            is_default=has_default is None and default.builtin_key == MENTAL_HEALTH,
        )
        db.session.add(template)
        db.session.flush()
        db.session.add(
            ReportTemplateVersion(
                organization_id=organization_id,
                template_id=template.id,
                version=1,
                name=name,
                sections=[dict(s) for s in default.sections],
            )
        )
    db.session.flush()


# --- reading ------------------------------------------------------------------------------------


def _current(template: ReportTemplate) -> ReportTemplateVersion:
    version = db.session.scalar(
        select(ReportTemplateVersion).where(
            ReportTemplateVersion.template_id == template.id,
            ReportTemplateVersion.version == template.current_version,
        )
    )
    if version is None:  # a template is always written with its first version; never expected
        raise NotFound("This template has no sections.")
    return version


def list_templates(organization_id: str) -> list[TemplateView]:
    """The organization's templates with their current versions, the default first, then by name."""
    ensure_default_templates(organization_id)
    templates = db.session.scalars(
        select(ReportTemplate)
        .where(ReportTemplate.organization_id == organization_id)
        .order_by(ReportTemplate.is_default.desc(), ReportTemplate.name)
    ).all()
    versions = {
        (v.template_id, v.version): v
        for v in db.session.scalars(
            select(ReportTemplateVersion).where(ReportTemplateVersion.organization_id == organization_id)
        )
    }
    return [
        TemplateView(t, versions[(t.id, t.current_version)]) for t in templates if (t.id, t.current_version) in versions
    ]


def template_choices(organization_id: str) -> list[tuple[str, str]]:
    """The organization's templates as (id, name), the default first: what a professional profile
    may name as its default (``create_app`` hands this to ``profiles.report_templates``)."""
    return [(view.template.id, view.template.name) for view in list_templates(organization_id)]


def get_template(organization_id: str, template_id: str) -> TemplateView:
    """The template and its current version. Raises NotFound (another organization's too)."""
    template = db.session.get(ReportTemplate, template_id) if template_id else None
    if template is None or template.organization_id != organization_id:
        raise NotFound("No such report template.")
    return TemplateView(template, _current(template))


def get_version(organization_id: str, version_id: str) -> ReportTemplateVersion:
    version = db.session.get(ReportTemplateVersion, version_id)
    if version is None or version.organization_id != organization_id:
        raise NotFound("No such report template version.")
    return version


def template_for_report(
    organization_id: str, template_id: str | None, *, preferred_id: str | None = None
) -> TemplateView:
    """The template a new report uses: the one asked for, else ``preferred_id`` (the clinician's
    default from their profile) while it is one of the organization's templates, else the
    organization's default. Raises NotFound only for a ``template_id`` that is not theirs."""
    if template_id:
        return get_template(organization_id, template_id)
    views = list_templates(organization_id)
    preferred = next((v for v in views if preferred_id and v.template.id == preferred_id), None)
    return preferred or next((v for v in views if v.template.is_default), views[0])


# --- validation ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _key_from_title(title: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:KEY_MAX].strip("_")
    return key if key and key[0].isalpha() else f"section_{key}".strip("_")[:KEY_MAX]


def validate_template(raw: dict[str, Any]) -> TemplateInput:
    """Check a template's name, description and sections. Section keys may be left out (they are
    made from the titles). Raises Invalid naming each field (``sections.2.title``)."""
    errors: list[FieldError] = []
    name = _text(raw.get("name"))
    if not name:
        errors.append(FieldError("name", "Give the template a name."))
    elif len(name) > NAME_MAX:
        errors.append(FieldError("name", f"At most {NAME_MAX} characters."))
    description = _text(raw.get("description")) or None
    if description and len(description) > DESCRIPTION_MAX:
        errors.append(FieldError("description", f"At most {DESCRIPTION_MAX} characters."))
    rows = raw.get("sections")
    sections: list[SectionSpec] = []
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
        errors.append(FieldError("sections", "Add at least one section."))
        rows = []
    elif len(rows) > MAX_SECTIONS:
        errors.append(FieldError("sections", f"At most {MAX_SECTIONS} sections."))
    seen: set[str] = set()
    for index, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        where = f"sections.{index}"
        title, guidance = _text(row.get("title")), _text(row.get("guidance"))
        key = _text(row.get("key")).lower() or (_key_from_title(title) if title else "")
        if not title:
            errors.append(FieldError(f"{where}.title", "Each section needs a title."))
        elif len(title) > TITLE_MAX:
            errors.append(FieldError(f"{where}.title", f"At most {TITLE_MAX} characters."))
        if len(guidance) > GUIDANCE_MAX:
            errors.append(FieldError(f"{where}.guidance", f"At most {GUIDANCE_MAX} characters."))
        if key and (not _KEY.match(key) or len(key) > KEY_MAX):
            errors.append(
                FieldError(f"{where}.key", "Use lower-case letters, digits and _ (starting with a letter), at most 40.")
            )
        elif key in seen:
            errors.append(FieldError(f"{where}.key", f"Another section already uses the key “{key}”."))
        seen.add(key)
        sections.append(SectionSpec(key, title, guidance))
    if errors:
        raise Invalid(errors=errors)
    return TemplateInput(name, description, tuple(sections), bool(raw.get("is_default")))


def _check_name_free(organization_id: str, name: str, exclude_id: str | None = None) -> None:
    clash = db.session.scalar(
        select(ReportTemplate.id).where(
            ReportTemplate.organization_id == organization_id,
            func.lower(ReportTemplate.name) == name.lower(),
            ReportTemplate.id != (exclude_id or ""),
        )
    )
    if clash:
        raise Invalid(errors=[FieldError("name", "Another template already has this name.")])


def _make_default(organization_id: str, template: ReportTemplate) -> None:
    db.session.execute(
        update(ReportTemplate)
        .where(ReportTemplate.organization_id == organization_id, ReportTemplate.id != template.id)
        .values(is_default=False)
    )
    template.is_default = True


# --- writing ------------------------------------------------------------------------------------


def create_template(organization_id: str, data: TemplateInput, *, actor: audit.Actor) -> TemplateView:
    """A new template at version 1. Raises Invalid when the name is taken."""
    ensure_default_templates(organization_id)
    _check_name_free(organization_id, data.name)
    template = ReportTemplate(
        organization_id=organization_id,
        name=data.name,
        description=data.description,
        current_version=1,
        is_default=False,
        created_by_id=actor.user_id,
    )
    db.session.add(template)
    db.session.flush()
    version = ReportTemplateVersion(
        organization_id=organization_id,
        template_id=template.id,
        version=1,
        name=data.name,
        sections=[s.as_dict() for s in data.sections],
        created_by_id=actor.user_id,
    )
    db.session.add(version)
    if data.is_default:
        _make_default(organization_id, template)
    db.session.flush()
    audit.record(
        "report_template.created",
        organization_id=organization_id,
        actor=actor,
        target_type="report_template",
        target_id=template.id,
        details={"version": 1, "sections": len(data.sections)},
    )
    return TemplateView(template, version)


def update_template(organization_id: str, template_id: str, data: TemplateInput, *, actor: audit.Actor) -> TemplateView:
    """Change a template. New sections or a new name make a new version (reports already written
    keep theirs); the description and the default flag change in place. Raises NotFound, Invalid."""
    current = get_template(organization_id, template_id)
    template = current.template
    _check_name_free(organization_id, data.name, exclude_id=template.id)
    new_sections = [s.as_dict() for s in data.sections]
    version = current.version
    changed_structure = data.name != version.name or new_sections != version.sections
    if changed_structure:
        version = ReportTemplateVersion(
            organization_id=organization_id,
            template_id=template.id,
            version=template.current_version + 1,
            name=data.name,
            sections=new_sections,
            created_by_id=actor.user_id,
        )
        db.session.add(version)
        template.current_version = version.version
    template.name = data.name
    template.description = data.description
    if data.is_default and not template.is_default:
        _make_default(organization_id, template)
    template.updated_at = utcnow()
    db.session.flush()
    audit.record(
        "report_template.updated",
        organization_id=organization_id,
        actor=actor,
        target_type="report_template",
        target_id=template.id,
        details={"version": template.current_version, "new_version": changed_structure},
    )
    return TemplateView(template, version)
