"""JSON shapes of the second step of an API log-in and of two-factor enrolment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel, SecretStr

from clinic_app.auth.schemas import TokenPairOut
from clinic_app.core.api import Schema
from clinic_app.mfa.schemas import Method


class MfaRequiredOut(Schema):
    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Send it with a code to /api/v1/auth/mfa/verify; single use, 10 minutes")
    methods: list[Method] = Field(description="The second factors the account has")
    expires_in: int = Field(description="Seconds the mfa_token stays valid")


class LoginOut(RootModel[TokenPairOut | MfaRequiredOut]):
    """Tokens, or — for an account with two-factor sign-in — an ``mfa_token`` to finish with."""


class MfaVerifyRequest(Schema):
    mfa_token: SecretStr = Field(min_length=1, max_length=100)
    code: SecretStr = Field(
        min_length=1,
        max_length=40,
        description="A 6-digit code from the authenticator app, or one of the recovery codes (xxxxx-xxxxx)",
    )
