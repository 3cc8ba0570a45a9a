"""What the appointments feature tells features built on it (they subscribe; this package imports
none of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Appointments were booked, moved, cancelled or marked here: what they add up to changed. Sent
# inside the transaction that made the change, with ``organization_id`` and ``patient_ids`` (the
# patients whose appointments changed; may be empty, e.g. a booking without a patient) and, from
# ``appointments.booking``, ``appointment_id`` and ``change`` ("booked", "rescheduled",
# "cancelled", "arrived", "did_not_arrive"); a receiver's writes join that transaction.
appointments_changed = _signals.signal("appointments-changed")
