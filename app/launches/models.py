"""Tables of the launches domain: transitions and their job runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.types import utcnow, version_column

_transition_version = version_column()


class Transition(SQLModel, table=True):
    """One planned change of an event (launch, a phase start, teardown) and its outcome.

    The row is the truth the clock works from: a replica claims it by a row
    lock (PostgreSQL) or the write lock (SQLite) and marks it done in the
    same transaction as the change itself, so it happens once.
    """

    __tablename__ = "transition"
    __table_args__ = (
        UniqueConstraint("event_id", "key", name="uq_transition_event_id_key"),
        Index("ix_transition_status_due_at", "status", "due_at"),
        CheckConstraint("action IN ('launch', 'phase_start', 'teardown')", name="known_action"),
        CheckConstraint("status IN ('pending', 'done', 'skipped', 'failed')", name="known_status"),
        CheckConstraint("trigger IN ('schedule', 'webhook', 'manual')", name="known_trigger"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint(
            "(action = 'phase_start') = (phase_key IS NOT NULL)", name="phase_key_iff_phase_start"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    key: str = Field(max_length=60)
    action: str = Field(max_length=20)
    phase_key: str | None = Field(default=None, max_length=40)
    seq: int = 0
    due_at: datetime
    trigger: str = Field(default="schedule", max_length=20)
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    applied_at: datetime | None = None
    applied_by: str | None = Field(default=None, max_length=300)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_transition_version)

    __mapper_args__ = {"version_id_col": _transition_version}


class JobRun(SQLModel, table=True):
    """One run of a transition: by the clock, a webhook or a planner."""

    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('done', 'skipped', 'blocked', 'error', 'failed')",
            name="known_outcome",
        ),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transition_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("transition.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: str = Field(max_length=20)
    phase_key: str | None = Field(default=None, max_length=40)
    trigger: str = Field(max_length=20)
    instance_id: str = Field(max_length=200)
    attempt: int = 1
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(max_length=20)
    error: str | None = Field(default=None, sa_column=Column(Text))
    detail: str | None = Field(default=None, sa_column=Column(Text))
