"""Field encryption for PHI: envelope encryption with AES-256-GCM, a key id in every ciphertext,
and HMAC blind indexes for exact lookups.

* **Master keys** come from ``FIELD_ENCRYPTION_KEYS`` (``kid:key,...``; the first is current).
  They never touch the database.
* Each organization has **data keys** (one current, older ones kept to read old values) and one
  **index key**, each 256 random bits stored *wrapped* (encrypted) by a master key, with the
  master key's id beside it.
* A field value is stored as ``v1:<data key id>:<base64url(nonce | ciphertext+tag)>``. The
  additional authenticated data binds it to its organization and field, so a ciphertext copied
  into another organization's row or another column does not decrypt.
* A value that cannot be decrypted comes back as ``UNREADABLE`` (never an exception on a list
  page); the caller shows "unreadable" and the failure is logged for an alarm audit event.
* Rotation: ``rewrap_all()`` re-wraps every stored key under the current master key (so an old
  master key can be retired); ``new_data_key()`` starts a new data key, and a background job
  re-encrypts values with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from blinker import Namespace
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import audit
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.errors import Unavailable
from clinic_app.core.memo import per_request
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.crypto")

DATA, INDEX = "data", "index"
PREFIX = "v1"

# Sent when an organization's keys change (a key made or rotated): orgs counts them, so that every
# process's kept vault of that organization is read again (``vault_for``).
keys_changed = Namespace().signal("keys-changed")


class OrganizationKey(PublicIdMixin, Model):
    """A wrapped per-organization key (``purpose`` data or index)."""

    __tablename__ = "organization_keys"
    __table_args__ = (UniqueConstraint("organization_id", "purpose", "version"),)
    id_prefix = "key"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    is_current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class KeyRef:
    """What encrypting and decrypting need of a key row, detached from any database session (a
    vault outlives the request that read it: see ``vault_for``)."""

    id: str
    organization_id: str
    purpose: str
    version: int
    master_key_id: str
    wrapped_key: bytes
    is_current: bool

    @classmethod
    def of(cls, row: OrganizationKey) -> KeyRef:
        return cls(
            row.id, row.organization_id, row.purpose, row.version, row.master_key_id, row.wrapped_key, row.is_current
        )


class Unreadable:
    """Stands in for a value that failed to decrypt."""

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return "unreadable"

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = Unreadable()


class CryptoError(Exception):
    """A key is missing or a master key is not configured; a configuration problem, not bad data."""


def _unavailable(error: Exception) -> Exception:
    log.critical("encryption keys unavailable", extra={"event": "crypto_unavailable", "reason": str(error)})
    return Unavailable("Patient data cannot be encrypted right now: the encryption keys are not configured.")


def _master_keys() -> dict[str, bytes]:
    return current_app.config["FIELD_ENCRYPTION_KEYS"]


def current_master_key_id() -> str:
    return next(iter(_master_keys()))


def _wrap(plain_key: bytes, organization_id: str, purpose: str, version: int) -> tuple[str, bytes]:
    kid = current_master_key_id()
    nonce = os.urandom(12)
    aad = f"wrap|{organization_id}|{purpose}|{version}".encode()
    return kid, nonce + AESGCM(_master_keys()[kid]).encrypt(nonce, plain_key, aad)


def _unwrap(row: OrganizationKey | KeyRef) -> bytes:
    master = _master_keys().get(row.master_key_id)
    if master is None:
        raise CryptoError(f"master key {row.master_key_id!r} is not configured in FIELD_ENCRYPTION_KEYS")
    aad = f"wrap|{row.organization_id}|{row.purpose}|{row.version}".encode()
    return AESGCM(master).decrypt(row.wrapped_key[:12], row.wrapped_key[12:], aad)


# Unwrapped keys, cached per process: (key row id) -> raw key. Keys never change once written
# (re-wrapping changes only their wrapping), so the cache cannot go stale.
_cache: dict[str, bytes] = {}
_cache_lock = threading.Lock()


_ciphers: dict[str, AESGCM] = {}


def _raw(row: OrganizationKey | KeyRef) -> bytes:
    with _cache_lock:
        raw = _cache.get(row.id)
    if raw is None:
        raw = _unwrap(row)
        with _cache_lock:
            _cache[row.id] = raw
    return raw


def forget_unwrapped_keys() -> None:
    """Drop every key unwrapped in this process (as a restart would): the next use unwraps again."""
    with _cache_lock:
        _cache.clear()
        _ciphers.clear()
        _index_macs.clear()
        _vaults.clear()


def _cipher(row: OrganizationKey | KeyRef) -> AESGCM:
    """The AEAD of a data key, set up once per process (a list page decrypts dozens of values)."""
    cipher = _ciphers.get(row.id)
    if cipher is None:
        cipher = _ciphers.setdefault(row.id, AESGCM(_raw(row)))
    return cipher


# The keyed HMAC of each index key, set up once per process; each blind index copies it. Besides
# skipping the key setup, a copy never lets go of the GIL, where ``hmac.digest`` does on every call:
# a sync hashing each record lost the GIL to its page-fetching thread for milliseconds at a time.
_index_macs: dict[str, hmac.HMAC] = {}


def _index_mac(row: OrganizationKey | KeyRef) -> hmac.HMAC:
    mac = _index_macs.get(row.id)
    if mac is None:
        mac = _index_macs.setdefault(row.id, hmac.new(_raw(row), digestmod=hashlib.sha256))
    return mac


def _create_key(organization_id: str, purpose: str, version: int) -> OrganizationKey:
    kid, wrapped = _wrap(os.urandom(32), organization_id, purpose, version)
    row = OrganizationKey(
        organization_id=organization_id,
        purpose=purpose,
        version=version,
        master_key_id=kid,
        wrapped_key=wrapped,
        is_current=True,
    )
    db.session.add(row)
    db.session.flush()
    _forget_vault(organization_id)
    return row


def ensure_keys(organization_id: str) -> None:
    """Give the organization its first data and index keys (idempotent)."""
    for purpose in (DATA, INDEX):
        exists = db.session.scalar(
            select(OrganizationKey.id).where(
                OrganizationKey.organization_id == organization_id, OrganizationKey.purpose == purpose
            )
        )
        if exists is None:
            _create_key(organization_id, purpose, 1)


@dataclass
class Vault:
    """Encrypts and decrypts one organization's fields."""

    organization_id: str
    current: KeyRef
    keys: dict[str, KeyRef]
    index_row: KeyRef

    @property
    def index_key(self) -> bytes:
        return _raw(self.index_row)

    def _aad(self, field: str) -> bytes:
        return f"{self.organization_id}|{field}".encode()

    def encrypt(self, field: str, value: str | None) -> str | None:
        if value is None:
            return None
        nonce = os.urandom(12)
        try:
            cipher = _cipher(self.current)
        except CryptoError as error:
            raise _unavailable(error) from None
        sealed = cipher.encrypt(nonce, value.encode(), self._aad(field))
        return f"{PREFIX}:{self.current.id}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, field: str, stored: str | None, *, target_id: str | None = None) -> str | Unreadable | None:
        """The plaintext, None for no value, or UNREADABLE when it cannot be decrypted (which is
        logged and written to the audit trail as an alarm)."""
        if stored is None:
            return None
        try:
            prefix, key_id, payload = stored.split(":", 2)
            if prefix != PREFIX:
                raise ValueError("unknown format")
            row = self.keys.get(key_id) or _load_key(self.organization_id, key_id)
            blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            return _cipher(row).decrypt(blob[:12], blob[12:], self._aad(field)).decode()
        except (ValueError, InvalidTag, CryptoError, UnicodeDecodeError, KeyError) as error:
            log.error(
                "field could not be decrypted",
                extra={
                    "event": "decryption_failed",
                    "field": field,
                    "organization_id": self.organization_id,
                    "reason": type(error).__name__,
                },
            )
            audit.record(
                "crypto.decryption_failed",
                organization_id=self.organization_id,
                target_type=field.split(".")[0],
                target_id=target_id,
                outcome=audit.ALARM,
                details={"field": field, "reason": type(error).__name__},
                independent=True,
            )
            return UNREADABLE

    def key_id_of(self, stored: str | None) -> str | None:
        if not stored or stored.count(":") < 2:
            return None
        return stored.split(":", 2)[1]

    def blind_index(self, field: str, normalised_value: str | None) -> str | None:
        """An HMAC of the normalised value for exact-match lookups; reveals nothing by itself."""
        if not normalised_value:
            return None
        try:
            mac = _index_mac(self.index_row).copy()
        except CryptoError as error:
            raise _unavailable(error) from None
        mac.update(f"{field}|{normalised_value}".encode())
        return mac.hexdigest()


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ciphertext, registered so key rotation can re-encrypt it."""

    model: type
    attribute: str
    field: str  # the name bound into the ciphertext, e.g. "patients.email"


ENCRYPTED_COLUMNS: list[EncryptedColumn] = []


def encrypted_column(model: type, attribute: str, field: str | None = None) -> None:
    """Register ``model.attribute`` (whose rows have ``organization_id``) as encrypted."""
    column = EncryptedColumn(model, attribute, field or f"{model.__tablename__}.{attribute}")  # type: ignore[attr-defined]
    if column not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(column)


def _load_key(organization_id: str, key_id: str) -> KeyRef:
    row = db.session.get(OrganizationKey, key_id)
    if row is None or row.organization_id != organization_id or row.purpose != DATA:
        raise KeyError(key_id)
    return KeyRef.of(row)


def _request_vaults() -> dict[str, Vault] | None:
    """This request's vaults by organization (None outside a request): a page reads the keys once."""
    return per_request("vaults")


