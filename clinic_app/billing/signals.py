"""What billing tells the features built on it (they subscribe; this package imports none of
them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# An invoice was issued (``change="issued"``) or became paid in full (``change="paid"``: payments,
# applied credit and credit notes cover its total). Sent inside the transaction that made the
# change, with ``organization_id``, ``invoice_id`` and ``patient_id``; a receiver's writes join it.
invoice_changed = _signals.signal("invoice-changed")
