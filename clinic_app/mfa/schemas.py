"""JSON shapes of two-factor enrolment (``/api/v1/auth/mfa/...``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from clinic_app.core.api import Schema

Method = Literal["totp", "passkey", "recovery_code"]


class MfaStatusOut(Schema):
    methods: list[Method]
    totp: bool
    passkeys: int
    recovery_codes_left: int
    required: bool = Field(description="An organization of yours requires two-factor sign-in of your role")


class TotpEnrolmentOut(Schema):
    secret: str = Field(description="Base32 key, for typing into an authenticator app by hand")
    otpauth_uri: str = Field(description="The key as an otpauth:// URI (what the QR code holds)")


class TotpConfirmRequest(Schema):
    code: str = Field(min_length=1, max_length=20, description="A code from the authenticator app")


class TotpConfirmOut(Schema):
    enabled: Literal[True] = True
    recovery_codes: list[str] = Field(
        description="Ten single-use codes, shown this once (empty when earlier unused codes are kept)"
    )


class PasswordAgainRequest(Schema):
    password: SecretStr = Field(min_length=1, max_length=256, description="The account's password, asked again")


class RecoveryCodesOut(Schema):
    recovery_codes: list[str]
