"""What happens to a membership that other features act on (blinker signals).

Sent inside the unit of work when a membership ends or its role changes (sender: the Membership),
with ``organization_id``, ``user_id``, ``role`` (the new one for a change) and ``actor``: the
credentials that act for that organization on the person's authority are the receivers' to end
(``auth.api_tokens`` subscribes).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

membership_ended = _signals.signal("membership-ended")
membership_role_changed = _signals.signal("membership-role-changed")
