"""The certificate checks outgoing HTTPS requests make (Cliniko, webhook targets), set up once per
process.

An ``httpx.Client`` built without a context loads the whole CA bundle for itself: 30 to 60 ms each
time here, paid by every sync, every outbox batch, every free-times lookup a booking page makes and
every webhook delivery. A configured ``SSLContext`` is safe to share between threads and clients,
so each kind is made once and reused; its checks are httpx's defaults (certificates required,
host names checked).
"""

from __future__ import annotations

import ssl
import threading

import httpx

_contexts: dict[bool, ssl.SSLContext] = {}
_lock = threading.Lock()


def verified_context(*, trust_env: bool = True) -> ssl.SSLContext:
    """The process's shared context; ``trust_env`` as httpx reads it (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` from the environment when true)."""
    context = _contexts.get(trust_env)
    if context is None:
        with _lock:
            context = _contexts.get(trust_env)
            if context is None:
                context = _contexts[trust_env] = httpx.create_ssl_context(trust_env=trust_env)
    return context
