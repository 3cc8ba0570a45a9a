"""Passkeys (WebAuthn credentials) of a person's account: adding one, signing in with one (as the
second factor after the password, or alone, without one), and removing one.

py_webauthn checks every ceremony (attestation, client data, RP id hash, flags, signature); this
module holds the rules around it. The relying party is ``PUBLIC_URL``: its host is the RP id
(unless ``WEBAUTHN_RP_ID`` names a parent domain) and it is the only origin accepted, whatever
Host a request came with. A ceremony's challenge lives on an ``MfaChallenge`` named by a secret
the browser session keeps, used up once (``challenges.spend``) and burned by wrong answers.
Passkeys are discoverable, with user verification; their user handle is the account's id.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import current_app
from limits import parse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.accounts.passwords import MAX_LENGTH as PASSWORD_MAX
from clinic_app.core import audit, text
from clinic_app.core.errors import FieldError, Invalid, NotFound, Unauthorized
from clinic_app.core.mail import public_url, send_after_commit
from clinic_app.core.ratelimit import throttle
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.mfa import challenges, recovery, totp
from clinic_app.mfa.models import MfaChallenge, Passkey

log = logging.getLogger("clinic_app.mfa")

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,  # ES256: platform authenticators and most keys
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,  # RS256: Windows Hello
]
TIMEOUT_MS = 120_000
NAME_MAX = 100
MAX_PASSKEYS = 20  # per person: enough for every device they own, and a bound on the options
CREDENTIAL_ID_MAX = 1400  # the column: base64url of at most 1,023 bytes
KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}

SIGN_IN_REFUSED = "The passkey could not sign you in. Please try again, or sign in with your password."
REGISTER_REFUSED = "The passkey could not be added. Please try again."
WRONG_PASSWORD = "The password is not right."  # noqa: S105 (a message, not a secret)
SECURITY_PAGE = "/account/security"  # where the person manages their passkeys (mfa.security)
# Asking for the password again before a removal: guesses per person.
REMOVE_LIMITS = {"user": parse("10/15minutes")}


# --- the relying party ----------------------------------------------------------------------------


def relying_party() -> tuple[str, str, str]:
    """(RP id, expected origin, RP name) from the configuration: the origin is ``PUBLIC_URL``
    (scheme, host and port), the RP id its host unless ``WEBAUTHN_RP_ID`` is set."""
    config = current_app.config
    origin = config["PUBLIC_URL"].rstrip("/")
    rp_id = config.get("WEBAUTHN_RP_ID") or urlsplit(origin).hostname or ""
    return rp_id, origin, config.get("APP_NAME") or "Clinic"


def _options_dict(options: Any) -> dict[str, Any]:
    # The library's own JSON form (base64url bytes, camelCase names), as a plain dict.
    return dict(json.loads(options_to_json(options)))


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports or [] if t in KNOWN_TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id), transports=transports or None)


# --- reading --------------------------------------------------------------------------------------


def list_for(user_id: str) -> list[Passkey]:
    """The person's passkeys, newest first."""
    return list(
        db.session.scalars(
            select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at.desc(), Passkey.id.desc())
        )
    )


def has_passkey(user_id: str) -> bool:
    return db.session.scalar(select(Passkey.id).where(Passkey.user_id == user_id).limit(1)) is not None


# --- adding one -----------------------------------------------------------------------------------


def registration_options(user: User) -> tuple[str, dict[str, Any]]:
    """Open a ``PASSKEY_REGISTER`` challenge for ``user``; returns its secret (for the browser
    session) and the options for ``navigator.credentials.create``: a discoverable credential with
    user verification, not one of the person's existing passkeys. Raises Invalid when the person
    already has ``MAX_PASSKEYS``."""
    existing = list_for(user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise Invalid(errors=[FieldError("name", f"You have {MAX_PASSKEYS} passkeys: remove one to add another.")])
    rp_id, _origin, rp_name = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user.id.encode(),
        user_name=user.email,
        user_display_name=user.display_name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
        supported_pub_key_algs=ALGORITHMS,
    )
    secret, _row = challenges.open_challenge(
        challenges.PASSKEY_REGISTER, user_id=user.id, webauthn_challenge=bytes_to_base64url(options.challenge)
    )
    return secret, _options_dict(options)


def default_name() -> str:
    today = utcnow()
    return f"Passkey added {today.day} {today:%b %Y}"


def _clean_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        return default_name()
    if len(cleaned) > NAME_MAX:
        raise Invalid(errors=[FieldError("name", f"Give the passkey a name of at most {NAME_MAX} characters.")])
    if text.unusable(cleaned):
        raise Invalid(errors=[FieldError("name", text.MESSAGE)])
    return cleaned


def _refuse_registration(row: MfaChallenge | None, user: User, reason: str) -> Invalid:
    if row is not None:
        challenges.count_failure(row)
    _audit("mfa.passkey_add_failed", user, target=("user", user.id), failed=True, reason=reason)
    return Invalid(REGISTER_REFUSED, errors=[FieldError("credential", REGISTER_REFUSED)])


