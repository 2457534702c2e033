"""Tables of the feeds domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Integer
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column

# A week: a reminder further ahead than that is a task, not an alarm.
MAX_ALARM_MINUTES = 10_080
MAX_NAME_LENGTH = 200

_feed_version = version_column()


class Feed(SQLModel, table=True):
    """A calendar subscription: a filter over the plan behind a secret token.

    Only the SHA-256 of the token is stored (it carries 256 bits of entropy,
    so a slow hash would add nothing); the raw token is shown once.
    """

    __tablename__ = "feed"
    __table_args__ = (
        CheckConstraint(
            "alarm_minutes IS NULL OR "
            f"(alarm_minutes >= 0 AND alarm_minutes <= {MAX_ALARM_MINUTES})",
            name="alarm_minutes_range",
        ),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        CheckConstraint("length(token_hash) = 64", name="token_hash_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The calendar's own UID (RFC 7986 §5.3), stable for the feed's life.
    uid: str = Field(default_factory=lambda: str(uuid.uuid4()), max_length=36, unique=True)
    name: str = Field(max_length=MAX_NAME_LENGTH)
    token_hash: str = Field(max_length=64, unique=True)
    # The first characters of the token, so people can tell feeds apart.
    token_hint: str = Field(max_length=12)
    # Filters; None means "all". Lists are stored sorted and de-duplicated.
    event_ids: list[int] | None = Field(default=None, sa_column=Column(JSONColumn))
    statuses: list[str] | None = Field(default=None, sa_column=Column(JSONColumn))
    teams: list[str] | None = Field(default=None, sa_column=Column(JSONColumn))
    include: list[str] = Field(sa_column=Column(JSONColumn, nullable=False))
    alarm_minutes: int | None = None
    created_by: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(default=None, index=True)
    # What was last served and since when: the feed's Last-Modified, which
    # must move even when an item is deleted (no updated_at moves then).
    content_hash: str | None = Field(default=None, max_length=64)
    content_changed_at: datetime | None = None
    version: int = Field(default=1, sa_column=_feed_version)

    __mapper_args__ = {"version_id_col": _feed_version}

    def filter_dict(self) -> dict[str, Any]:
        return {
            "event_ids": self.event_ids,
            "statuses": self.statuses,
            "teams": self.teams,
            "include": self.include,
        }


class FeedEventStamp(SQLModel, table=True):
    """How many times each event's part of the plan has changed.

    Database triggers (migration 0006) add one for every row inserted,
    updated or deleted in `event`, `phase` and `task`, whoever writes it, so
    no writer can forget to. Rows are never decremented nor deleted (there is
    no foreign key: a row outlives its event), so the sum over any set of
    events grows with every committed change to them: equal sums mean
    nothing changed. Feeds answer most polls from that sum alone.
    """

    __tablename__ = "feed_event_stamp"

    event_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    changes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
