"""Request and response bodies of the feeds domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from app.feeds.models import MAX_ALARM_MINUTES, MAX_NAME_LENGTH
from app.schemas import RequestModel, ResponseModel

Include = Literal["phases", "milestones", "tasks"]
EventStatus = Literal["draft", "scheduled", "live", "ended", "cancelled"]
# Names end up in calendar apps and PostgreSQL text: no control characters
# (PostgreSQL refuses NUL outright).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
TeamName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NO_CONTROL),
]
# Ids are 32-bit INTEGER columns: a larger number is a 422, not a database error.
MAX_ID = 2**31 - 1
EventId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]

INCLUDE_ORDER = ("phases", "milestones", "tasks")
DEFAULT_INCLUDE: list[Include] = ["phases", "milestones"]
MAX_EVENT_IDS = 500
MAX_TEAMS = 50


def _sorted_unique(values: list | None) -> list | None:
    """Order and repeats carry no meaning in a filter; store one canonical form."""
    return None if values is None else sorted(set(values))


class FeedFilter(RequestModel):
    """Which items the feed shows. Absent means "all"."""

    event_ids: list[EventId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EVENT_IDS,
        description="Only these events; absent for every event",
    )
    statuses: list[EventStatus] | None = Field(
        default=None,
        min_length=1,
        description="Only events in these statuses. A cancelled event stays "
        "(as STATUS:CANCELLED) during the grace period whatever this says",
    )
    teams: list[TeamName] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEAMS,
        description="Only the milestones and tasks of these teams (phases have no team)",
    )
    include: list[Include] = Field(
        default_factory=lambda: list(DEFAULT_INCLUDE),
        min_length=1,
        description="What to show: phases, milestones, tasks",
    )

    _canonical = field_validator("event_ids", "statuses", "teams")(_sorted_unique)

    @field_validator("include")
    @classmethod
    def _in_plan_order(cls, values: list[Include]) -> list[Include]:
        return sorted(set(values), key=INCLUDE_ORDER.index)


class FeedCreate(RequestModel):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NO_CONTROL,
        examples=["Double 11 · design"],
    )
    filter: FeedFilter = Field(default_factory=FeedFilter)
    alarm_minutes: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_ALARM_MINUTES,
        description="A reminder (VALARM) this many minutes before each milestone; "
        "absent for none. Apple Calendar honours it; Google and Outlook ignore feed alarms",
        examples=[60],
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "Double 11 · design milestones",
                    "filter": {"event_ids": [1], "teams": ["design"], "include": ["milestones"]},
                    "alarm_minutes": 60,
                }
            ]
        }
    }


class FeedFilterRead(ResponseModel):
    event_ids: list[int] | None
    statuses: list[str] | None
    teams: list[str] | None
    include: list[str]


class FeedRead(ResponseModel):
    id: int
    name: str
    filter: FeedFilterRead
    alarm_minutes: int | None
    token_hint: str = Field(description="The token's first characters, to tell feeds apart")
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    version: int


class FeedCreated(FeedRead):
    """Shown once: the token is stored hashed and cannot be shown again."""

    token: str
    url: str = Field(description="The https URL to subscribe to")
    webcal_url: str = Field(description="The feed as a webcal:// link: one click subscribes")
