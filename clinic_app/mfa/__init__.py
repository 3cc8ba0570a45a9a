"""Two-factor sign-in: authenticator apps (TOTP), recovery codes and passkeys (WebAuthn) of a
person's account, enrolment pages and API, and the organization's "two-factor required" rule."""

from flask import Blueprint

bp = Blueprint("mfa", __name__)
