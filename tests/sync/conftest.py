"""Fixtures for sync tests: a running sandbox Cliniko on 127.0.0.1 and an HTTP client for it.

``cliniko_sandbox`` is a small clinic (60 patients, 150 appointments) served on a free port for one
test; ``make_cliniko_sandbox(**sizes_and_faults)`` builds others; every server started is stopped
when the test ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devtools.sandbox import SandboxClinic
from devtools.sandbox.server import SandboxServer

USER_AGENT = "Clinic App Tests (tests@clinic.example)"
SMALL = {"patients": 60, "appointments": 150}
# The sandbox speaks plain HTTP; an empty TLS context spares each client loading the CA bundle (~0.1 s).
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@pytest.fixture
def make_cliniko_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """``make_cliniko_sandbox(seed=7, patients=10, faults=Faults(...))`` -> a started server."""
    started: list[SandboxServer] = []

    def start(**clinic_options: Any) -> SandboxServer:
        server = SandboxServer(SandboxClinic(**{**SMALL, **clinic_options})).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def cliniko_sandbox(make_cliniko_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A running sandbox Cliniko (``.clinic``, ``.base_url_template``, ``.clinic.api_key``)."""
    return make_cliniko_sandbox()


def sandbox_http(server: SandboxServer, **options: Any) -> httpx.Client:
    """A plain httpx client that talks to the sandbox as Cliniko's docs say: Basic auth with the key
    and an empty password, a User-Agent, JSON. Close it (use ``with``)."""
    options.setdefault("auth", (server.clinic.api_key, ""))
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **options.pop("headers", {})}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=10, verify=NO_TLS, **options)


@pytest.fixture
def sandbox_client(cliniko_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with sandbox_http(cliniko_sandbox) as client:
        yield client
