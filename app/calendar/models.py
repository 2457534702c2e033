"""Tables of the calendar: events, phases, tasks, dependencies, templates."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column


def new_uid() -> str:
    """A persistent UID for calendar items (RFC 7986 §5.3: a UUID)."""
    return str(uuid.uuid4())


class EventStatus:
    draft = "draft"
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


_event_version = version_column()


class Event(SQLModel, table=True):
    __tablename__ = "event"
    # The database refuses what the API refuses, whoever writes.
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'live', 'ended', 'cancelled')", name="status"
        ),
        CheckConstraint("launch_mode IN ('schedule', 'webhook', 'manual')", name="launch_mode"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=220, unique=True)
    uid: str = Field(default_factory=new_uid, max_length=36, unique=True)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    starts_at: datetime = Field(index=True)
    ends_at: datetime = Field(index=True)
    status: str = Field(default=EventStatus.draft, max_length=20, index=True)
    launch_mode: str = Field(default="schedule", max_length=20)
    description: str | None = Field(default=None, sa_column=Column(Text))
    template_key: str | None = Field(default=None, max_length=100)
    anchor_date: date | None = None
    # Which readiness gates the launch checks; None means all of them.
    gates: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn))
    current_phase_key: str | None = Field(default=None, max_length=40)
    launched_at: datetime | None = None
    ended_at: datetime | None = None
    cancelled_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_event_version)

    __mapper_args__ = {"version_id_col": _event_version}


_phase_version = version_column()


class Phase(SQLModel, table=True):
    __tablename__ = "phase"
    __table_args__ = (
        UniqueConstraint("event_id", "key", name="uq_phase_event_id_key"),
        CheckConstraint("ends_at > starts_at", name="window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    key: str = Field(max_length=40)
    name: str = Field(max_length=200)
    position: int = 0
    uid: str = Field(default_factory=new_uid, max_length=36, unique=True)
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_phase_version)

    __mapper_args__ = {"version_id_col": _phase_version}


_task_version = version_column()


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("event_id", "code", name="uq_task_event_id_code"),
        Index("ix_task_event_id_starts_at", "event_id", "starts_at"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        CheckConstraint("kind IN ('task', 'milestone')", name="kind"),
        # A milestone has no duration; a task cannot end before it starts.
        CheckConstraint(
            "(kind = 'milestone' AND ends_at = starts_at) "
            "OR (kind = 'task' AND ends_at >= starts_at)",
            name="dates",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False)
    )
    # A stable machine name from the template (`signup_close`, `launch`...);
    # other domains find well-known milestones by it.
    code: str | None = Field(default=None, max_length=60)
    name: str = Field(max_length=200)
    kind: str = Field(default="task", max_length=20)
    team: str | None = Field(default=None, max_length=60, index=True)
    starts_at: datetime
    ends_at: datetime
    progress: int = 0
    required: bool = False
    description: str | None = Field(default=None, sa_column=Column(Text))
    uid: str = Field(default_factory=new_uid, max_length=36, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_task_version)

    __mapper_args__ = {"version_id_col": _task_version}


class TaskDependency(SQLModel, table=True):
    __tablename__ = "task_dependency"
    __table_args__ = (
        UniqueConstraint("task_id", "depends_on_id", name="uq_task_dependency_pair"),
        CheckConstraint("type IN ('FS', 'SS', 'FF', 'SF')", name="type"),
        CheckConstraint("task_id <> depends_on_id", name="not_self"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    task_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("task.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    depends_on_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("task.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    type: str = Field(default="FS", max_length=2)
    lag_seconds: int = 0


_template_version = version_column()


class Template(SQLModel, table=True):
    """A planner's saved template; built-ins live in code, not here."""

    __tablename__ = "template"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text))
    body: dict[str, Any] = Field(sa_column=Column(JSONColumn, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_template_version)

    __mapper_args__ = {"version_id_col": _template_version}
