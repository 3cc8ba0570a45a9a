"""Which report templates an organization has, for the "default report template" of a profile.

Templates belong to the reports feature, which builds on this one, so profiles cannot ask it.
Instead ``create_app`` installs the answer here once (``install_template_choices``), the way
appointments is told whether Cliniko is connected (``appointments.calendar_source``).
"""

from __future__ import annotations

from collections.abc import Callable

TemplateChoices = Callable[[str], list[tuple[str, str]]]

_choices: TemplateChoices | None = None


def install_template_choices(lookup: TemplateChoices) -> None:
    """Tell profiles how to list an organization's report templates as (id, name) pairs."""
    global _choices
    _choices = lookup


def template_choices(organization_id: str) -> list[tuple[str, str]]:
    """The organization's report templates as (id, name), the default first."""
    if _choices is None:
        raise RuntimeError("the report template lookup is not installed: create the app first")
    return list(_choices(organization_id))
