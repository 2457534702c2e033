"""Request and response bodies of the calendar.

Datetimes in requests may be naive: the service reads them in the event's
time zone. Responses give every instant in the event's zone, with its
offset (`2027-11-10T20:00:00+08:00`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from app.schemas import RequestModel, ResponseModel
from app.types import parse_duration

Status = Literal["draft", "scheduled", "live", "ended", "cancelled"]
LaunchMode = Literal["schedule", "webhook", "manual"]
Kind = Literal["task", "milestone"]
DependencyType = Literal["FS", "SS", "FF", "SF"]

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
# A lag or shift beyond a year is a typo, not a plan.
MAX_OFFSET_SECONDS = 366 * 86400


# Plans live in this range; beyond it date arithmetic (a shift, a template's
# offsets, a zone's offset) would overflow Python's dates.
FIRST_YEAR, LAST_YEAR = 1970, 2200
# Ids are 32-bit integers in the database.
MAX_ID = 2_147_483_647


def _plausible_datetime(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _plausible_date(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


Instant = Annotated[datetime, AfterValidator(_plausible_datetime)]
Day = Annotated[date, AfterValidator(_plausible_date)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _duration(value: str) -> str:
    seconds = parse_duration(value).total_seconds()  # ValueError → 422 on the field
    if abs(seconds) > MAX_OFFSET_SECONDS:
        raise ValueError("must be at most a year (P366D) either way")
    if seconds != int(seconds):
        raise ValueError("must be a whole number of seconds")
    return value


# --- events and phases ----------------------------------------------------


class PhaseIn(RequestModel):
    key: str = Field(min_length=1, max_length=40, pattern=KEY_PATTERN, examples=["peak"])
    name: str | None = Field(default=None, min_length=1, max_length=200, examples=["Peak 爆发"])
    starts_at: Instant
    ends_at: Instant


GateName = Literal["required_tasks", "allocation", "risk"]
GATE_NAMES: tuple[str, ...] = ("required_tasks", "allocation", "risk")
_GATES_FIELD = Field(
    default=None,
    description="Readiness gates this event's launch checks; name one `false` to turn it "
    "off (gates left out stay on)",
    examples=[{"allocation": False}],
)


class EventCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["Double 11 2027"])
    timezone: str = Field(default="Asia/Shanghai", max_length=64, examples=["Asia/Shanghai"])
    starts_at: Instant = Field(examples=["2027-10-21T00:00:00"])
    ends_at: Instant = Field(examples=["2027-11-14T00:00:00"])
    phases: list[PhaseIn] = Field(default_factory=list, max_length=50)
    launch_mode: LaunchMode = "schedule"
    description: str | None = Field(default=None, max_length=10_000)
    gates: dict[GateName, bool] | None = _GATES_FIELD


class EventUpdate(RequestModel):
    """Fields to change; `phases`, when given, replaces them all."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    phases: list[PhaseIn] | None = Field(default=None, max_length=50)
    launch_mode: LaunchMode | None = None
    description: str | None = Field(default=None, max_length=10_000)
    gates: dict[GateName, bool] | None = _GATES_FIELD
    # Accepted only to answer with a clear 409: status moves by its own verbs.
    status: str | None = None


class PhaseRead(ResponseModel):
    id: int
    key: str
    name: str
    position: int
    starts_at: datetime
    ends_at: datetime
    version: int


class EventRead(ResponseModel):
    id: int
    name: str
    slug: str
    uid: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    status: Status
    launch_mode: LaunchMode
    description: str | None
    template_key: str | None
    anchor_date: date | None
    current_phase_key: str | None
    gates: dict[str, bool] = Field(description="Which readiness gates the launch checks")
    phases: list[PhaseRead]
    created_at: datetime
    updated_at: datetime
    version: int


class ShiftIn(RequestModel):
    by: str = Field(
        examples=["P1D", "-PT2H"],
        description="ISO 8601 duration; applied to wall-clock times in the event's zone",
    )

    @field_validator("by")
    @classmethod
    def _check_by(cls, value: str) -> str:
        _duration(value)
        if parse_duration(value).total_seconds() == 0:
            raise ValueError("must move the event: P0D does nothing")
        return value


# --- tasks -----------------------------------------------------------------


class DependencyIn(RequestModel):
    task_id: Id = Field(description="The task this one depends on (same event)")
    type: DependencyType = "FS"
    lag: str = Field(default="PT0S", examples=["P1D", "-PT4H"], description="ISO 8601; < 0 = lead")

    @field_validator("lag")
    @classmethod
    def _check_lag(cls, value: str) -> str:
        return _duration(value)


class DependencyRead(ResponseModel):
    task_id: int
    type: DependencyType
    lag: str
    lag_seconds: int


class TaskCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["Creative review 素材审核"])
    kind: Kind = "task"
    code: str | None = Field(default=None, max_length=60, pattern=KEY_PATTERN)
    starts_at: Instant
    ends_at: Instant | None = Field(
        default=None, description="Required for a task; a milestone ends when it starts"
    )
    team: str | None = Field(default=None, min_length=1, max_length=60, examples=["content"])
    progress: int = Field(default=0, ge=0, le=100)
    required: bool = Field(default=False, description="A launch gate: must be done (100)")
    description: str | None = Field(default=None, max_length=10_000)
    depends_on: list[DependencyIn] = Field(default_factory=list, max_length=200)


