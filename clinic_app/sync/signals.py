"""What the sync feature tells features built on it (they subscribe; this package imports none
of them)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A sync run ended (``lifecycle.finish_run``). Sent inside that transaction with
# ``organization_id``, ``sync_id`` and ``status`` ("completed", "failed" or "cancelled").
sync_finished = _signals.signal("sync-finished")
