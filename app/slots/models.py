"""Tables of the slots domain: merchants, slot types, slot plans,
applications, allocation runs with their assignments and refusals, locks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column

TIERS = ("head", "waist", "tail")


class MerchantTier:
    head = "head"
    waist = "waist"
    tail = "tail"


class RunStatus:
    solved = "solved"
    published = "published"
    superseded = "superseded"


_merchant_version = version_column()


class Merchant(SQLModel, table=True):
    __tablename__ = "merchant"
    __table_args__ = (CheckConstraint("tier IN ('head', 'waist', 'tail')", name="tier"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    tier: str = Field(max_length=10, index=True)
    categories: list[str] = Field(
        default_factory=list, sa_column=Column(JSONColumn, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_merchant_version)

    __mapper_args__ = {"version_id_col": _merchant_version}


_slot_type_version = version_column()


class SlotType(SQLModel, table=True):
    """A kind of promotional position with a number of units per window."""

    __tablename__ = "slot_type"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("window_seconds = 86400", name="window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, unique=True)
    name: str = Field(max_length=200)
    channel: str | None = Field(default=None, max_length=60)
    capacity: int
    # Windows are days in the event's time zone; the column leaves room for more.
    window_seconds: int = 86400
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_slot_type_version)

    __mapper_args__ = {"version_id_col": _slot_type_version}


_slot_plan_version = version_column()


class SlotPlan(SQLModel, table=True):
    """The rules of one slot type in one event."""

    __tablename__ = "slot_plan"
    __table_args__ = (
        UniqueConstraint("event_id", "slot_type_id", name="uq_slot_plan_event_id_slot_type_id"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint(
            "per_merchant_max IS NULL OR per_merchant_max >= 1", name="per_merchant_max"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    slot_type_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("slot_type.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # ISO dates, ascending.
    windows: list[str] = Field(sa_column=Column(JSONColumn, nullable=False))
    capacity: int
    category_quotas: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONColumn, nullable=False)
    )
    tier_quotas: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONColumn, nullable=False)
    )
    per_merchant_max: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_slot_plan_version)

    __mapper_args__ = {"version_id_col": _slot_plan_version}


class SlotApplication(SQLModel, table=True):
    """A merchant's request for one unit of a slot type in each window."""

    __tablename__ = "slot_application"
    __table_args__ = (
        CheckConstraint("score >= 0", name="score"),
        Index("ix_slot_application_event_id_merchant_id", "event_id", "merchant_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    merchant_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("merchant.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    slot_type_id: int = Field(
        sa_column=Column(Integer, ForeignKey("slot_type.id", ondelete="RESTRICT"), nullable=False)
    )
    category: str = Field(max_length=100)
    windows: list[str] = Field(sa_column=Column(JSONColumn, nullable=False))
    score: float = Field(sa_column=Column(Float, nullable=False))
    all_or_nothing: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=300)


class AllocationRun(SQLModel, table=True):
    """One solve of an event's allocation. At most one per event is
    `published`: a partial unique index enforces it on both databases."""

    __tablename__ = "allocation_run"
    __table_args__ = (
        CheckConstraint("status IN ('solved', 'published', 'superseded')", name="status"),
        Index(
            "uq_allocation_run_one_published",
            "event_id",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    status: str = Field(default=RunStatus.solved, max_length=20)
    objective: float = Field(sa_column=Column(Float, nullable=False))
    optimal: bool
    gap: float = Field(sa_column=Column(Float, nullable=False))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=300)
    published_at: datetime | None = None
    published_by: str | None = Field(default=None, max_length=300)
    superseded_at: datetime | None = None
    # Set by the launch (live) and the teardown (released).
    live_at: datetime | None = None
    released_at: datetime | None = None


class AllocationAssignment(SQLModel, table=True):
    __tablename__ = "allocation_assignment"
    __table_args__ = (
        UniqueConstraint(
            "run_id", "application_id", "window_date", name="uq_allocation_assignment_unit"
        ),
        CheckConstraint("position >= 1", name="position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("allocation_run.id", ondelete="CASCADE"), nullable=False
        )
    )
    application_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("slot_application.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    merchant_id: int = Field(index=True)
    slot_type_id: int
    window_date: date
    position: int
    locked: bool = False


class AllocationRefusal(SQLModel, table=True):
    __tablename__ = "allocation_refusal"
    __table_args__ = (
        UniqueConstraint(
            "run_id", "application_id", "window_date", name="uq_allocation_refusal_unit"
        ),
        CheckConstraint(
            "reason IN ('capacity', 'category_quota', 'tier_quota', 'merchant_cap', "
            "'all_or_nothing', 'outscored')",
            name="reason",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("allocation_run.id", ondelete="CASCADE"), nullable=False
        )
    )
    application_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("slot_application.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    merchant_id: int = Field(index=True)
    window_date: date
    reason: str = Field(max_length=20)
    detail: str = Field(sa_column=Column(Text, nullable=False))


class SlotLock(SQLModel, table=True):
    """A planner's pin: later runs keep this application in this window."""

    __tablename__ = "slot_lock"
    __table_args__ = (UniqueConstraint("application_id", "window_date", name="uq_slot_lock_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("event.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    application_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("slot_application.id", ondelete="CASCADE"), nullable=False
        )
    )
    window_date: date
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=300)
