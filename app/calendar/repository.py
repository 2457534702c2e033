"""Every SQL statement of the calendar domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Subquery, delete, literal, union_all, update
from sqlmodel import Session, col, select

from app.calendar.models import Event, Phase, Task, TaskDependency, Template


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


# --- beyond the contract ------------------------------------------------------


def phases_of_events(session: Session, event_ids: Sequence[int]) -> dict[int, list[Phase]]:
    """Phases of several events in one query, each list in time order."""
    grouped: dict[int, list[Phase]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return grouped
    statement = (
        select(Phase)
        .where(col(Phase.event_id).in_(list(event_ids)))
        .order_by(col(Phase.event_id), col(Phase.starts_at))
    )
    for phase in session.exec(statement):
        grouped[phase.event_id].append(phase)
    return grouped


def milestones_of_events(session: Session, event_ids: Sequence[int]) -> dict[int, list[Task]]:
    grouped: dict[int, list[Task]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return grouped
    statement = (
        select(Task)
        .where(col(Task.event_id).in_(list(event_ids)), Task.kind == "milestone")
        .order_by(col(Task.event_id), col(Task.starts_at), col(Task.id))
    )
    for task in session.exec(statement):
        grouped[task.event_id].append(task)
    return grouped


def lock_event(session: Session, event_id: int) -> None:
    """Hold the event's row until the transaction ends (PostgreSQL: FOR
    UPDATE; SQLite takes the database's write lock at BEGIN IMMEDIATE)."""
    session.execute(select(Event.id).where(Event.id == event_id).with_for_update())


def slugs_like(session: Session, base: str) -> set[str]:
    statement = select(Event.slug).where(col(Event.slug).like(f"{base}%"))
    return set(session.exec(statement))


def get_task(session: Session, event_id: int, task_id: int) -> Task | None:
    task = session.get(Task, task_id)
    return task if task is not None and task.event_id == event_id else None


def dependency_rows(session: Session, event_id: int) -> list[Any]:
    """The event's dependencies as plain rows (`task_id, depends_on_id, type,
    lag_seconds`): a Gantt of 500 tasks has 2,500 of them, and ORM objects
    cost ten times as much to load."""
    statement = (
        select(
            TaskDependency.task_id,
            TaskDependency.depends_on_id,
            TaskDependency.type,
            TaskDependency.lag_seconds,
        )
        .where(TaskDependency.event_id == event_id)
        .order_by(col(TaskDependency.task_id), col(TaskDependency.id))
    )
    return list(session.exec(statement))


def dependencies_of_task(session: Session, task_id: int) -> list[TaskDependency]:
    statement = (
        select(TaskDependency)
        .where(TaskDependency.task_id == task_id)
        .order_by(col(TaskDependency.id))
    )
    return list(session.exec(statement))


def dependents_of_task(session: Session, task_id: int) -> list[Task]:
    """The tasks that depend on `task_id`."""
    statement = (
        select(Task)
        .join(TaskDependency, col(TaskDependency.task_id) == col(Task.id))
        .where(TaskDependency.depends_on_id == task_id)
        .order_by(col(Task.id))
    )
    return list(session.exec(statement))


def delete_dependencies_of_task(session: Session, task_id: int) -> None:
    session.execute(
        delete(TaskDependency)
        .where(col(TaskDependency.task_id) == task_id)
        .execution_options(synchronize_session=False)
    )


def delete_dependencies_on_task(session: Session, task_id: int) -> None:
    session.execute(
        delete(TaskDependency)
        .where(col(TaskDependency.depends_on_id) == task_id)
        .execution_options(synchronize_session=False)
    )


def task_ids_of_event(session: Session, event_id: int, task_ids: Sequence[int]) -> set[int]:
    if not task_ids:
        return set()
    statement = select(Task.id).where(Task.event_id == event_id, col(Task.id).in_(list(task_ids)))
    return {task_id for task_id in session.exec(statement) if task_id is not None}


def code_taken(session: Session, event_id: int, code: str, *, other_than: int | None) -> bool:
    statement = select(Task.id).where(Task.event_id == event_id, Task.code == code)
    if other_than is not None:
        statement = statement.where(Task.id != other_than)
    return session.exec(statement).first() is not None


