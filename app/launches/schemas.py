"""Request and response bodies of the launches domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from app.schemas import RequestModel, ResponseModel


class TransitionRead(ResponseModel):
    id: int
    event_id: int
    action: str = Field(examples=["launch"])
    phase: str | None = Field(default=None, validation_alias="phase_key")
    due_at: datetime
    trigger: str = Field(description="schedule (the clock), webhook or manual")
    status: str = Field(examples=["pending"], description="pending, done, skipped or failed")
    attempts: int
    next_attempt_at: datetime | None
    applied_at: datetime | None
    applied_by: str | None
    detail: str | None


class GateRead(ResponseModel):
    gate: str = Field(examples=["required_tasks"])
    enabled: bool
    applies: bool
    passed: bool
    detail: str


class ReadinessRead(ResponseModel):
    event_id: int
    ready: bool
    gates: list[GateRead]
    checked_at: datetime


class JobRunRead(ResponseModel):
    id: int
    transition_id: int
    event_id: int
    action: str
    phase: str | None = Field(default=None, validation_alias="phase_key")
    trigger: str
    instance_id: str
    attempt: int
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="done, skipped, blocked, error (will retry) or failed")
    error: str | None
    detail: str | None


class LaunchRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"override": True, "reason": "VP sign-off by phone"}]}
    )

    override: bool = Field(
        default=False, description="Launch although a readiness gate fails (planner's call)"
    )
    reason: str | None = Field(
        default=None, max_length=500, description="Why; recorded in the audit log"
    )


class TeardownRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "stock ran out"}]})

    reason: str | None = Field(default=None, max_length=500)


class TransitionResult(ResponseModel):
    event_id: int
    event_status: str
    transition: TransitionRead
    readiness: ReadinessRead | None = None
    overridden: bool = False
