"""The shared certificate checks of outgoing HTTPS (core.tls): made once per process, reused by
every Cliniko client and webhook delivery, and still checking certificates and host names."""

from __future__ import annotations

import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

from clinic_app.core import tls
from clinic_app.sync.client import ClinikoClient


def test_the_context_checks_certificates_and_host_names():
    for trust_env in (True, False):
        context = tls.verified_context(trust_env=trust_env)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded


def test_one_context_per_kind_even_when_many_threads_ask_at_once(monkeypatch):
    monkeypatch.setattr(tls, "_contexts", {})
    start = threading.Barrier(8)

    def ask() -> ssl.SSLContext:
        start.wait()
        return tls.verified_context()

    with ThreadPoolExecutor(max_workers=8) as pool:
        contexts = {id(future.result()) for future in [pool.submit(ask) for _ in range(8)]}
    assert len(contexts) == 1
    assert tls.verified_context(trust_env=False) is not tls.verified_context()


def test_every_cliniko_client_uses_the_shared_context():
    clients = [ClinikoClient("key-one-au1"), ClinikoClient("key-two-uk1")]
    try:
        for client in clients:
            # httpx keeps the context on its connection pool (no public accessor).
            assert client._http._transport._pool._ssl_context is tls.verified_context()
    finally:
        for client in clients:
            client.close()
