"""What happens to an account that other features act on (blinker signals, sent inside the unit
of work; the receivers' writes commit or roll back with it)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# The person changed their own password (sender: the User). Every credential issued before ends
# except the browser session ``keep_session_id`` (the one that made the change, if any): ending
# them is auth's (``auth.sessions`` subscribes).
password_changed = _signals.signal("password-changed")
