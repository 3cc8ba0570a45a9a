"""Who may do what: every permission, and the one table mapping roles to them.

``docs/permissions.md`` is generated from this module (``flask permissions-table``); a test keeps
the two equal. A permission ending in ``:*`` grants every permission with that prefix; ``*``
grants everything.
"""

from __future__ import annotations

from collections.abc import Iterable

OWNER, ADMIN, CLINICIAN, RECEPTIONIST = "owner", "admin", "clinician", "receptionist"
ROLES: tuple[str, ...] = (OWNER, ADMIN, CLINICIAN, RECEPTIONIST)
ROLE_LABELS = {OWNER: "Owner", ADMIN: "Practice admin", CLINICIAN: "Clinician", RECEPTIONIST: "Receptionist"}

# Every permission a view or API token may name, with what it allows.
PERMISSIONS: dict[str, str] = {
    "organization:member": "Belong to the organization (see its name, switch to it)",
    "patients:read": "See patient records, lists and search",
    "patients:write": "Create, edit and archive patients",
    "patients:export": "Export a patient's record (a copy for the patient or a transfer)",
    "patients:consent": "Record a patient's consents and their withdrawal",
    "patients:erase": "Erase a patient on request, after a waiting period, and set the organization's privacy "
    "settings (owners only)",
    "intake:write": "Run the intake flow",
    "symptoms:write": "Create custom symptoms for the organization",
    "appointments:read": "See appointments and the day view",
    "appointments:write": "Book, reschedule and cancel appointments",
    "dashboard:read": "See dashboards, active patients and re-engagement",
    "engagement:write": "Record re-engagement contact outcomes",
    "consultations:read": "See that consultations happened (no clinical content)",
    "consultations:write": "Start and stop consultations",
    "clinical:read": "Read transcripts and report content",
    "reports:write": "Generate and edit reports",
    "reports:sign": "Sign reports",
    "reports:export": "Export reports as PDF",
    "health_data:read": "Read, upload, analyse and delete wearable data, its analysis and insights",
    "jobs:read": "Watch background jobs, each kind only with the permission of what it works on",
    "sync:read": "See sync status and history",
    "sync:run": "Start and cancel syncs",
    "admin:integrations": "Connect and disconnect Cliniko",
    "admin:staff": "Add staff, change roles, deactivate",
    "admin:tokens": "Create and revoke API tokens",
    "admin:audit": "Read the audit trail",
    "audit:export": "Export the audit trail as CSV or JSON, with the chain's verification (owners only)",
    "admin:billing": "Manage billing",
    "admin:webhooks": "Manage webhooks",
    "admin:organization": "Change the organization's settings",
    "organization:security": "Decide who in the organization must use two-factor sign-in (owners only)",
    "organization:retention": "Clean up the organization's old data now and set its retention periods (owners only)",
    "admin:health": "See the version, environment and dependency details of the health endpoints",
    "billing:read": "See every invoice, payment, credit note, balance and the aged receivables",
    "billing:read_own": "See the invoices of one's own patients (where one is the invoice's practitioner), read-only",
    "billing:write": "Create and edit draft invoices and their lines, delete drafts",
    "billing:issue": "Issue invoices (gives them their number)",
    "billing:payments": "Record payments and refunds, apply a patient's credit",
    "billing:void": "Void issued invoices and issue credit notes",
    "billing:export": "Export invoices, payments and credit notes for the accountant",
    "billing:settings": "Manage billable items, tax rates and billing settings",
}

# The front desk bills: drafts, issuing and taking money. Voiding and crediting change what was
# issued, and exports and settings are the practice's books: practice admins and owners only.
_BILLING_DESK = {"billing:read", "billing:read_own", "billing:write", "billing:issue", "billing:payments"}

_FRONT_DESK = {
    "organization:member",
    "patients:read",
    "patients:write",
    "patients:consent",
    "intake:write",
    "appointments:read",
    "appointments:write",
    "consultations:read",
    "dashboard:read",
    "jobs:read",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    OWNER: frozenset({"*"}),
    # Practice admins run the practice, not the consulting room: no clinical content, no signing.
    # Answering a patient's request for a copy of their record is theirs to do too: the export holds
    # what they can already read on the record and appointment pages, no transcript or report content.
    # Wearable data and its analysis are theirs to see and manage with the clinicians (issue 15: the
    # chart's "Activity and sleep" section is for clinicians and practice admins).
    ADMIN: frozenset(
        _FRONT_DESK
        | {
            "patients:export",
            "engagement:write",
            "sync:read",
            "sync:run",
            "symptoms:write",
            "health_data:read",
            "admin:*",
            "billing:*",
        }
    ),
    CLINICIAN: frozenset(
        _FRONT_DESK
        | {
            "patients:export",
            "symptoms:write",
            "engagement:write",
            "consultations:write",
            "clinical:read",
            "reports:write",
            "reports:sign",
            "reports:export",
            "health_data:read",
            "sync:read",
            "billing:read_own",
        }
    ),
    RECEPTIONIST: frozenset(_FRONT_DESK | _BILLING_DESK | {"engagement:write"}),
}


def grants(granted: Iterable[str], needed: str) -> bool:
    """Whether the ``granted`` permissions (wildcards allowed) include ``needed``."""
    for permission in granted:
        if permission in ("*", needed):
            return True
        if permission.endswith(":*") and needed.startswith(permission[:-1]):
            return True
    return False


def role_grants(role: str, needed: str) -> bool:
    return grants(ROLE_PERMISSIONS.get(role, frozenset()), needed)


def expand(granted: Iterable[str]) -> list[str]:
    """The concrete permissions that ``granted`` (with wildcards) stands for."""
    granted = list(granted)
    return [name for name in PERMISSIONS if grants(granted, name)]


def markdown_table() -> str:
    """The role table as Markdown, for docs/permissions.md."""
    header = "| Permission | What it allows | " + " | ".join(ROLE_LABELS[r] for r in ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [
        f"| `{name}` | {text} | " + " | ".join("yes" if role_grants(r, name) else "—" for r in ROLES) + " |"
        for name, text in PERMISSIONS.items()
    ]
    return "\n".join([header, rule, *rows])