def finish_registration(user: User, secret: str, credential: dict[str, Any], *, name: str | None) -> Passkey:
    """Check the authenticator's answer to ``registration_options`` (the challenge of ``secret``,
    used once; origin and RP id from the configuration; user verification required) and keep the
    passkey under ``name`` (1 to 100 characters; blank gives "Passkey added 7 Dec 2026").
    Audited as ``mfa.passkey_added`` and mailed to the person.

    Raises Invalid: a bad name, an answer that does not verify (the challenge's wrong answers are
    counted), a used or expired challenge, or a passkey already registered."""
    clean_name = _clean_name(name)
    row = challenges.live_challenge(secret, challenges.PASSKEY_REGISTER)
    if row is None or row.user_id != user.id or not row.webauthn_challenge:
        raise _refuse_registration(None, user, "no_live_challenge")
    rp_id, origin, _rp_name = relying_party()
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(row.webauthn_challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as error:  # the library's refusals, and whatever a malformed answer raises
        log.info("passkey registration refused", extra={"event": "passkey_register_refused", "why": str(error)[:200]})
        raise _refuse_registration(row, user, "not_verified") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX:
        raise _refuse_registration(row, user, "credential_id_too_long")
    if not challenges.spend(row):
        raise _refuse_registration(None, user, "challenge_used")
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
        raise _refuse_registration(None, user, "already_registered")
    transports = [t.value for t in parsed.response.transports or [] if t.value in KNOWN_TRANSPORTS]
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=sorted(set(transports)),
        name=clean_name,
        aaguid=verified.aaguid,
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    db.session.add(passkey)
    try:
        db.session.flush()  # the unique credential id settles a race between two requests
    except IntegrityError:
        raise _refuse_registration(None, user, "already_registered") from None
    _audit("mfa.passkey_added", user, target=("passkey", passkey.id), name=clean_name, aaguid=verified.aaguid)
    _mail(
        user,
        "A passkey was added to your account",
        f'A passkey named "{clean_name}" was added to your account {user.email}. It can sign you in '
        "without your password.",
    )
    return passkey


# --- signing in with one --------------------------------------------------------------------------


def authentication_options(user_id: str | None) -> tuple[str, dict[str, Any]]:
    """Open a ``PASSKEY_SIGN_IN`` challenge; returns its secret and the options for
    ``navigator.credentials.get``. With ``user_id`` (the second factor after a password) the
    options list that person's passkeys; without (a sign-in with no password) they list none, and
    the authenticator offers the discoverable passkeys it holds for this site."""
    rp_id, _origin, _rp_name = relying_party()
    allowed = [_descriptor(p) for p in list_for(user_id)] if user_id else []
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=TIMEOUT_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    secret, _row = challenges.open_challenge(
        challenges.PASSKEY_SIGN_IN, user_id=user_id, webauthn_challenge=bytes_to_base64url(options.challenge)
    )
    return secret, _options_dict(options)


def _refuse_sign_in(row: MfaChallenge | None, reason: str, *, user_id: str | None, **details: Any) -> NoReturn:
    if row is not None:
        challenges.count_failure(row)
    alarm = reason == "counter_went_backwards"
    if alarm:
        log.warning("passkey counter went backwards", extra={"event": "passkey_counter_alarm", **details})
    audit.record(
        "mfa.passkey_counter_alarm" if alarm else "mfa.passkey_failed",
        organization_id=None,
        target_type="user" if user_id else None,
        target_id=user_id,
        outcome=audit.ALARM if alarm else audit.FAILURE,
        details={"reason": reason, **details},
        independent=True,
    )
    raise Unauthorized(SIGN_IN_REFUSED)


def finish_authentication(secret: str, credential: dict[str, Any], *, user_id: str | None) -> User:
    """The person whose passkey answered ``authentication_options`` (opened with the same
    ``user_id``): the challenge is used once; the passkey must be registered, be that person's
    when ``user_id`` is given, and name its owner in the user handle; the signature, origin, RP
    id and user verification are checked by the library; a signature counter must move forward
    (authenticators that keep none, 0 and 0, pass). Stores the new counter and the time of use.

    Raises Unauthorized with one message for every failure (the challenge's wrong answers are
    counted; a counter going backwards is audited as an alarm)."""
    row = challenges.live_challenge(secret, challenges.PASSKEY_SIGN_IN)
    if row is None or row.user_id != user_id or not row.webauthn_challenge:
        _refuse_sign_in(None, "no_live_challenge", user_id=user_id)
    try:
        parsed = parse_authentication_credential_json(credential)
    except Exception:
        _refuse_sign_in(row, "malformed", user_id=user_id)
    credential_id = bytes_to_base64url(parsed.raw_id)
    passkey = None
    if len(credential_id) <= CREDENTIAL_ID_MAX:
        passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
    if passkey is None:
        _refuse_sign_in(row, "unknown_credential", user_id=user_id)
    if user_id is not None and passkey.user_id != user_id:
        _refuse_sign_in(row, "not_this_persons_passkey", user_id=user_id, passkey_id=passkey.id)
    handle = parsed.response.user_handle
    if (handle is None and user_id is None) or (handle is not None and handle != passkey.user_id.encode()):
        _refuse_sign_in(row, "user_handle_mismatch", user_id=passkey.user_id, passkey_id=passkey.id)
    rp_id, origin, _rp_name = relying_party()
    try:
        # The counter is compared below, after the signature: given 0 here, the library checks
        # everything else, so a wrong counter with a right signature can raise the clone alarm.
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(row.webauthn_challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except Exception as error:
        log.info("passkey assertion refused", extra={"event": "passkey_sign_in_refused", "why": str(error)[:200]})
        _refuse_sign_in(row, "not_verified", user_id=passkey.user_id, passkey_id=passkey.id)
    if not challenges.spend(row):
        _refuse_sign_in(None, "challenge_used", user_id=passkey.user_id, passkey_id=passkey.id)
    presented = verified.new_sign_count
    # One conditional UPDATE: of two racing answers with the same counter, one moves it. An
    # authenticator that keeps no counter says 0 every time, and stays at 0.
    forward = Passkey.sign_count < presented if presented > 0 else Passkey.sign_count == 0
    moved = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, forward)
        .values(sign_count=presented, last_used_at=utcnow(), backed_up=verified.credential_backed_up)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        # A counter that does not move forward means two copies of one private key (a cloned
        # authenticator): refused, and an alarm for the operators, as the signature was right.
        stored = passkey.sign_count
        _refuse_sign_in(
            row,
            "counter_went_backwards",
            user_id=passkey.user_id,
            passkey_id=passkey.id,
            stored=stored,
            presented=presented,
        )
    db.session.refresh(passkey)
    user = db.session.get(User, passkey.user_id)
    if user is None or not user.is_active:
        _refuse_sign_in(row, "inactive_account", user_id=passkey.user_id)
    return user


# --- removing one ---------------------------------------------------------------------------------


def get_own(user: User, passkey_id: str) -> Passkey:
    """The person's passkey of this id; another person's, or none, is NotFound."""
    passkey = db.session.get(Passkey, passkey_id) if passkey_id and len(passkey_id) <= 40 else None
    if passkey is None or passkey.user_id != user.id:
        raise NotFound("No such passkey.")
    return passkey


def remove(user: User, passkey_id: str, *, password: str) -> None:
    """Remove one of the person's passkeys, once they have typed their password again (throttled
    per person). Audited as ``mfa.passkey_removed`` and mailed.

    Raises NotFound (not theirs), Invalid (wrong password), Throttled or Unavailable."""
    passkey = get_own(user, passkey_id)
    throttle(
        "passkey-remove",
        REMOVE_LIMITS,
        {"user": user.id},
        audit_action="mfa.passkey_remove_throttled",
        details={"passkey_id": passkey.id},
        too_many="password attempts",
        feature="Removing a passkey",
    )
    if len(password or "") > PASSWORD_MAX or accounts.check_credentials(user.email, password or "") is None:
        _audit("mfa.passkey_remove_failed", user, target=("passkey", passkey.id), failed=True, reason="wrong_password")
        raise Invalid(WRONG_PASSWORD, errors=[FieldError("password", WRONG_PASSWORD)])
    name = passkey.name
    db.session.delete(passkey)
    db.session.flush()
    if totp.confirmed_factor(user.id) is None and not has_passkey(user.id):
        recovery.discard(user.id)  # nothing left for them to back up
    _audit("mfa.passkey_removed", user, target=("passkey", passkey_id), name=name)
    _mail(
        user,
        "A passkey was removed from your account",
        f'The passkey named "{name}" was removed from your account {user.email}. It can no longer sign you in.',
    )


def _audit(action: str, user: User, *, target: tuple[str, str], failed: bool = False, **details: Any) -> None:
    # A person's own act on their account (no organization: factors guard the sign-in). A failure
    # is kept although its request rolls back.
    audit.record(
        action,
        organization_id=None,
        actor=audit.Actor(user_id=user.id),
        target_type=target[0],
        target_id=target[1],
        outcome=audit.FAILURE if failed else audit.SUCCESS,
        details=details,
        independent=failed,
    )


def _mail(user: User, subject: str, what: str) -> None:
    when = utcnow().strftime("%d %b %Y at %H:%M UTC")
    body = (
        f"Hello {user.display_name},\n\n{what} ({when})\n\n"
        "If that was you, there is nothing more to do. If it was not, change your password now at "
        f"{public_url(SECURITY_PAGE)} and tell your practice admin.\n"
    )
    send_after_commit(user.email, subject, body)
