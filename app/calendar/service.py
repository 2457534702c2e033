"""Use cases of the calendar domain.

The first functions below are the calendar's contract with the other
domains (slots, promotions, launches, feeds): keep their names and
signatures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import audit, signals
from app.auth import Principal
from app.calendar import planning, repository
from app.calendar.errors import (
    CannotSchedule,
    DependencyCycle,
    DuplicateTaskCode,
    DuplicateTemplate,
    EventNotFound,
    LifecycleConflict,
    TaskHasDependents,
    TaskNotFound,
    TemplateNotFound,
)
from app.calendar.models import (
    Event,
    EventStatus,
    Phase,
    Task,
    TaskDependency,
    Template,
    new_uid,
)
from app.calendar.schemas import (
    FIRST_YEAR,
    GATE_NAMES,
    LAST_YEAR,
    CalendarEvent,
    CalendarRead,
    ConflictRead,
    DependencyIn,
    DependencyRead,
    EventCreate,
    EventRead,
    EventUpdate,
    FromTemplate,
    GanttRead,
    GanttTask,
    MilestoneRead,
    MoveRead,
    PhaseIn,
    PhaseRead,
    RescheduleRead,
    TaskCreate,
    TaskRead,
    TaskUpdate,
    TemplateBody,
    TemplateCreate,
    TemplateRead,
    ViolationRead,
)
from app.calendar.templates import builtin_templates
from app.config import get_settings
from app.errors import ValidationProblem
from app.gates import GateResult
from app.pagination import Page, PageParams, paginate
from app.types import as_utc, format_duration, parse_duration, utcnow, zone
from app.versioning import check_version

Actor = Principal | str
Loc = list[str | int]

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


# --- time ----------------------------------------------------------------------


def zone_or_422(name: str, loc: Loc) -> ZoneInfo:
    try:
        return zone(name)
    except ValueError:
        raise ValidationProblem(
            f"unknown time zone {name!r}: use an IANA name like Asia/Shanghai", loc=loc
        ) from None


def read_instant(value: datetime, tz: ZoneInfo, loc: Loc) -> datetime:
    """An aware UTC instant; a naive value is wall time in `tz`, and a wall
    time that the zone skips (a DST gap) is refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        aware = value.replace(tzinfo=tz)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
            raise ValidationProblem(
                f"{value.isoformat()} does not exist in {tz.key}: the clocks skip it "
                "(daylight saving); give an offset or another time",
                loc=loc,
            )
    return as_utc(value, tz)


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(tz)


