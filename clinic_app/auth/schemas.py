"""JSON shapes of the auth API (``/api/v1/auth/...``).

Field names follow the seed contracts: ``verify`` and ``organization/{id}/access`` answer exactly
as the practice backend documented them, and ``UserContext`` carries the health-data backend's
user fields plus the caller's organizations.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from clinic_app.core.api import Schema, Timestamp

# --- requests ---------------------------------------------------------------------------------


def _given(message: str) -> Any:
    """A before-validator that refuses a missing or empty value with the product's own words."""

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PydanticCustomError("missing", message)
        return value

    return BeforeValidator(check)


class LoginRequest(Schema):
    email: Annotated[str, _given("Enter the e-mail address you sign in with.")] = Field(
        default=None,
        validate_default=True,
        max_length=254,
        description="The e-mail address the account signs in with",
    )
    # SecretStr keeps the value out of reprs, tracebacks and logs.
    password: Annotated[SecretStr, _given("Enter your password.")] = Field(
        default=None, validate_default=True, max_length=256
    )
    organization_id: str | None = Field(
        default=None,
        max_length=40,
        description=(
            "The organization this log-in acts for. Optional for someone who belongs to one; someone who"
            " belongs to several and leaves it out names the organization on every request instead"
            " (X-Organization-ID)"
        ),
    )


class RefreshRequest(Schema):
    refresh_token: SecretStr = Field(
        min_length=1, max_length=200, description="The refresh token from the log-in or the previous refresh"
    )


class LogoutRequest(Schema):
    refresh_token: SecretStr | None = Field(
        default=None,
        max_length=200,
        description="Accepted for compatibility; the whole log-in (every token issued by it) is ended anyway",
    )


class ProfileUpdate(Schema):
    """Only the name can be changed here; organization ids or roles in the body are ignored."""

    display_name: str = Field(max_length=120, description="1 to 120 characters")


class ForgotPasswordRequest(Schema):
    email: str = Field(min_length=1, max_length=254, description="The address the account signs in with")


class ResetPasswordRequest(Schema):
    """Either ``email`` and ``code`` (from the e-mail), or ``token`` (the secret at the end of the
    e-mailed link), and the new password."""

    email: str | None = Field(
        default=None, min_length=1, max_length=254, description="With code: the address the account signs in with"
    )
    code: str | None = Field(
        default=None, pattern=r"^[0-9]{6}$", description="With email: the 6-digit code from the e-mail"
    )
    token: SecretStr | None = Field(
        default=None, min_length=1, max_length=200, description="Instead of email and code: the link's secret"
    )
    new_password: SecretStr = Field(
        min_length=1, max_length=256, description="12 to 256 characters; not a common password (docs/identity.md)"
    )


class RegisterRequest(Schema):
    """A practice signing itself up: the owner's name, address and password, and the practice."""

    name: str = Field(min_length=1, max_length=120, description="The owner's name")
    email: str = Field(min_length=1, max_length=254, description="The owner's address; they sign in with it")
    password: SecretStr = Field(
        min_length=1, max_length=256, description="12 to 256 characters; not a common password (docs/identity.md)"
    )
    practice_name: str = Field(min_length=1, max_length=200, description="The new organization's name")
    time_zone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Australia/Sydney")
    region: str = Field(default="AU", min_length=2, max_length=2, description="Two-letter country code (phone numbers)")


class ConfirmEmailRequest(Schema):
    """Either ``email`` and ``code`` (from the confirmation e-mail), or ``token`` (the secret at
    the end of the e-mailed link)."""

    email: str | None = Field(
        default=None, min_length=1, max_length=254, description="With code: the address signed up with"
    )
    code: str | None = Field(
        default=None, pattern=r"^[0-9]{6}$", description="With email: the 6-digit code from the e-mail"
    )
    token: SecretStr | None = Field(
        default=None, min_length=1, max_length=200, description="Instead of email and code: the link's secret"
    )


class ResendConfirmationRequest(Schema):
    email: str = Field(min_length=1, max_length=254, description="The address signed up with")


# --- responses --------------------------------------------------------------------------------


class OrganizationRole(Schema):
    organization_id: str
    name: str
    role: str


class UserContext(Schema):
    user_id: str
    email: str | None
    display_name: str
    role: str | None = Field(description="The role in the current organization (the default one unless chosen)")
    permissions: list[str] = Field(description="Every permission that role grants, wildcards expanded")
    is_verified: bool
    is_active: bool
    custom_claims: dict[str, Any]
    created_at: Timestamp | None
    last_login: Timestamp | None
    organizations: list[OrganizationRole]


class TokenPairOut(Schema):
    access_token: str
    refresh_token: str = Field(description="Single use: each refresh returns a new one and spends the old")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme's name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")
    organization_id: str | None = Field(
        description="The organization every request with these tokens acts for; null when each request names it"
    )
    user: UserContext


class LogoutOut(Schema):
    message: str


class VerifyOut(Schema):
    authenticated: bool
    organization_id: str
    message: str


class OrganizationAccessOut(Schema):
    organization_id: str
    access_granted: bool
    message: str


class MessageOut(Schema):
    message: str


class AuthHealth(Schema):
    status: str = Field(description="`healthy` when the service answers")
    service: str
    timestamp: Timestamp
    signup_enabled: bool
