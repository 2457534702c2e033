"""HTTP routes of the calendar domain: events, phases, tasks, the Gantt
view, templates and the year view. Thin: parse, authorise, call the
service, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.auth import AnyRole, Writer
from app.calendar import service
from app.calendar.schemas import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_ID,
    CalendarRead,
    EventCreate,
    EventRead,
    EventUpdate,
    FromTemplate,
    GanttRead,
    RescheduleIn,
    RescheduleRead,
    ShiftIn,
    Status,
    TaskCreate,
    TaskRead,
    TaskUpdate,
    TemplateCreate,
    TemplateList,
    TemplateRead,
)
from app.db import SessionDep
from app.errors import ValidationProblem
from app.idempotency import IdempotencyDep
from app.pagination import Page, PageDep
from app.schemas import problem_responses
from app.types import utcnow
from app.versioning import IfMatch, set_etag

router = APIRouter(tags=["calendar"])

EventPath = "/events/{event_id}"
TaskPath = "/events/{event_id}/tasks/{task_id}"

EventId = Annotated[int, Path(ge=1, le=MAX_ID)]
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]

RangeFrom = Annotated[
    datetime | None,
    Query(alias="from", description="ISO date or datetime; naive values are read in `tz`"),
]
RangeTo = Annotated[datetime | None, Query(alias="to", description="Exclusive end of the range")]
RangeZone = Annotated[str, Query(description="Zone for naive from/to", examples=["UTC"])]


def _range(starts: datetime | None, ends: datetime | None, tz: str) -> tuple[datetime | None, ...]:
    zone = service.zone_or_422(tz, ["query", "tz"])
    for value, name in ((starts, "from"), (ends, "to")):
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValidationProblem(
                f"must be between the years {FIRST_YEAR} and {LAST_YEAR}", loc=["query", name]
            )
    first = service.read_instant(starts, zone, ["query", "from"]) if starts else None
    last = service.read_instant(ends, zone, ["query", "to"]) if ends else None
    if first and last and last <= first:
        raise ValidationProblem("must be after from", loc=["query", "to"])
    return first, last


# --- events ----------------------------------------------------------------------


@router.post("/events", status_code=201, response_model=EventRead, responses=problem_responses(422))
def create_event(body: EventCreate, principal: Writer, session: SessionDep, idem: IdempotencyDep):
    """Create a draft event with its phases. Naive datetimes are read in
    `timezone`. Honours `Idempotency-Key`."""
    if (replay := idem.replay()) is not None:
        return replay
    event = service.create(session, data=body, actor=principal)
    read = service.event_read(session, event)
    return idem.respond(201, read, headers={"ETag": f'"{read.version}"'})


@router.get("/events", response_model=Page[EventRead])
def list_events(
    principal: AnyRole,
    session: SessionDep,
    page: PageDep,
    starts: RangeFrom = None,
    ends: RangeTo = None,
    status: Annotated[list[Status] | None, Query(description="Repeat for several")] = None,
    tz: RangeZone = "UTC",
) -> Page[EventRead]:
    """Events overlapping [from, to), in start order."""
    first, last = _range(starts, ends, tz)
    return service.list_page(
        session, page=page, starts_before=last, ends_after=first, statuses=status
    )


@router.post(
    "/events/from-template",
    status_code=201,
    response_model=EventRead,
    responses=problem_responses(404, 422),
)
def create_event_from_template(
    body: FromTemplate, principal: Writer, session: SessionDep, idem: IdempotencyDep
):
    """Stamp an event, its phases and its milestones from a template at an
    anchor (peak) day in the event's zone. Honours `Idempotency-Key`."""
    if (replay := idem.replay()) is not None:
        return replay
    event = service.create_from_template(session, data=body, actor=principal)
    read = service.event_read(session, event)
    return idem.respond(201, read, headers={"ETag": f'"{read.version}"'})


@router.get(EventPath, response_model=EventRead, responses=problem_responses(404))
def get_event(event_id: EventId, principal: AnyRole, session: SessionDep, response: Response):
    read = service.event_read(session, service.get_or_raise(session, event_id=event_id))
    set_etag(response, read.version)
    return read


@router.patch(EventPath, response_model=EventRead, responses=problem_responses(404, 409, 412))
def update_event(
    event_id: EventId,
    body: EventUpdate,
    principal: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
):
    """Change fields; `phases` replaces them all (matched by key)."""
    event = service.update(
        session, event_id=event_id, data=body, if_match=if_match, actor=principal
    )
    read = service.event_read(session, event)
    set_etag(response, read.version)
    return read