def _from_seconds(seconds: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(seconds, tz)


def _shift_wall_clock(value: datetime, by: timedelta, tz: ZoneInfo) -> datetime:
    """Move by `by` on the wall clock of `tz`, so that 20:00 stays 20:00 across
    a DST change (a day is a calendar day, not 24 hours)."""
    try:
        moved = as_utc(value.astimezone(tz).replace(tzinfo=None) + by, tz)
    except (OverflowError, ValueError):
        moved = None
    if moved is None or not FIRST_YEAR <= moved.year <= LAST_YEAR:
        raise ValidationProblem(
            f"moving by {format_duration(by)} would take dates outside the years "
            f"{FIRST_YEAR}-{LAST_YEAR}",
            loc=["body", "by"],
        )
    return moved


# --- reads ---------------------------------------------------------------------


def phase_read(phase: Phase, tz: ZoneInfo) -> PhaseRead:
    return PhaseRead(
        id=phase.id or 0,
        key=phase.key,
        name=phase.name,
        position=phase.position,
        starts_at=_local(phase.starts_at, tz),
        ends_at=_local(phase.ends_at, tz),
        version=phase.version,
    )


def event_read(session: Session, event: Event, phases: list[Phase] | None = None) -> EventRead:
    tz = zone(event.timezone)
    if phases is None:
        phases = repository.phases_of(session, event.id or 0)
    return EventRead(
        id=event.id or 0,
        name=event.name,
        slug=event.slug,
        uid=event.uid,
        timezone=event.timezone,
        starts_at=_local(event.starts_at, tz),
        ends_at=_local(event.ends_at, tz),
        status=event.status,  # type: ignore[arg-type]
        launch_mode=event.launch_mode,  # type: ignore[arg-type]
        description=event.description,
        template_key=event.template_key,
        anchor_date=event.anchor_date,
        current_phase_key=event.current_phase_key,
        gates={name: bool((event.gates or {}).get(name, True)) for name in GATE_NAMES},
        phases=[phase_read(p, tz) for p in phases],
        created_at=_local(event.created_at, tz),
        updated_at=_local(event.updated_at, tz),
        version=event.version,
    )


def dependency_read(dependency: TaskDependency | Any) -> DependencyRead:
    """From a TaskDependency or a row of `repository.dependency_rows`."""
    return DependencyRead(
        task_id=dependency.depends_on_id,
        type=dependency.type,  # type: ignore[arg-type]
        lag=format_duration(timedelta(seconds=dependency.lag_seconds)),
        lag_seconds=dependency.lag_seconds,
    )


def task_read(task: Task, dependencies: list[Any], tz: ZoneInfo) -> TaskRead:
    return TaskRead(
        id=task.id or 0,
        event_id=task.event_id,
        code=task.code,
        name=task.name,
        kind=task.kind,  # type: ignore[arg-type]
        team=task.team,
        starts_at=_local(task.starts_at, tz),
        ends_at=_local(task.ends_at, tz),
        progress=task.progress,
        required=task.required,
        description=task.description,
        depends_on=[dependency_read(d) for d in dependencies],
        uid=task.uid,
        created_at=_local(task.created_at, tz),
        updated_at=_local(task.updated_at, tz),
        version=task.version,
    )


def task_read_of(session: Session, task: Task) -> TaskRead:
    event = get_or_raise(session, event_id=task.event_id)
    dependencies = repository.dependencies_of_task(session, task.id or 0)
    return task_read(task, dependencies, zone(event.timezone))


def _dependencies_by_task(session: Session, event_id: int) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for dependency in repository.dependency_rows(session, event_id):
        grouped.setdefault(dependency.task_id, []).append(dependency)
    return grouped


# --- events ----------------------------------------------------------------------


def list_page(
    session: Session,
    *,
    page: PageParams,
    starts_before: datetime | None = None,
    ends_after: datetime | None = None,
    statuses: Sequence[str] | None = None,
) -> Page[EventRead]:
    """Events overlapping (ends_after, starts_before), in start order."""
    statement = select(Event)
    if statuses:
        statement = statement.where(col(Event.status).in_(list(statuses)))
    if starts_before is not None:
        statement = statement.where(Event.starts_at < starts_before)
    if ends_after is not None:
        statement = statement.where(Event.ends_at > ends_after)
    events: Page[Event] = paginate(
        session,
        statement,
        page,
        order_by=[col(Event.starts_at), col(Event.id)],
        key=lambda e: [e.starts_at, e.id],
    )
    phases = repository.phases_of_events(session, [e.id for e in events.items if e.id])
    return Page[EventRead](
        items=[event_read(session, e, phases.get(e.id or 0, [])) for e in events.items],
        next=events.next,
    )


def _slug_for(session: Session, name: str) -> str:
    """A URL name from the event's name; names in Chinese keep only their
    ASCII part (or become `event`), and a number makes it unique."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:200] or "event"
    taken = repository.slugs_like(session, base)
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _check_window(
    starts_at: datetime, ends_at: datetime, phases: list[tuple[str, datetime, datetime]], loc: Loc
) -> None:
    """Refuse (422) a window that ends before it starts and phases outside it,
    overlapping, duplicated or ending before they start."""
    errors: list[tuple[Loc, str]] = []
    if ends_at <= starts_at:
        errors.append(([*loc, "ends_at"], "must be after starts_at"))
    keys: dict[str, int] = {}
    for i, (key, start, end) in enumerate(phases):
        where: Loc = [*loc, "phases", i]
        if key in keys:
            errors.append(([*where, "key"], f"phase {key!r} is given twice"))
        keys.setdefault(key, i)
        if end <= start:
            errors.append(([*where, "ends_at"], "must be after the phase's starts_at"))
        if start < starts_at:
            errors.append(([*where, "starts_at"], "is before the event starts"))
        if end > ends_at:
            errors.append(([*where, "ends_at"], "is after the event ends"))
    ordered = sorted(range(len(phases)), key=lambda i: phases[i][1])
    for before, after in pairwise(ordered):
        if phases[after][1] < phases[before][2]:
            errors.append(
                (
                    [*loc, "phases", after, "starts_at"],
                    f"overlaps phase {phases[before][0]!r}, which ends at "
                    f"{phases[before][2].isoformat()}",
                )
            )
    if errors:
        raise ValidationProblem(errors)


def _phases_in(phases: list[PhaseIn], tz: ZoneInfo) -> list[tuple[str, str, datetime, datetime]]:
    """(key, name, starts_at, ends_at) in UTC, naive times read in `tz`."""
    return [
        (
            p.key,
            p.name or p.key,
            read_instant(p.starts_at, tz, ["body", "phases", i, "starts_at"]),
            read_instant(p.ends_at, tz, ["body", "phases", i, "ends_at"]),
        )
        for i, p in enumerate(phases)
    ]


def _put_phases(
    session: Session, event: Event, phases: list[tuple[str, str, datetime, datetime]]
) -> bool:
    """Make the event's phases these, matched by key so that a phase that
    stays keeps its id and UID (calendar apps track it by UID); whether any
    phase was added, removed or changed."""
    now = utcnow()
    existing = {p.key: p for p in repository.phases_of(session, event.id or 0)}
    wanted = sorted(phases, key=lambda p: p[2])
    removed = set(existing) - {p[0] for p in wanted}
    changed = bool(removed)
    for key in removed:
        session.delete(existing[key])
    session.flush()  # free the keys before reusing positions
    for position, (key, name, start, end) in enumerate(wanted):
        phase = existing.get(key)
        changed = changed or phase is None
        if phase is None:
            session.add(
                Phase(
                    event_id=event.id or 0,
                    key=key,
                    name=name,
                    position=position,
                    starts_at=start,
                    ends_at=end,
                )
            )
        elif (phase.name, phase.position, phase.starts_at, phase.ends_at) != (
            name,
            position,
            start,
            end,
        ):
            phase.name, phase.position, phase.starts_at, phase.ends_at = name, position, start, end
            phase.updated_at = now
            changed = True
    session.flush()
    return changed


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    kind: str,
    resource_id: Any,
    before=None,
    after=None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=kind,
        resource_id=resource_id,
        before=before,
        after=after,
    )


def create(session: Session, *, data: EventCreate, actor: Actor) -> Event:
    tz = zone_or_422(data.timezone, ["body", "timezone"])
    starts_at = read_instant(data.starts_at, tz, ["body", "starts_at"])
    ends_at = read_instant(data.ends_at, tz, ["body", "ends_at"])
    phases = _phases_in(data.phases, tz)
    _check_window(starts_at, ends_at, [(k, s, e) for k, _n, s, e in phases], ["body"])
    event = _insert_event(
        session,
        name=data.name,
        timezone=data.timezone,
        starts_at=starts_at,
        ends_at=ends_at,
        launch_mode=data.launch_mode,
        description=data.description,
        phases=phases,
    )
    if data.gates:
        event.gates = dict(data.gates)
        session.flush()
    _audit(session, actor, "create", "event", event.id, after=event_read(session, event))
    return event


def _insert_event(
    session: Session, *, phases: list[tuple[str, str, datetime, datetime]], **fields: Any
) -> Event:
    event = Event(slug=_slug_for(session, fields["name"]), **fields)
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        # Another request took the same slug between our look and our
        # insert: a random suffix cannot collide in practice.
        event = Event(slug=f"{_slug_for(session, fields['name'])}-{new_uid()[:8]}", **fields)
        session.add(event)
        session.flush()
    _put_phases(session, event, phases)
    return event


def update(
    session: Session, *, event_id: int, data: EventUpdate, if_match: str | None, actor: Actor
) -> Event:
    event = get_or_raise(session, event_id=event_id)
    check_version(event.version, if_match)
    given = data.model_fields_set
    if "status" in given:
        raise LifecycleConflict(
            "status is not edited by hand: POST /events/{id}/schedule or /cancel, "
            "and the launch moves it to live and ended",
            errors=[{"loc": ["body", "status"], "msg": "cannot be set by PATCH"}],
        )
    _check_editable(event, given)
    before = event_read(session, event)
    for field in ("name", "launch_mode", "timezone"):
        if field in given and getattr(data, field) is None:
            raise ValidationProblem("may not be null", loc=["body", field])
    tz = zone_or_422(data.timezone, ["body", "timezone"]) if data.timezone else zone(event.timezone)
    starts_at = (
        read_instant(data.starts_at, tz, ["body", "starts_at"])
        if data.starts_at
        else event.starts_at
    )
    ends_at = read_instant(data.ends_at, tz, ["body", "ends_at"]) if data.ends_at else event.ends_at
    if data.phases is not None:
        phases = _phases_in(data.phases, tz)
    else:
        phases = [
            (p.key, p.name, p.starts_at, p.ends_at) for p in list_phases(session, event_id=event_id)
        ]
    _check_window(starts_at, ends_at, [(k, s, e) for k, _n, s, e in phases], ["body"])
    if data.name is not None:
        event.name = data.name
    if "description" in given:
        event.description = data.description
    if data.launch_mode is not None:
        event.launch_mode = data.launch_mode
    if "gates" in given:
        event.gates = {**(event.gates or {}), **(data.gates or {})} if data.gates else None
    if data.timezone is not None:
        event.timezone = data.timezone
    event.starts_at, event.ends_at = starts_at, ends_at
    # One new version for a change, none for a PATCH that changes nothing:
    # the event's own fields are stamped before the phases are written (their
    # flush would otherwise make a version of its own), phases alone after.
    fields_changed = session.is_modified(event)
    if fields_changed:
        event.updated_at = utcnow()
    phases_changed = data.phases is not None and _put_phases(session, event, phases)
    if not (fields_changed or phases_changed):
        return event
    if not fields_changed:
        event.updated_at = utcnow()
    session.add(event)
    session.flush()
    after = event_read(session, event)
    _audit(session, actor, "update", "event", event.id, before=before, after=after)
    if _timing_changed(before, after):
        signals.event_rescheduled.send(session, event=event)
    return event


def _check_editable(event: Event, given: set[str]) -> None:
    if event.status in (EventStatus.ended, EventStatus.cancelled):
        raise LifecycleConflict(f"the event is {event.status}: it can no longer be changed")
    if event.status == EventStatus.live:
        frozen = sorted(given & {"timezone", "starts_at", "launch_mode"})
        if frozen:
            raise LifecycleConflict(
                f"the event is live: {', '.join(frozen)} can no longer be changed",
                errors=[{"loc": ["body", f], "msg": "frozen while live"} for f in frozen],
            )


def _timing_changed(before: EventRead, after: EventRead) -> bool:
    def timing(read: EventRead) -> tuple:
        return (
            read.timezone,
            read.starts_at,
            read.ends_at,
            read.launch_mode,
            [(p.key, p.starts_at, p.ends_at) for p in read.phases],
        )

    return timing(before) != timing(after)


def delete(session: Session, *, event_id: int, if_match: str | None, actor: Actor) -> None:
    event = get_or_raise(session, event_id=event_id)
    check_version(event.version, if_match)
    if event.status != EventStatus.draft:
        raise LifecycleConflict(
            f"only a draft can be deleted; this event is {event.status}: cancel it instead"
        )
    before = event_read(session, event)
    try:
        with session.begin_nested():
            session.delete(event)
    except IntegrityError:
        # Other domains' rows (slot plans, promotions, feeds...) point at it.
        raise LifecycleConflict(
            "other resources still refer to this event (slot plans, applications, "
            "promotions, webhook endpoints...): remove them first, or cancel the event"
        ) from None
    _audit(session, actor, "delete", "event", event_id, before=before)


def schedule(
    session: Session, *, event_id: int, actor: Actor, now: datetime | None = None
) -> Event:
    """draft → scheduled, after our own checks; receivers of
    `event_scheduled` (the launches domain) may refuse with a Problem."""
    now = now or utcnow()
    event = get_or_raise(session, event_id=event_id)
    if event.status != EventStatus.draft:
        raise LifecycleConflict(f"only a draft can be scheduled; this event is {event.status}")
    reasons = _why_not_schedulable(event, now)
    if reasons:
        raise CannotSchedule("; ".join(reasons), reasons=reasons)
    before = event_read(session, event)
    if not transition_status(
        session, event_id=event_id, expected={EventStatus.draft}, new=EventStatus.scheduled, at=now
    ):
        raise LifecycleConflict("someone else changed the event's status first; read it again")
    signals.event_scheduled.send(session, event=event)
    _audit(
        session,
        actor,
        "schedule",
        "event",
        event_id,
        before=before,
        after=event_read(session, event),
    )
    return event


def _why_not_schedulable(event: Event, now: datetime) -> list[str]:
    reasons = []
    if event.ends_at <= event.starts_at:
        reasons.append("the event ends before it starts")
    if event.ends_at <= now:
        reasons.append(f"the event's window ended at {event.ends_at.isoformat()}")
    elif event.starts_at <= now:
        reasons.append(
            f"the event was to start at {event.starts_at.isoformat()}, which has passed: "
            "shift it, or change starts_at"
        )
    return reasons


def cancel(session: Session, *, event_id: int, actor: Actor, now: datetime | None = None) -> Event:
    now = now or utcnow()
    event = get_or_raise(session, event_id=event_id)
    before = event_read(session, event)
    cancellable = {EventStatus.draft, EventStatus.scheduled, EventStatus.live}
    if not transition_status(
        session, event_id=event_id, expected=cancellable, new=EventStatus.cancelled, at=now
    ):
        session.refresh(event)
        raise LifecycleConflict(f"the event is {event.status}: it cannot be cancelled")
    signals.event_cancelled.send(session, event=event)
    _audit(
        session, actor, "cancel", "event", event_id, before=before, after=event_read(session, event)
    )
    return event


def shift(session: Session, *, event_id: int, by: str, actor: Actor) -> Event:
    """Move the event, its phases and its tasks by `by` on the event's wall clock."""
    delta = parse_duration(by)
    event = get_or_raise(session, event_id=event_id)
    if event.status not in (EventStatus.draft, EventStatus.scheduled):
        raise LifecycleConflict(
            f"only a draft or scheduled event can be shifted; this one is {event.status}"
        )
    tz = zone(event.timezone)
    before = event_read(session, event)
    now = utcnow()
    event.starts_at = _shift_wall_clock(event.starts_at, delta, tz)
    event.ends_at = _shift_wall_clock(event.ends_at, delta, tz)
    if event.anchor_date is not None and delta % timedelta(days=1) == timedelta(0):
        event.anchor_date += timedelta(days=delta.days)
    event.updated_at = now
    for phase in list_phases(session, event_id=event_id):
        phase.starts_at = _shift_wall_clock(phase.starts_at, delta, tz)
        phase.ends_at = _shift_wall_clock(phase.ends_at, delta, tz)
        phase.updated_at = now
    tasks = list_tasks(session, event_id=event_id)
    for task in tasks:
        task.starts_at = _shift_wall_clock(task.starts_at, delta, tz)
        task.ends_at = (
            _shift_wall_clock(task.ends_at, delta, tz) if task.kind == "task" else task.starts_at
        )
        task.updated_at = now
    session.flush()
    # One record for the whole move: it names the tasks it moved with it.
    after = event_read(session, event).model_dump(mode="json")
    after["shift"] = {"by": by, "task_ids": [t.id for t in tasks]}
    _audit(session, actor, "shift", "event", event_id, before=before, after=after)
    signals.event_shifted.send(
        session, event=event, move=lambda value: _shift_wall_clock(value, delta, tz), actor=actor
    )
    signals.event_rescheduled.send(session, event=event)
    return event


# --- tasks ------------------------------------------------------------------------


def get_task_or_raise(session: Session, *, event_id: int, task_id: int) -> Task:
    get_or_raise(session, event_id=event_id)
    task = repository.get_task(session, event_id, task_id)
    if task is None:
        raise TaskNotFound(f"event {event_id} has no task {task_id}")
    return task


def list_tasks_page(session: Session, *, event_id: int, page: PageParams) -> Page[TaskRead]:
    event = get_or_raise(session, event_id=event_id)
    tz = zone(event.timezone)
    tasks: Page[Task] = paginate(
        session,
        select(Task).where(Task.event_id == event_id),
        page,
        order_by=[col(Task.starts_at), col(Task.id)],
        key=lambda t: [t.starts_at, t.id],
    )
    dependencies = _dependencies_by_task(session, event_id)
    return Page[TaskRead](
        items=[task_read(t, dependencies.get(t.id or 0, []), tz) for t in tasks.items],
        next=tasks.next,
    )


def _task_dates(
    kind: str, starts_at: datetime, ends_at: datetime | None, *, ends_given: bool
) -> datetime:
    """The end of a task or milestone, or a 422 saying why the dates cannot be."""
    if kind == "milestone":
        if ends_given and ends_at is not None and ends_at != starts_at:
            raise ValidationProblem(
                "a milestone has no duration: leave ends_at out, or equal to starts_at",
                loc=["body", "ends_at"],
            )
        return starts_at
    if ends_at is None:
        raise ValidationProblem(
            "a task needs ends_at (only a milestone may leave it out)", loc=["body", "ends_at"]
        )
    if ends_at < starts_at:
        raise ValidationProblem("must not be before starts_at", loc=["body", "ends_at"])
    return ends_at


def _check_code(session: Session, event_id: int, code: str | None, task_id: int | None) -> None:
    if code is not None and repository.code_taken(session, event_id, code, other_than=task_id):
        raise DuplicateTaskCode(f"another task of event {event_id} has code {code!r}")


def _flush_task(session: Session, task: Task) -> None:
    """Write the task; a code taken by a concurrent request is a 409 too."""
    try:
        with session.begin_nested():
            session.add(task)
    except IntegrityError:
        raise DuplicateTaskCode(
            f"another task of event {task.event_id} has code {task.code!r}"
        ) from None


def _check_dependencies(
    session: Session, event_id: int, task_id: int | None, links: list[DependencyIn]
) -> None:
    # Two requests adding one half of a cycle each would both pass a check
    # made on what is committed: lock the event so that they take turns.
    repository.lock_event(session, event_id)
    errors: list[tuple[Loc, str]] = []
    known = repository.task_ids_of_event(session, event_id, [d.task_id for d in links])
    seen: set[int] = set()
    for i, link in enumerate(links):
        where: Loc = ["body", "depends_on", i, "task_id"]
        if task_id is not None and link.task_id == task_id:
            errors.append((where, "a task cannot depend on itself"))
        elif link.task_id not in known:
            errors.append((where, f"event {event_id} has no task {link.task_id}"))
        elif link.task_id in seen:
            errors.append((where, f"task {link.task_id} is listed twice"))
        seen.add(link.task_id)
    if errors:
        raise ValidationProblem(errors)


def _put_dependencies(session: Session, task: Task, links: list[DependencyIn]) -> None:
    repository.delete_dependencies_of_task(session, task.id or 0)
    session.add_all(
        TaskDependency(
            event_id=task.event_id,
            task_id=task.id or 0,
            depends_on_id=link.task_id,
            type=link.type,
            lag_seconds=_lag_seconds(link),
        )
        for link in links
    )
    session.flush()


def _lag_seconds(link: DependencyIn) -> int:
    return int(parse_duration(link.lag).total_seconds())


def _refuse_cycles(session: Session, event_id: int) -> None:
    """422 naming the tasks of a cycle, if the event's links now have one."""
    tasks = list_tasks(session, event_id=event_id)
    try:
        planning.critical_path(_plan_tasks(tasks), _plan_links(session, event_id))
    except planning.CycleError as exc:
        names = {t.id: t.name for t in tasks}
        described = " → ".join(f"{names[i]} (#{i})" for i in [*exc.cycle, exc.cycle[0]])
        problem = DependencyCycle(
            f"these dependencies would form a cycle: {described}", loc=["body", "depends_on"]
        )
        problem.extra["cycle"] = [{"id": i, "name": names[i]} for i in exc.cycle]
        raise problem from None


def create_task(session: Session, *, event_id: int, data: TaskCreate, actor: Actor) -> Task:
    event = get_or_raise(session, event_id=event_id)
    tz = zone(event.timezone)
    starts_at = read_instant(data.starts_at, tz, ["body", "starts_at"])
    ends_raw = read_instant(data.ends_at, tz, ["body", "ends_at"]) if data.ends_at else None
    ends_at = _task_dates(data.kind, starts_at, ends_raw, ends_given=data.ends_at is not None)
    _check_code(session, event_id, data.code, None)
    _check_dependencies(session, event_id, None, data.depends_on)
    task = Task(
        event_id=event_id,
        code=data.code,
        name=data.name,
        kind=data.kind,
        team=data.team,
        starts_at=starts_at,
        ends_at=ends_at,
        progress=data.progress,
        required=data.required,
        description=data.description,
    )
    _flush_task(session, task)
    _put_dependencies(session, task, data.depends_on)
    _audit(session, actor, "create", "task", task.id, after=task_read_of(session, task))
    return task


def update_task(
    session: Session,
    *,
    event_id: int,
    task_id: int,
    data: TaskUpdate,
    if_match: str | None,
    actor: Actor,
) -> Task:
    task = get_task_or_raise(session, event_id=event_id, task_id=task_id)
    check_version(task.version, if_match)
    event = get_or_raise(session, event_id=event_id)
    tz = zone(event.timezone)
    given = data.model_fields_set
    for field in ("name", "kind", "starts_at", "progress", "required"):
        if field in given and getattr(data, field) is None:
            raise ValidationProblem("may not be null", loc=["body", field])
    before = task_read_of(session, task)
    kind = data.kind or task.kind
    starts_at = (
        read_instant(data.starts_at, tz, ["body", "starts_at"])
        if data.starts_at
        else task.starts_at
    )
    if data.ends_at is not None:
        ends_at: datetime | None = read_instant(data.ends_at, tz, ["body", "ends_at"])
    else:
        # Moving a task's start keeps its duration: the bar moves whole.
        ends_at = starts_at + (task.ends_at - task.starts_at) if kind == "task" else None
    ends_at = _task_dates(kind, starts_at, ends_at, ends_given=data.ends_at is not None)
    if "code" in given:
        _check_code(session, event_id, data.code, task_id)
        task.code = data.code
    for field in ("name", "team", "progress", "required", "description"):
        if field in given:
            setattr(task, field, getattr(data, field))
    task.kind, task.starts_at, task.ends_at = kind, starts_at, ends_at
    links_changed = data.depends_on is not None and [
        (d.task_id, d.type, d.lag_seconds) for d in before.depends_on
    ] != [(d.task_id, d.type, _lag_seconds(d)) for d in data.depends_on]
    if not (session.is_modified(task) or links_changed):
        return task  # a PATCH that changes nothing: no new version, no audit record
    task.updated_at = utcnow()
    _flush_task(session, task)
    if links_changed and data.depends_on is not None:
        _check_dependencies(session, event_id, task_id, data.depends_on)
        _put_dependencies(session, task, data.depends_on)
        _refuse_cycles(session, event_id)
    _audit(
        session, actor, "update", "task", task_id, before=before, after=task_read_of(session, task)
    )
    return task


def delete_task(
    session: Session,
    *,
    event_id: int,
    task_id: int,
    if_match: str | None,
    detach: bool,
    actor: Actor,
) -> None:
    task = get_task_or_raise(session, event_id=event_id, task_id=task_id)
    check_version(task.version, if_match)
    dependents = repository.dependents_of_task(session, task_id)
    if dependents and not detach:
        listed = ", ".join(f"{t.name} (#{t.id})" for t in dependents[:10])
        raise TaskHasDependents(
            f"{len(dependents)} task(s) depend on this one: {listed}; remove those "
            "dependencies first, or delete with ?detach=true to drop them",
            dependents=[{"id": t.id, "name": t.name} for t in dependents],
        )
    before = task_read_of(session, task)
    now = utcnow()
    for dependent in dependents:
        dependent.updated_at = now  # their dependencies change: a new version
    repository.delete_dependencies_on_task(session, task_id)
    session.delete(task)
    session.flush()
    _audit(session, actor, "delete", "task", task_id, before=before)


# --- the Gantt view -------------------------------------------------------------


def _plan_tasks(tasks: list[Task]) -> list[planning.PlanTask]:
    return [
        planning.PlanTask(
            id=t.id or 0,
            start=int(t.starts_at.timestamp()),
            duration=int((t.ends_at - t.starts_at).total_seconds()),
            pinned=t.progress > 0,
            # Milestones are dates promised to merchants and shoppers.
            fixed=t.kind == "milestone",
        )
        for t in tasks
    ]


def _plan_links(session: Session, event_id: int) -> list[planning.Link]:
    return [
        planning.Link(d.task_id, d.depends_on_id, d.type, d.lag_seconds)
        for d in repository.dependency_rows(session, event_id)
    ]


def gantt(session: Session, *, event_id: int, now: datetime | None = None) -> GanttRead:
    now = now or utcnow()
    event = get_or_raise(session, event_id=event_id)
    tz = zone(event.timezone)
    tasks = list_tasks(session, event_id=event_id)
    dependencies = _dependencies_by_task(session, event_id)
    links = [
        planning.Link(d.task_id, d.depends_on_id, d.type, d.lag_seconds)
        for group in dependencies.values()
        for d in group
    ]
    try:
        plan = planning.critical_path(_plan_tasks(tasks), links)
    except planning.CycleError as exc:  # only if written around the API
        raise LifecycleConflict(f"the event's dependencies form a cycle: {exc}") from None
    phases = list_phases(session, event_id=event_id)
    names = {t.id or 0: t.name for t in tasks}
    return GanttRead(
        event=event_read(session, event, phases),
        phases=[phase_read(p, tz) for p in phases],
        tasks=[
            _gantt_task(t, plan.times[t.id or 0], dependencies.get(t.id or 0, []), tz, now)
            for t in tasks
        ],
        critical_path=plan.critical_path,
        violations=[_violation_read(v, names, tz) for v in plan.violations],
        finish=_from_seconds(plan.finish, tz) if tasks else None,
    )


def _gantt_task(
    task: Task,
    times: planning.TaskTimes,
    dependencies: list[Any],
    tz: ZoneInfo,
    now: datetime,
) -> GanttTask:
    return GanttTask(
        id=task.id or 0,
        code=task.code,
        name=task.name,
        kind=task.kind,  # type: ignore[arg-type]
        team=task.team,
        progress=task.progress,
        required=task.required,
        starts_at=_local(task.starts_at, tz),
        ends_at=_local(task.ends_at, tz),
        early_start=_from_seconds(times.early_start, tz),
        early_finish=_from_seconds(times.early_finish, tz),
        late_start=_from_seconds(times.late_start, tz),
        late_finish=_from_seconds(times.late_finish, tz),
        slack=format_duration(timedelta(seconds=times.slack)),
        slack_seconds=times.slack,
        critical=times.critical,
        overdue=task.progress < 100 and task.ends_at < now,
        depends_on=[dependency_read(d) for d in dependencies],
    )


def _violation_read(
    violation: planning.Violation, names: dict[int, str], tz: ZoneInfo
) -> ViolationRead:
    by = format_duration(timedelta(seconds=violation.by))
    return ViolationRead(
        task_id=violation.task_id,
        depends_on=violation.depends_on,
        type=violation.type,  # type: ignore[arg-type]
        lag=format_duration(timedelta(seconds=violation.lag)),
        constrained=violation.constrained,  # type: ignore[arg-type]
        required_at=_from_seconds(violation.required, tz),
        planned_at=_from_seconds(violation.planned, tz),
        by=by,
        by_seconds=violation.by,
        detail=(
            f"{names.get(violation.task_id)} ({violation.type} on "
            f"{names.get(violation.depends_on)}) may {violation.constrained} at "
            f"{_from_seconds(violation.required, tz).isoformat()} at the earliest, "
            f"but is planned to {violation.constrained} {by} earlier"
        ),
    )


def reschedule(
    session: Session, *, event_id: int, dry_run: bool, actor: Actor, now: datetime | None = None
) -> RescheduleRead:
    """Forward scheduling: every task with predecessors as early as they
    allow (tasks begun or done stay; nothing moves into the past)."""
    now = now or utcnow()
    event = get_or_raise(session, event_id=event_id)
    if not dry_run and event.status in (EventStatus.ended, EventStatus.cancelled):
        raise LifecycleConflict(f"the event is {event.status}: its plan can no longer change")
    tz = zone(event.timezone)
    tasks = {t.id: t for t in list_tasks(session, event_id=event_id)}
    try:
        plan = planning.schedule_forward(
            _plan_tasks(list(tasks.values())),
            _plan_links(session, event_id),
            now=int(now.timestamp()),
        )
    except planning.CycleError as exc:  # only if written around the API
        raise LifecycleConflict(f"the event's dependencies form a cycle: {exc}") from None
    moves = []
    for move in plan.moves:
        task = tasks[move.task_id]
        new_start = datetime.fromtimestamp(move.new_start, UTC)
        new_end = new_start + (task.ends_at - task.starts_at)
        moves.append(
            MoveRead(
                task_id=move.task_id,
                name=task.name,
                starts_at_before=_local(task.starts_at, tz),
                starts_at=_local(new_start, tz),
                ends_at=_local(new_end, tz),
            )
        )
        if not dry_run:
            before = task_read_of(session, task)
            task.starts_at, task.ends_at, task.updated_at = new_start, new_end, now
            session.flush()
            _audit(
                session,
                actor,
                "reschedule",
                "task",
                task.id,
                before=before,
                after=task_read_of(session, task),
            )
    return RescheduleRead(applied=not dry_run and bool(moves), moves=moves)


# --- templates ---------------------------------------------------------------------


def _template_read(
    key: str, name: str, description: str | None, body: dict, *, version=None
) -> TemplateRead:
    return TemplateRead(
        key=key,
        name=name,
        description=description,
        builtin=version is None,
        body=body,
        version=version,
    )


def list_templates_page(session: Session, *, page: PageParams) -> Page[TemplateRead]:
    """The built-in templates first, in their own order, then the saved ones
    by key: one keyset over both, so every list pages the same way."""
    builtins = builtin_templates()
    listing = repository.template_listing(list(builtins))
    rows: Page[Any] = paginate(
        session,
        select(listing.c.rank, listing.c.key),
        page,
        order_by=[listing.c.rank, listing.c.key],
        key=lambda row: [row.rank, row.key],
    )
    keys = [row.key for row in rows.items]
    saved = repository.saved_templates_with_keys(session, [k for k in keys if k not in builtins])
    return Page[TemplateRead](
        items=[
            template_read(saved[key]) if key in saved else _builtin_read(builtins[key])
            for key in keys
        ],
        next=rows.next,
    )


def _builtin_read(template: dict[str, Any]) -> TemplateRead:
    return _template_read(
        template["key"], template["name"], template["description"], template["body"]
    )


def _seconds(offset: Any) -> int:
    """An offset as seconds from the anchor day's midnight (for ordering only)."""
    hours, minutes, *seconds = (int(x) for x in offset.time.split(":"))
    return offset.day * 86400 + hours * 3600 + minutes * 60 + (seconds[0] if seconds else 0)


def check_template_body(body: TemplateBody, loc: Loc) -> None:
    """422 for what would make a bad event: phases out of order or
    overlapping, tasks with impossible dates, unknown or cyclic dependencies."""
    errors: list[tuple[Loc, str]] = []
    phases = [(p.key, _seconds(p.start), _seconds(p.end)) for p in body.phases]
    keys: set[str] = set()
    for i, (key, start, end) in enumerate(phases):
        if key in keys:
            errors.append(([*loc, "phases", i, "key"], f"phase {key!r} is given twice"))
        keys.add(key)
        if end <= start:
            errors.append(([*loc, "phases", i, "end"], "must be after the phase's start"))
    ordered = sorted(range(len(phases)), key=lambda i: phases[i][1])
    for before, after in pairwise(ordered):
        if phases[after][1] < phases[before][2]:
            errors.append(
                ([*loc, "phases", after, "start"], f"overlaps phase {phases[before][0]!r}")
            )
    codes: dict[str, int] = {}
    for i, task in enumerate(body.tasks):
        where: Loc = [*loc, "tasks", i]
        if task.code in codes:
            errors.append(([*where, "code"], f"code {task.code!r} is given twice"))
        codes.setdefault(task.code, i)
        if task.kind == "milestone" and task.end is not None:
            errors.append(([*where, "end"], "a milestone has no end"))
        if task.kind == "task" and task.end is None:
            errors.append(([*where, "end"], "a task needs an end"))
        if task.end is not None and _seconds(task.end) < _seconds(task.start):
            errors.append(([*where, "end"], "must not be before start"))
    links = []
    for i, task in enumerate(body.tasks):
        seen: set[str] = set()
        for j, dep in enumerate(task.depends_on):
            where = [*loc, "tasks", i, "depends_on", j, "code"]
            if dep.code not in codes:
                errors.append((where, f"no task with code {dep.code!r} in this template"))
            elif dep.code == task.code:
                errors.append((where, "a task cannot depend on itself"))
            elif dep.code in seen:
                errors.append((where, f"{dep.code!r} is listed twice"))
            else:
                links.append(planning.Link(i, codes[dep.code], dep.type, 0))
            seen.add(dep.code)
    if errors:
        raise ValidationProblem(errors)
    try:
        planning.critical_path([planning.PlanTask(i, 0, 0) for i in range(len(body.tasks))], links)
    except planning.CycleError as exc:
        cycle = [body.tasks[i].code for i in exc.cycle]
        raise DependencyCycle(
            "the dependencies form a cycle: " + " → ".join([*cycle, cycle[0]]),
            loc=[*loc, "tasks"],
        ) from None


def create_template(session: Session, *, data: TemplateCreate, actor: Actor) -> Template:
    if (data.body is None) == (data.from_event_id is None):
        raise ValidationProblem(
            "give either body (the template written out) or from_event_id", loc=["body"]
        )
    if data.key in builtin_templates() or repository.saved_template(session, data.key):
        raise DuplicateTemplate(f"a template {data.key!r} exists; choose another key")
    if data.body is not None:
        check_template_body(data.body, ["body", "body"])
        body = data.body
    else:
        if data.anchor is not None and data.from_event_id is None:
            raise ValidationProblem("only with from_event_id", loc=["body", "anchor"])
        body = _body_from_event(session, data.from_event_id or 0, data.anchor)
    template = Template(
        key=data.key,
        name=data.name,
        description=data.description,
        body=body.model_dump(mode="json", exclude_none=True),
    )
    session.add(template)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DuplicateTemplate(f"a template {data.key!r} exists; choose another key") from None
    _audit(session, actor, "create", "template", template.key, after=template_read(template))
    return template


def template_read(template: Template) -> TemplateRead:
    return _template_read(
        template.key, template.name, template.description, template.body, version=template.version
    )


def _offset(value: datetime, anchor: date, tz: ZoneInfo) -> dict[str, Any]:
    local = value.astimezone(tz)
    clock = local.strftime("%H:%M:%S") if local.second else local.strftime("%H:%M")
    return {"day": (local.date() - anchor).days, "time": clock}


def _body_from_event(session: Session, event_id: int, anchor: date | None) -> TemplateBody:
    event = get_or_raise(session, event_id=event_id)
    tz = zone(event.timezone)
    phases = list_phases(session, event_id=event_id)
    if anchor is None:
        peak = next((p for p in phases if p.key == "peak"), None)
        anchor = event.anchor_date or (peak or event).starts_at.astimezone(tz).date()
    if not phases:
        raise ValidationProblem(
            f"event {event_id} has no phases; a template needs at least one",
            loc=["body", "from_event_id"],
        )
    tasks = list_tasks(session, event_id=event_id)
    dependencies = _dependencies_by_task(session, event_id)
    # Tasks without a code get one, so that dependencies can name them.
    codes = {t.id: t.code or f"task-{t.id}" for t in tasks}
    try:
        return _template_body_of(phases, tasks, dependencies, codes, anchor, tz)
    except PydanticValidationError:
        raise ValidationProblem(
            f"event {event_id} has dates more than a year from the anchor {anchor}: "
            "choose an anchor inside the event",
            loc=["body", "anchor"],
        ) from None


def _template_body_of(
    phases: list[Phase],
    tasks: list[Task],
    dependencies: dict[int, list[Any]],
    codes: dict[int | None, str],
    anchor: date,
    tz: ZoneInfo,
) -> TemplateBody:
    return TemplateBody.model_validate(
        {
            "phases": [
                {
                    "key": p.key,
                    "name": p.name,
                    "start": _offset(p.starts_at, anchor, tz),
                    "end": _offset(p.ends_at, anchor, tz),
                }
                for p in phases
            ],
            "tasks": [
                {
                    "code": codes[t.id],
                    "name": t.name,
                    "kind": t.kind,
                    "team": t.team,
                    "start": _offset(t.starts_at, anchor, tz),
                    "end": _offset(t.ends_at, anchor, tz) if t.kind == "task" else None,
                    "required": t.required,
                    "description": t.description,
                    "depends_on": [
                        {
                            "code": codes[d.depends_on_id],
                            "type": d.type,
                            "lag": format_duration(timedelta(seconds=d.lag_seconds)),
                        }
                        for d in dependencies.get(t.id or 0, [])
                    ],
                }
                for t in tasks
            ],
        }
    )


def _find_template(session: Session, key: str) -> tuple[str, dict[str, Any]]:
    builtin = builtin_templates().get(key)
    if builtin is not None:
        return builtin["name"], builtin["body"]
    saved = repository.saved_template(session, key)
    if saved is not None:
        return saved.name, saved.body
    known = [*builtin_templates(), *(t.key for t in repository.saved_templates(session))]
    raise TemplateNotFound(f"no template {key!r}; there are: {', '.join(known)}")


def _at(offset: dict[str, Any], anchor: date, tz: ZoneInfo) -> datetime:
    clock = time.fromisoformat(offset.get("time", "00:00"))
    try:
        at = as_utc(datetime.combine(anchor + timedelta(days=offset["day"]), clock), tz)
    except (OverflowError, ValueError):
        at = None
    if at is None or not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise ValidationProblem(
            f"the template's dates around anchor {anchor} fall outside the years "
            f"{FIRST_YEAR}-{LAST_YEAR}",
            loc=["body", "anchor"],
        )
    return at


def create_from_template(session: Session, *, data: FromTemplate, actor: Actor) -> Event:
    """Stamp an event from a template at an anchor day in the event's zone."""
    tz_name = data.timezone or "Asia/Shanghai"
    tz = zone_or_422(tz_name, ["body", "timezone"])
    template_name, raw = _find_template(session, data.template)
    body = TemplateBody.model_validate(raw)
    anchor = data.anchor
    phases = [
        (p.key, p.name, _at(p.start.model_dump(), anchor, tz), _at(p.end.model_dump(), anchor, tz))
        for p in body.phases
    ]
    starts_at = min(p[2] for p in phases)
    ends_at = max(p[3] for p in phases)
    event = _insert_event(
        session,
        name=data.name or f"{template_name} {anchor.year}",
        timezone=tz_name,
        starts_at=starts_at,
        ends_at=ends_at,
        launch_mode=data.launch_mode,
        description=data.description,
        template_key=data.template,
        anchor_date=anchor,
        phases=phases,
    )
    by_code: dict[str, Task] = {}
    for item in body.tasks:
        start = _at(item.start.model_dump(), anchor, tz)
        end = _at(item.end.model_dump(), anchor, tz) if item.end else start
        task = Task(
            event_id=event.id or 0,
            code=item.code,
            name=item.name,
            kind=item.kind,
            team=item.team,
            starts_at=start,
            ends_at=max(start, end),
            required=item.required,
            description=item.description,
        )
        session.add(task)
        by_code[item.code] = task
    session.flush()
    session.add_all(
        TaskDependency(
            event_id=event.id or 0,
            task_id=by_code[item.code].id or 0,
            depends_on_id=by_code[dep.code].id or 0,
            type=dep.type,
            lag_seconds=int(parse_duration(dep.lag).total_seconds()),
        )
        for item in body.tasks
        for dep in item.depends_on
    )
    session.flush()
    _audit(
        session,
        actor,
        "create_from_template",
        "event",
        event.id,
        after=event_read(session, event),
    )
    return event


# --- the year view -------------------------------------------------------------------


def year_view(session: Session, *, starts: datetime, ends: datetime) -> CalendarRead:
    """Every event overlapping [starts, ends) with phases and milestones, and
    the conflicts between them (cancelled events take no part in those)."""
    events = list_events(session, starts_before=ends, ends_after=starts)
    ids = [e.id or 0 for e in events]
    phases = repository.phases_of_events(session, ids)
    milestones = repository.milestones_of_events(session, ids)
    entries = []
    peaks: list[planning.Peak] = []
    due: list[planning.DueMilestone] = []
    for event in events:
        tz = zone(event.timezone)
        read = event_read(session, event, phases[event.id or 0])
        entries.append(
            CalendarEvent(
                **read.model_dump(),
                milestones=[
                    MilestoneRead(
                        id=m.id or 0,
                        code=m.code,
                        name=m.name,
                        team=m.team,
                        at=_local(m.starts_at, tz),
                        done=m.progress >= 100,
                    )
                    for m in milestones[event.id or 0]
                ],
            )
        )
        if event.status == EventStatus.cancelled:
            continue
        peak = next((p for p in phases[event.id or 0] if p.key == "peak"), None)
        window = peak or event
        peaks.append(planning.Peak(event.id or 0, window.starts_at, window.ends_at))
        due += [
            planning.DueMilestone(
                m.id or 0, event.id or 0, m.team, m.starts_at.astimezone(tz).date()
            )
            for m in milestones[event.id or 0]
            if m.team
        ]
    limit = get_settings().team_daily_milestone_limit
    conflicts = [
        ConflictRead(
            kind="peak_overlap",
            detail=f"the peaks of events {o.event_ids[0]} and {o.event_ids[1]} overlap "
            f"from {o.start.isoformat()} to {o.end.isoformat()}",
            event_ids=list(o.event_ids),
            starts_at=o.start,
            ends_at=o.end,
        )
        for o in planning.peak_overlaps(peaks)
    ] + [
        ConflictRead(
            kind="team_overload",
            detail=f"team {o.team} has {len(o.task_ids)} milestones due on {o.day.isoformat()}, "
            f"more than its limit of {o.limit}",
            event_ids=list(o.event_ids),
            team=o.team,
            day=o.day,
            count=len(o.task_ids),
            limit=o.limit,
            task_ids=list(o.task_ids),
        )
        for o in planning.team_overloads(due, limit=limit)
    ]
    return CalendarRead(from_=starts, to=ends, events=entries, conflicts=conflicts)


# --- used by feeds ----------------------------------------------------------


def list_feed_items(
    session: Session,
    *,
    event_ids: list[int] | None,
    phases: bool,
    milestones: bool,
    tasks: bool,
    teams: list[str] | None = None,
) -> tuple[list, list]:
    """The phases and the milestones/tasks (of `teams`, when given) of many
    events (`None`: every event), one query each: a feed of a whole year
    must not query per event. Read-only rows with the attributes named in
    `repository.FEED_PHASE_COLUMNS` and `FEED_TASK_COLUMNS`."""
    return repository.feed_items(
        session, event_ids=event_ids, phases=phases, milestones=milestones, tasks=tasks, teams=teams
    )


def feed_items_stamp(
    session: Session,
    *,
    event_ids: list[int] | None,
    phases: bool,
    milestones: bool,
    tasks: bool,
    teams: list[str] | None = None,
) -> tuple:
    """A cheap summary of those items that changes whenever one is added,
    changed or removed; feeds answer 304s from it without loading the rows."""
    return repository.feed_items_stamp(
        session, event_ids=event_ids, phases=phases, milestones=milestones, tasks=tasks, teams=teams
    )
