"""Every SQL statement of the calendar domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.calendar.models import Event, Phase, Task


def get_event(session: Session, event_id: int) -> Event | None:
    return session.get(Event, event_id)


def phases_of(session: Session, event_id: int) -> list[Phase]:
    statement = select(Phase).where(Phase.event_id == event_id).order_by(col(Phase.starts_at))
    return list(session.exec(statement))


def task_by_code(session: Session, event_id: int, code: str) -> Task | None:
    return session.exec(select(Task).where(Task.event_id == event_id, Task.code == code)).first()


def tasks_of(session: Session, event_id: int) -> list[Task]:
    statement = (
        select(Task).where(Task.event_id == event_id).order_by(col(Task.starts_at), col(Task.id))
    )
    return list(session.exec(statement))


def compare_and_set_status(
    session: Session,
    event_id: int,
    *,
    expected: Iterable[str],
    new: str,
    at: datetime,
    stamp_column: str | None = None,
) -> bool:
    """Move the event to `new` only if it is in one of `expected`: one
    conditional UPDATE, so two racing callers cannot both succeed."""
    values: dict[str, object] = {
        "status": new,
        "updated_at": at,
        "version": Event.version + 1,  # type: ignore[operator]
    }
    if stamp_column:
        values[stamp_column] = at
    result = session.execute(
        update(Event)
        .where(col(Event.id) == event_id, col(Event.status).in_(list(expected)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = result.rowcount == 1
    if changed:
        event = session.get(Event, event_id)
        if event is not None:
            session.refresh(event)
    return changed


def events_by_ids(session: Session, event_ids: Sequence[int]) -> list[Event]:
    if not event_ids:
        return []
    return list(session.exec(select(Event).where(col(Event.id).in_(list(event_ids)))))


def list_events(
    session: Session,
    *,
    event_ids: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None,
    starts_before: datetime | None = None,
    ends_after: datetime | None = None,
) -> list[Event]:
    statement = select(Event)
    if event_ids is not None:
        statement = statement.where(col(Event.id).in_(list(event_ids)))
    if statuses is not None:
        statement = statement.where(col(Event.status).in_(list(statuses)))
    if starts_before is not None:
        statement = statement.where(Event.starts_at < starts_before)
    if ends_after is not None:
        statement = statement.where(Event.ends_at > ends_after)
    return list(session.exec(statement.order_by(col(Event.starts_at), col(Event.id))))


def required_tasks_not_done(session: Session, event_id: int) -> list[Task]:
    statement = select(Task).where(
        Task.event_id == event_id, col(Task.required).is_(True), Task.progress < 100
    )
    return list(session.exec(statement.order_by(col(Task.ends_at))))