# Vaults kept across requests in this process, by organization: (keys version, vault). The version
# is the organization's count of key changes, read with its row (which a request reads anyway), so
# a key made or rotated in any process makes every other process read the keys again.
_vaults: dict[str, tuple[int, Vault]] = {}
_keys_version_of: Callable[[str], int | None] | None = None


def install_keys_version_lookup(lookup: Callable[[str], int | None]) -> None:
    """How vault_for learns an organization's keys version (orgs keeps it; None: not known)."""
    global _keys_version_of
    _keys_version_of = lookup


def _forget_vault(organization_id: str) -> None:
    vaults = _request_vaults()
    if vaults is not None:
        vaults.pop(organization_id, None)
    with _cache_lock:
        _vaults.pop(organization_id, None)
    keys_changed.send(__name__, organization_id=organization_id)


def vault_for(organization_id: str) -> Vault:
    """The organization's vault, creating its keys on first use."""
    vaults = _request_vaults()
    if vaults is not None and organization_id in vaults:
        return vaults[organization_id]
    version = _keys_version_of(organization_id) if _keys_version_of is not None else None
    kept = _vaults.get(organization_id)
    if version is not None and kept is not None and kept[0] == version:
        vault = kept[1]
    else:
        vault = _build_vault(organization_id)
        if version is not None:
            with _cache_lock:
                _vaults[organization_id] = (version, vault)
    if vaults is not None:
        vaults[organization_id] = vault
    return vault


