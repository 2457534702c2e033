"""`create_feed(session, **overrides)` for the feeds tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.calendar.models import Event, Task
from app.feeds import service
from app.feeds.models import Feed
from app.feeds.schemas import FeedCreate
from tests.factories import create_task

_counter = itertools.count(1)


def create_feed(session: Session, **overrides: Any) -> tuple[Feed, str]:
    """A feed of every event (phases and milestones) and its raw token."""
    body = {"name": overrides.pop("name", f"Feed {next(_counter)}"), **overrides}
    created = service.create(session, data=FeedCreate.model_validate(body), actor=SYSTEM)
    # Committed (in tests: a released savepoint), so that a request that
    # fails and rolls back does not take the feed with it.
    session.commit()
    return service.get_or_raise(session, feed_id=created.id), created.token


def create_milestone(session: Session, *, event: Event, **overrides: Any) -> Task:
    """A milestone: zero duration, as the calendar requires."""
    starts_at = overrides.pop("starts_at", event.starts_at - timedelta(days=5))
    return create_task(
        session, event=event, kind="milestone", starts_at=starts_at, ends_at=starts_at, **overrides
    )
