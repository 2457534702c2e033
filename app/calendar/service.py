"""Use cases of the calendar domain.

The first functions below are the calendar's contract with the other
domains (slots, promotions, launches, feeds): keep their names and
signatures.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.calendar import repository
from app.calendar.errors import EventNotFound
from app.calendar.models import Event, EventStatus, Phase, Task
from app.gates import GateResult

# --- contract with other domains -------------------------------------------


def get(session: Session, *, event_id: int) -> Event | None:
    return repository.get_event(session, event_id)


def get_or_raise(session: Session, *, event_id: int) -> Event:
    event = repository.get_event(session, event_id)
    if event is None:
        raise EventNotFound(f"no event {event_id}")
    return event


def list_phases(session: Session, *, event_id: int) -> list[Phase]:
    """The event's phases in time order."""
    return repository.phases_of(session, event_id)


def list_tasks(session: Session, *, event_id: int) -> list[Task]:
    """The event's tasks and milestones in start order."""
    return repository.tasks_of(session, event_id)


def get_task_by_code(session: Session, *, event_id: int, code: str) -> Task | None:
    """A well-known milestone (`signup_close`, `launch`...) by its template code."""
    return repository.task_by_code(session, event_id, code)


def transition_status(
    session: Session, *, event_id: int, expected: set[str], new: str, at: datetime
) -> bool:
    """Atomically move the event from one of `expected` to `new`; False when
    it was not in `expected` (someone else moved it first)."""
    stamp = {
        EventStatus.live: "launched_at",
        EventStatus.ended: "ended_at",
        EventStatus.cancelled: "cancelled_at",
    }.get(new)
    return repository.compare_and_set_status(
        session, event_id, expected=expected, new=new, at=at, stamp_column=stamp
    )


def list_events(
    session: Session,
    *,
    event_ids: list[int] | None = None,
    statuses: list[str] | None = None,
    starts_before: datetime | None = None,
    ends_after: datetime | None = None,
) -> list[Event]:
    """Events overlapping (ends_after, starts_before), in start order."""
    return repository.list_events(
        session,
        event_ids=event_ids,
        statuses=statuses,
        starts_before=starts_before,
        ends_after=ends_after,
    )


def launch_gate(session: Session, *, event_id: int) -> GateResult:
    """Every `required` task must be done (progress 100) before launch."""
    open_tasks = repository.required_tasks_not_done(session, event_id)
    if not open_tasks:
        return GateResult(
            "required_tasks", passed=True, applies=True, detail="every required task is done"
        )
    names = ", ".join(f"{t.name} ({t.progress}%)" for t in open_tasks[:10])
    return GateResult(
        "required_tasks",
        passed=False,
        applies=True,
        detail=f"{len(open_tasks)} required task(s) not done: {names}",
    )
