"""What the patients feature tells features built on it (they subscribe; this package imports none
of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A patient was registered, archived or restored: what they count towards changed. Sent inside the
# transaction that made the change, with ``organization_id``, ``patient_id`` and ``change``
# ("registered", "archived" or "restored"); a receiver's writes join that transaction.
patient_changed = _signals.signal("patient-changed")

# A patient's details were changed here (``update_patient``). Sent inside that transaction with
# ``organization_id``, ``patient_id`` and ``fields`` (the names of the changed fields, never values).
patient_edited = _signals.signal("patient-edited")