def saved_templates(session: Session) -> list[Template]:
    return list(session.exec(select(Template).order_by(col(Template.key))))


def template_listing(builtin_keys: Sequence[str]) -> Subquery:
    """Rows `(rank, key)` of every template to page through: the built-ins
    (which live in code) as literal rows ranked in the order given, then the
    saved ones, ranked after them and ordered by key."""
    builtins = [
        select(literal(rank, Integer).label("rank"), literal(key, String).label("key"))
        for rank, key in enumerate(builtin_keys)
    ]
    saved = select(
        literal(len(builtin_keys), Integer).label("rank"), col(Template.key).label("key")
    )
    return union_all(*builtins, saved).subquery("listing")


def saved_templates_with_keys(session: Session, keys: Sequence[str]) -> dict[str, Template]:
    if not keys:
        return {}
    statement = select(Template).where(col(Template.key).in_(list(keys)))
    return {t.key: t for t in session.exec(statement)}


def saved_template(session: Session, key: str) -> Template | None:
    return session.exec(select(Template).where(Template.key == key)).first()


# --- used by feeds: the items of many events in one query each --------------


def _feed_item_conditions(
    event_ids: Sequence[int] | None,
    *,
    phases: bool,
    milestones: bool,
    tasks: bool,
    teams: Sequence[str] | None,
):
    """WHERE clauses for the phases and the tasks a feed shows (None: none).
    `event_ids=None` means every event; the clauses stay as plain as they can,
    since calendar apps poll these often."""
    from sqlalchemy import false

    if event_ids is not None and not event_ids:
        return None, None
    of_events = (
        (lambda c: [col(c).in_(list(event_ids))]) if event_ids is not None else (lambda c: [])
    )
    phase_where = of_events(Phase.event_id) if phases else None
    task_where = None
    if milestones or tasks:
        task_where = of_events(Task.event_id)
        if not (milestones and tasks):
            task_where.append(Task.kind == "milestone" if milestones else Task.kind != "milestone")
        if teams is not None:
            task_where.append(col(Task.team).in_(list(teams)) if teams else false())
    return phase_where, task_where


# Plain rows, not entities: a year's feed reads thousands of items per
# render, and building tracked ORM objects costs more than rendering them.
FEED_PHASE_COLUMNS = (
    "event_id",
    "uid",
    "key",
    "name",
    "starts_at",
    "ends_at",
    "updated_at",
    "version",
)
FEED_TASK_COLUMNS = (
    "event_id",
    "uid",
    "code",
    "name",
    "kind",
    "team",
    "starts_at",
    "ends_at",
    "progress",
    "required",
    "description",
    "updated_at",
    "version",
)


def feed_items(session: Session, **filters) -> tuple[list, list]:
    phase_where, task_where = _feed_item_conditions(**filters)
    found = []
    for model, columns, where in (
        (Phase, FEED_PHASE_COLUMNS, phase_where),
        (Task, FEED_TASK_COLUMNS, task_where),
    ):
        statement = select(*(getattr(model, name) for name in columns)).where(*(where or []))
        found.append(list(session.execute(statement)) if where is not None else [])
    return found[0], found[1]


def feed_items_stamp(session: Session, **filters) -> tuple:
    """Count, newest change, and sums of ids and versions of a feed's phases
    and tasks, in one round trip: any insert, update or delete changes it,
    and no row is loaded."""
    from sqlalchemy import func, literal, union_all

    parts = []
    for kind, model, where in zip(
        ("phase", "task"), (Phase, Task), _feed_item_conditions(**filters), strict=True
    ):
        if where is not None:
            parts.append(
                select(
                    literal(kind),
                    func.count(),
                    func.max(model.updated_at),
                    func.coalesce(func.sum(model.id), 0),
                    func.coalesce(func.sum(model.version), 0),
                ).where(*where)
            )
    if len(parts) > 1 and session.get_bind().dialect.name == "postgresql":
        parts = [union_all(*parts)]  # one round trip; SQLite is faster without
    return tuple(sorted(tuple(row) for part in parts for row in session.execute(part)))
