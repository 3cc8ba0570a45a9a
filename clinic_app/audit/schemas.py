from __future__ import annotations

from typing import Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp


class VerificationStartOut(Schema):
    job_id: str
    started: bool = Field(description="False when a verification was already queued or running: that one is returned")
    status: str = Field(description="The job's status: queued, running, succeeded, failed or cancelled")
    job_url: str = Field(
        description="Poll for the job's progress (needs jobs:read and admin:audit); also in the Location header"
    )
    verification_url: str = Field(description="The checkpoint and the last result (needs admin:audit)")


class ChainProblemOut(Schema):
    seq: int = Field(description="Sequence number of the event where the chain broke")
    event_id: str | None
    detail: str


class VerificationJobOut(Schema):
    id: str
    status: str
    progress: int = Field(description="0-100")
    message: str | None


class VerificationOut(Schema):
    state: Literal["unverified", "verified", "broken"] = Field(
        description="`broken`: the last run found a problem (the checkpoint before it is kept)"
    )
    verified_seq: int = Field(description="The checkpoint: events up to this seq were intact when it was taken")
    verified_hash: str = Field(description="The checkpoint event's hash (64 hex digits; all zeros before any)")
    verified_at: Timestamp | None
    verified_by_id: str | None = Field(description="The user who started the run that took the checkpoint")
    checked_at: Timestamp | None = Field(description="When the last run ended, whatever it found")
    checked_by_id: str | None
    events_checked: int = Field(description="Events the last run read")
    latest_seq: int = Field(description="The newest event's seq")
    events_since: int = Field(description="Events recorded after the checkpoint, not verified yet")
    problem: ChainProblemOut | None
    running_job: VerificationJobOut | None = Field(description="A verification in progress, if any")