def _build_vault(organization_id: str) -> Vault:
    rows = [
        KeyRef.of(row)
        for row in db.session.scalars(select(OrganizationKey).where(OrganizationKey.organization_id == organization_id))
    ]
    if not any(r.purpose == DATA for r in rows) or not any(r.purpose == INDEX for r in rows):
        ensure_keys(organization_id)
        return _build_vault(organization_id)
    data_keys = {r.id: r for r in rows if r.purpose == DATA}
    current = max((r for r in data_keys.values() if r.is_current), key=lambda r: r.version)
    index = next(r for r in rows if r.purpose == INDEX)
    return Vault(organization_id, current, data_keys, index)


def new_data_key(organization_id: str) -> OrganizationKey:
    """Start a new data key for the organization; older ones stay to read old values."""
    rows = list(
        db.session.scalars(
            select(OrganizationKey).where(
                OrganizationKey.organization_id == organization_id, OrganizationKey.purpose == DATA
            )
        )
    )
    for row in rows:
        row.is_current = False
    version = max((r.version for r in rows), default=0) + 1
    return _create_key(organization_id, DATA, version)


def rewrap_all() -> int:
    """Re-wrap every stored key under the current master key; returns how many changed."""
    kid = current_master_key_id()
    changed: set[str] = set()
    rows = db.session.scalars(select(OrganizationKey).where(OrganizationKey.master_key_id != kid)).all()
    for row in rows:
        raw = _raw(row)
        row.master_key_id, row.wrapped_key = _wrap(raw, row.organization_id, row.purpose, row.version)
        changed.add(row.organization_id)
    db.session.flush()
    for organization_id in sorted(changed):
        _forget_vault(organization_id)  # kept vaults hold the old wrapping
    return len(rows)
