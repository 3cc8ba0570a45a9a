"""What the health-data feature tells features built on it (they subscribe; this package imports
none of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# An analysis of a patient's wearable data completed (``analyses.run_analysis``). Sent inside that
# transaction with ``organization_id``, ``analysis_id``, ``patient_id`` and ``upload_id``.
analysis_completed = _signals.signal("analysis-completed")