class TaskUpdate(RequestModel):
    """Fields to change; `depends_on`, when given, replaces them all."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Kind | None = None
    code: str | None = Field(default=None, max_length=60, pattern=KEY_PATTERN)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    team: str | None = Field(default=None, min_length=1, max_length=60)
    progress: int | None = Field(default=None, ge=0, le=100)
    required: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)
    depends_on: list[DependencyIn] | None = Field(default=None, max_length=200)


class TaskRead(ResponseModel):
    id: int
    event_id: int
    code: str | None
    name: str
    kind: Kind
    team: str | None
    starts_at: datetime
    ends_at: datetime
    progress: int
    required: bool
    description: str | None
    depends_on: list[DependencyRead]
    uid: str
    created_at: datetime
    updated_at: datetime
    version: int


# --- gantt -----------------------------------------------------------------


class GanttTask(ResponseModel):
    id: int
    code: str | None
    name: str
    kind: Kind
    team: str | None
    progress: int
    required: bool
    starts_at: datetime
    ends_at: datetime
    early_start: datetime
    early_finish: datetime
    late_start: datetime
    late_finish: datetime
    slack: str = Field(description="ISO 8601 duration")
    slack_seconds: int
    critical: bool
    overdue: bool = Field(description="Not done and its planned end has passed")
    depends_on: list[DependencyRead]


class ViolationRead(ResponseModel):
    task_id: int
    depends_on: int
    type: DependencyType
    lag: str
    constrained: Literal["start", "finish"]
    required_at: datetime = Field(description="The earliest the task's start/finish may be")
    planned_at: datetime
    by: str = Field(description="How much too early, ISO 8601")
    by_seconds: int
    detail: str


class GanttRead(ResponseModel):
    event: EventRead
    phases: list[PhaseRead]
    tasks: list[GanttTask]
    critical_path: list[int]
    violations: list[ViolationRead]
    finish: datetime | None = Field(description="The latest early finish")


class RescheduleIn(RequestModel):
    dry_run: bool = Field(default=False, description="Only say what would move")


class MoveRead(ResponseModel):
    task_id: int
    name: str
    starts_at_before: datetime
    starts_at: datetime
    ends_at: datetime


class RescheduleRead(ResponseModel):
    applied: bool
    moves: list[MoveRead]


# --- templates -------------------------------------------------------------


class Offset(RequestModel):
    """A wall-clock time relative to the anchor day, in the event's zone."""

    day: int = Field(ge=-366, le=366, description="Days from the anchor day")
    time: str = Field(
        default="00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", examples=["20:00"]
    )


class TemplatePhase(RequestModel):
    key: str = Field(min_length=1, max_length=40, pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    start: Offset
    end: Offset


class TemplateDependency(RequestModel):
    code: str = Field(max_length=60, description="The code of the task depended on")
    type: DependencyType = "FS"
    lag: str = "PT0S"

    @field_validator("lag")
    @classmethod
    def _check_lag(cls, value: str) -> str:
        return _duration(value)


class TemplateTask(RequestModel):
    code: str = Field(min_length=1, max_length=60, pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: Kind = "task"
    team: str | None = Field(default=None, min_length=1, max_length=60)
    start: Offset
    end: Offset | None = None
    required: bool = False
    description: str | None = Field(default=None, max_length=10_000)
    depends_on: list[TemplateDependency] = Field(default_factory=list, max_length=50)


class TemplateBody(RequestModel):
    phases: list[TemplatePhase] = Field(min_length=1, max_length=50)
    tasks: list[TemplateTask] = Field(default_factory=list, max_length=2_000)


class TemplateCreate(RequestModel):
    """Either `body` (written out) or `from_event_id` (+ `anchor`)."""

    key: str = Field(min_length=1, max_length=100, pattern=KEY_PATTERN, examples=["brand-day"])
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    body: TemplateBody | None = None
    from_event_id: Id | None = None
    anchor: Day | None = Field(
        default=None,
        description="With from_event_id: the anchor day (default: the event's anchor, "
        "else the day its peak phase starts, else the day it starts)",
    )


class TemplateRead(ResponseModel):
    key: str
    name: str
    description: str | None
    builtin: bool
    body: dict[str, Any]
    version: int | None = None


class TemplateList(ResponseModel):
    items: list[TemplateRead]
    next: str | None = None


class FromTemplate(RequestModel):
    template: str = Field(min_length=1, max_length=100, examples=["double11"])
    anchor: Day = Field(examples=["2027-11-11"], description="The anchor (peak) day, local")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    launch_mode: LaunchMode = "schedule"
    description: str | None = Field(default=None, max_length=10_000)


# --- the year view -----------------------------------------------------------


class MilestoneRead(ResponseModel):
    id: int
    code: str | None
    name: str
    team: str | None
    at: datetime
    done: bool


class CalendarEvent(EventRead):
    milestones: list[MilestoneRead]


class ConflictRead(ResponseModel):
    kind: Literal["peak_overlap", "team_overload"]
    detail: str
    event_ids: list[int]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    team: str | None = None
    day: date | None = None
    count: int | None = None
    limit: int | None = None
    task_ids: list[int] = Field(default_factory=list)


class CalendarRead(ResponseModel):
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    events: list[CalendarEvent]
    conflicts: list[ConflictRead]
