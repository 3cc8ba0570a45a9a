"""What the patients feature tells features built on it (they subscribe; this package imports none
of them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from blinker import Namespace

_signals = Namespace()

# A patient was registered, archived or restored: what they count towards changed. Sent inside the
# transaction that made the change, with ``organization_id``, ``patient_id`` and ``change``
# ("registered", "archived" or "restored"); a receiver's writes join that transaction.
patient_changed = _signals.signal("patient-changed")

# A patient's details were changed here (``update_patient``). Sent inside that transaction with
# ``organization_id``, ``patient_id`` and ``fields`` (the names of the changed fields, never values).
patient_edited = _signals.signal("patient-edited")

# A patient is being erased (``patients.erasure.carry_out``). Sent inside the erasure's transaction,
# before the patient's row becomes a tombstone, with ``organization_id``, ``patient_id`` and
# ``erased_at``. Each feature deletes or overwrites what it holds of the patient (rows, encrypted
# values, stored files) except what the law keeps; a receiver that fails rolls the whole erasure back.
patient_erasing = _signals.signal("patient-erasing")

# What an erasure of the patient would erase and keep. Sent with ``organization_id`` and
# ``patient_id`` (and ``now``); each receiver returns a list of ``InventoryLine`` for what its
# feature holds of the patient (blinker's ``send`` hands back every receiver's answer).
erasure_inventory = _signals.signal("erasure-inventory")

ERASE, KEEP = "erase", "keep"


@dataclass(frozen=True)
class InventoryLine:
    """One kind of thing a feature holds of a patient: how many, whether an erasure deletes it
    (``ERASE``) or keeps it (``KEEP``, with the reason and until when). Never a value."""

    feature: str
    what: str
    count: int
    action: str
    reason: str | None = None
    kept_until: date | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature,
            "what": self.what,
            "count": self.count,
            "action": self.action,
            "reason": self.reason,
            "kept_until": self.kept_until.isoformat() if self.kept_until else None,
        }