@router.delete(
    EventPath, status_code=204, response_class=Response, responses=problem_responses(404, 409, 412)
)
def delete_event(
    event_id: EventId, principal: Writer, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete a draft (anything further along is cancelled instead)."""
    service.delete(session, event_id=event_id, if_match=if_match, actor=principal)
    return Response(status_code=204)


@router.post(
    f"{EventPath}/schedule", response_model=EventRead, responses=problem_responses(404, 409)
)
def schedule_event(event_id: EventId, principal: Writer, session: SessionDep, response: Response):
    """draft → scheduled: its transitions are planned. 409 with `reasons`."""
    read = service.event_read(
        session, service.schedule(session, event_id=event_id, actor=principal)
    )
    set_etag(response, read.version)
    return read


@router.post(f"{EventPath}/cancel", response_model=EventRead, responses=problem_responses(404, 409))
def cancel_event(event_id: EventId, principal: Writer, session: SessionDep, response: Response):
    """Cancel a draft, scheduled or live event; pending transitions are dropped."""
    read = service.event_read(session, service.cancel(session, event_id=event_id, actor=principal))
    set_etag(response, read.version)
    return read


@router.post(f"{EventPath}/shift", response_model=EventRead, responses=problem_responses(404, 409))
def shift_event(
    event_id: EventId, body: ShiftIn, principal: Writer, session: SessionDep, response: Response
):
    """Move the event, its phases and its tasks by `by` on the event's wall clock."""
    event = service.shift(session, event_id=event_id, by=body.by, actor=principal)
    read = service.event_read(session, event)
    set_etag(response, read.version)
    return read


# --- tasks ---------------------------------------------------------------------------


@router.post(
    f"{EventPath}/tasks",
    status_code=201,
    response_model=TaskRead,
    responses=problem_responses(404, 409, 422),
)
def create_task(
    event_id: EventId, body: TaskCreate, principal: Writer, session: SessionDep, response: Response
):
    task = service.create_task(session, event_id=event_id, data=body, actor=principal)
    read = service.task_read_of(session, task)
    set_etag(response, read.version)
    return read


@router.get(f"{EventPath}/tasks", response_model=Page[TaskRead], responses=problem_responses(404))
def list_tasks(event_id: EventId, principal: AnyRole, session: SessionDep, page: PageDep):
    return service.list_tasks_page(session, event_id=event_id, page=page)


@router.get(TaskPath, response_model=TaskRead, responses=problem_responses(404))
def get_task(
    event_id: EventId, task_id: TaskId, principal: AnyRole, session: SessionDep, response: Response
):
    task = service.get_task_or_raise(session, event_id=event_id, task_id=task_id)
    read = service.task_read_of(session, task)
    set_etag(response, read.version)
    return read


@router.patch(TaskPath, response_model=TaskRead, responses=problem_responses(404, 409, 412))
def update_task(
    event_id: EventId,
    task_id: TaskId,
    body: TaskUpdate,
    principal: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
):
    """Change fields; `depends_on` replaces them all; moving `starts_at` alone
    keeps a task's duration. A cycle is a 422 naming its tasks."""
    task = service.update_task(
        session, event_id=event_id, task_id=task_id, data=body, if_match=if_match, actor=principal
    )
    read = service.task_read_of(session, task)
    set_etag(response, read.version)
    return read


@router.delete(
    TaskPath, status_code=204, response_class=Response, responses=problem_responses(404, 409, 412)
)
def delete_task(
    event_id: EventId,
    task_id: TaskId,
    principal: Writer,
    session: SessionDep,
    if_match: IfMatch = None,
    detach: Annotated[bool, Query(description="Also drop other tasks' links to it")] = False,
) -> Response:
    """409 when other tasks depend on it, unless `detach=true`."""
    service.delete_task(
        session,
        event_id=event_id,
        task_id=task_id,
        if_match=if_match,
        detach=detach,
        actor=principal,
    )
    return Response(status_code=204)


# --- the Gantt view ----------------------------------------------------------------


@router.get(f"{EventPath}/gantt", response_model=GanttRead, responses=problem_responses(404))
def get_gantt(event_id: EventId, principal: AnyRole, session: SessionDep):
    """Everything a chart needs: tasks with early/late dates, slack and
    `critical`, the critical path, and the dependencies the plan breaks."""
    # No ETag: the view changes with every task, not only with the event.
    return service.gantt(session, event_id=event_id)


@router.post(
    f"{EventPath}/reschedule", response_model=RescheduleRead, responses=problem_responses(404)
)
def reschedule_tasks(
    event_id: EventId, principal: Writer, session: SessionDep, body: RescheduleIn | None = None
):
    """Forward scheduling: move every task with predecessors as early as they
    allow (tasks begun or done stay; nothing moves into the past)."""
    dry_run = body.dry_run if body else False
    return service.reschedule(session, event_id=event_id, dry_run=dry_run, actor=principal)


# --- templates ----------------------------------------------------------------------


@router.get("/templates", response_model=TemplateList)
def list_templates(principal: AnyRole, session: SessionDep, page: PageDep) -> TemplateList:
    """The built-in templates (`double11`, `618`), then the saved ones by
    key; paged (`limit`, `cursor`)."""
    listed = service.list_templates_page(session, page=page)
    return TemplateList(items=listed.items, next=listed.next)


@router.post(
    "/templates",
    status_code=201,
    response_model=TemplateRead,
    responses=problem_responses(404, 409, 422),
)
def create_template(body: TemplateCreate, principal: Writer, session: SessionDep):
    """Save a template written out (`body`) or from an event (`from_event_id`)."""
    return service.template_read(service.create_template(session, data=body, actor=principal))


# --- the year view --------------------------------------------------------------------


@router.get("/calendar", response_model=CalendarRead)
def get_calendar(
    principal: AnyRole,
    session: SessionDep,
    starts: RangeFrom = None,
    ends: RangeTo = None,
    tz: RangeZone = "UTC",
) -> CalendarRead:
    """All events in [from, to) (default: this calendar year) with phases and
    milestones, and `conflicts`: overlapping peaks, overloaded team days."""
    first, last = _range(starts, ends, tz)
    if first is None:
        this_year = utcnow().year if last is None else last.year
        first = datetime(this_year, 1, 1, tzinfo=UTC)
    if last is None:
        try:
            last = first.replace(year=first.year + 1)
        except ValueError:  # 29 February
            last = first.replace(year=first.year + 1, month=3, day=1)
    if (last - first).days > 3 * 366:
        raise ValidationProblem("the range may span at most three years", loc=["query", "to"])
    return service.year_view(session, starts=first, ends=last)
