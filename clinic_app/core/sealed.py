"""Secrets that belong to a person rather than an organization (an authenticator app's key),
sealed with AES-256-GCM under the current master key of ``FIELD_ENCRYPTION_KEYS``.

Organization data uses per-organization data keys (``core.crypto``); a person's second factor
guards the sign-in, before any organization is chosen, so it is sealed under the master key
itself. A value is ``m1:<master key id>:<base64url(nonce | ciphertext+tag)>`` and its additional
authenticated data names its purpose and owner, so a sealed value copied to another person's row
does not open. ``reseal`` moves a value to the current master key (key rotation).

A package that keeps sealed values registers the column with ``sealed_column`` (as encrypted
columns are registered with ``crypto.encrypted_column``): key rotation reseals every registered
column, and ``flask backup-check`` opens a sample of each.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from clinic_app.core.errors import Unavailable

VERSION = "m1"


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values: ``model.attribute``, opened with ``purpose`` and the row's
    ``model.owner_attribute`` as owner."""

    model: type
    attribute: str
    owner_attribute: str
    purpose: str

    @property
    def name(self) -> str:
        return f"{self.model.__tablename__}.{self.attribute}"  # type: ignore[attr-defined]


SEALED_COLUMNS: list[SealedColumn] = []


def sealed_column(model: type, attribute: str, *, owner_attribute: str, purpose: str) -> None:
    """Register ``model.attribute`` as holding values sealed for ``purpose`` (idempotent)."""
    column = SealedColumn(model, attribute, owner_attribute, purpose)
    if column not in SEALED_COLUMNS:
        SEALED_COLUMNS.append(column)


class SealBroken(Exception):
    """The value does not open: another owner's, tampered with, or its master key is gone."""


def _keys() -> dict[str, bytes]:
    keys = current_app.config.get("FIELD_ENCRYPTION_KEYS") or {}
    if not keys:
        raise Unavailable("Secrets cannot be sealed right now: the encryption keys are not configured.")
    return keys


def _aad(purpose: str, owner_id: str) -> bytes:
    return f"seal|{purpose}|{owner_id}".encode()


def seal(purpose: str, owner_id: str, plain: bytes) -> str:
    keys = _keys()
    kid = next(iter(keys))
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(keys[kid]).encrypt(nonce, plain, _aad(purpose, owner_id))
    return f"{VERSION}:{kid}:{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def unseal(purpose: str, owner_id: str, stored: str) -> bytes:
    try:
        version, kid, body = stored.split(":", 2)
        key = _keys()[kid] if version == VERSION else None
        if key is None:
            raise SealBroken("unknown format")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(raw[:12], raw[12:], _aad(purpose, owner_id))
    except (ValueError, KeyError, InvalidTag) as error:
        raise SealBroken(type(error).__name__) from error


def reseal(purpose: str, owner_id: str, stored: str) -> str | None:
    """The value sealed under the current master key, or None when it already is."""
    if stored.split(":", 2)[1:2] == [next(iter(_keys()))]:
        return None
    return seal(purpose, owner_id, unseal(purpose, owner_id, stored))
