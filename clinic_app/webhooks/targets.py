"""The SSRF guard: where a webhook may be sent.

A URL is checked when it is saved (scheme, host, no credentials) and again at every delivery:
the host is resolved then, every address it resolves to must be public (no loopback, private,
link-local, cloud-metadata, unique-local, multicast or reserved range, IPv4 or IPv6, IPv4-mapped
IPv6 included), and the request connects to the address that was checked (the host goes in the
``Host`` header and TLS's server name), so a second lookup cannot swap in an internal address.
Redirects are never followed. Plain http is refused in production. ``WEBHOOK_ALLOWED_HOSTS``
lists hosts exempt from the address check (a receiver on 127.0.0.1 in development and tests);
under test (``APP_ENV=test``) nothing else is reached at all, so a test run never calls out.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services outside the ranges ``is_global`` already refuses.
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


class TargetRefused(Exception):
    """The URL may not be called; the message says why (shown in the delivery log)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent
    address: IPAddress

    @property
    def connect_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


# How host names become addresses; tests replace it to make a public name point anywhere.
resolver: Callable[[str, int], list[str]] = _system_resolver


def allowed_hosts() -> set[str]:
    return set(current_app.config.get("WEBHOOK_ALLOWED_HOSTS") or ())


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    if not address.is_global or address.is_multicast:
        return False
    return not any(address in network for network in _METADATA)


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a URL fit to save; raises TargetRefused."""
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise TargetRefused(f"Give a URL of at most {MAX_URL_LENGTH} characters without spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("This is not a valid URL.") from None
    production = bool(current_app.config.get("PRODUCTION"))
    if parts.scheme not in (("https",) if production else ("https", "http")):
        raise TargetRefused("The URL must start with https://." if production else "The URL must be http(s).")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL must name a host, without a user name or password.")
    if parts.fragment:
        raise TargetRefused("The URL may not have a #fragment.")
    host = parts.hostname.lower().rstrip(".")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def check_literal_address(url: str) -> None:
    """At save time: a URL naming a non-public address outright is refused at once (names are
    checked again at each delivery, after resolving)."""
    _scheme, host, _port, _path = check_url(url)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if host not in allowed_hosts() and not is_public(address):
        raise TargetRefused(f"{host} is not a public address.")


def resolve_target(url: str) -> Target:
    """The address to connect to for ``url``, now; raises TargetRefused."""
    scheme, host, port, path = check_url(url)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(found.split("%")[0]) for found in resolver(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise TargetRefused(f"{host} does not resolve.") from None
    if not addresses:
        raise TargetRefused(f"{host} does not resolve.")
    if host not in allowed_hosts():
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:  # one internal answer is enough: a later lookup could pick it
            raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]}).")
        if current_app.config.get("TESTING"):
            # A test run reaches its own receivers only, never a host on the internet.
            raise TargetRefused(f"{host} is not in WEBHOOK_ALLOWED_HOSTS (tests reach allow-listed hosts only).")
    return Target(scheme, host, port, path, addresses[0])
