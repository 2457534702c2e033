"""`create_<noun>(session, **overrides)`: small builders for tests.

Domains add theirs here or in `tests/<domain>/factories.py`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.calendar.models import Event, Phase, Task

_counter = itertools.count(1)


def create_event(
    session: Session,
    *,
    phases: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Event:
    """An event of 3 days from 2027-11-10 00:00 UTC+8 with phases
    `presale` (day 1), `peak` (day 2) and `encore` (day 3), unless told otherwise."""
    n = next(_counter)
    starts_at = overrides.pop("starts_at", datetime(2027, 11, 9, 16, 0, tzinfo=UTC))
    ends_at = overrides.pop("ends_at", starts_at + timedelta(days=3))
    event = Event(
        name=overrides.pop("name", f"Event {n}"),
        slug=overrides.pop("slug", f"event-{n}-{id(session)}"),
        starts_at=starts_at,
        ends_at=ends_at,
        **overrides,
    )
    session.add(event)
    session.flush()
    if phases is None:
        day = timedelta(days=1)
        phases = [
            {"key": key, "starts_at": starts_at + i * day, "ends_at": starts_at + (i + 1) * day}
            for i, key in enumerate(["presale", "peak", "encore"])
            if starts_at + (i + 1) * day <= ends_at
        ]
    for position, phase in enumerate(phases):
        session.add(
            Phase(
                event_id=event.id,
                key=phase["key"],
                name=phase.get("name", phase["key"]),
                position=position,
                starts_at=phase["starts_at"],
                ends_at=phase["ends_at"],
            )
        )
    session.flush()
    return event


def create_task(session: Session, *, event: Event, **overrides: Any) -> Task:
    n = next(_counter)
    starts_at = overrides.pop("starts_at", event.starts_at - timedelta(days=10))
    task = Task(
        event_id=event.id,
        name=overrides.pop("name", f"Task {n}"),
        starts_at=starts_at,
        ends_at=overrides.pop("ends_at", starts_at + timedelta(days=1)),
        **overrides,
    )
    session.add(task)
    session.flush()
    return task
