"""What the reports feature tells features built on it (they subscribe; this package imports none
of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A report was signed (``signing.sign_report``). Sent inside that transaction with
# ``organization_id``, ``report_id`` and ``patient_id``; a receiver's writes join it.
report_signed = _signals.signal("report-signed")
