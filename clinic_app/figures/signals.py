"""What the figures feature tells the read models built on it (they subscribe; this package imports
none of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Stored figures were recomputed (or the appointments they count changed): organization-wide
# figures built on them (the dashboard's snapshot) are out of date. Sent inside the transaction
# that wrote them, with ``organization_id`` and ``patient_ids`` (the patients recomputed; None for
# the whole organization); a receiver's writes join that transaction.
figures_changed = _signals.signal("figures-changed")

# Patients whose re-engagement risk rose into the worklist's levels (low, or no figures yet, to
# medium or high; or medium to high) in a recompute. Sent inside that transaction, after
# ``figures_changed``, with ``organization_id`` and ``patient_ids`` (never empty).
patients_flagged = _signals.signal("patients-flagged")
