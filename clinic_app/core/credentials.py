"""Random secrets handed to people or clients, and how they are stored (hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str = "") -> tuple[str, str]:
    """A fresh 256-bit secret (optionally prefixed, e.g. ``clk_``) and the hash to store."""
    plain = prefix + secrets.token_urlsafe(32)
    return plain, hash_secret(plain)


def hash_secret(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def keyed_hash(key: str, value: str) -> str:
    """An HMAC for lookups by a value we do not want to store (e.g. a failed log-in's e-mail)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
