"""Password rules (NIST SP 800-63B) and hashing (argon2id, per-user salt).

At least 12 characters, up to 256, any characters, no composition rules; refused when it appears
on the common-password list shipped with the app (the 30,000 most common passwords that come with
the zxcvbn package, also with digits or symbols added at the end), repetitive or sequential, or
just the person's own e-mail address or name.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` is not acceptable, in words for the person; None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters. A few unrelated words make a strong, memorable password."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    common = _common_passwords()
    # A common password with digits or symbols stuck on the end is still a common password.
    stem = lowered.rstrip("0123456789!@#$%^&*()-_=+.?~ ")
    if lowered in common or (len(stem) >= 4 and stem in common):
        return "This password is on a list of commonly used passwords. Please choose a different one."
    if _is_repetitive(lowered):
        return "This password repeats the same characters. Please choose something less predictable."
    personal = {email.lower(), email.lower().split("@")[0], name.lower().replace(" ", "")}
    if lowered in personal or lowered.replace(" ", "") in personal:
        return "Your password must not be your e-mail address or name."
    return None


def _is_repetitive(text: str) -> bool:
    """A short unit repeated (``aaaaaaaaaaaa``, ``abcabcabcabc``, ``passwordpassword``) or a plain
    run (``123456789012``, ``abcdefghijkl``)."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return True
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    # Runs up or down, digits wrapping round (…8901…).
    return steps in ({1}, {-1}, {1, -9}, {-1, 9})


def _hasher() -> PasswordHasher:
    cached = current_app.extensions.get("clinic_password_hasher")
    if cached is None:
        # Argon2id with the library's RFC 9106 defaults; tests may lower the cost through config.
        cost = current_app.config.get("PASSWORD_HASH_COST") or {}
        cached = PasswordHasher(**cost)
        current_app.extensions["clinic_password_hasher"] = cached
    return cached


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        # Spend the same effort as a real check, so timing does not tell who has a password.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)
