"""HTTP routes of the launches domain: transitions, readiness, manual
launch and teardown, job runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from app.auth import AnyRole, Staff, Writer
from app.db import SessionDep
from app.errors import ValidationProblem
from app.idempotency import IdempotencyDep
from app.launches import service  # importing it connects the calendar signal receivers
from app.launches.lifecycle import Trigger
from app.launches.models import JobRun, Transition
from app.launches.schemas import (
    JobRunRead,
    LaunchRequest,
    ReadinessRead,
    TeardownRequest,
    TransitionRead,
    TransitionResult,
)
from app.pagination import Page, PageDep, paginate
from app.schemas import problem_responses
from app.types import utcnow

router = APIRouter(tags=["launches"])

JOB_OUTCOMES = ("done", "skipped", "blocked", "error", "failed")


@router.get(
    "/events/{event_id}/transitions",
    response_model=Page[TransitionRead],
    responses=problem_responses(404),
    summary="The event's planned and done transitions, in time order",
)
def list_transitions(
    event_id: int, principal: AnyRole, session: SessionDep, page: PageDep
) -> Page[TransitionRead]:
    service.get_event_or_raise(session, event_id=event_id)
    return paginate(
        session,
        service.transitions_statement(event_id=event_id),
        page,
        order_by=[Transition.due_at, Transition.seq, Transition.id],
        key=lambda row: [row.due_at, row.seq, row.id],
        to_item=TransitionRead.model_validate,
    )


@router.get(
    "/events/{event_id}/readiness",
    response_model=ReadinessRead,
    responses=problem_responses(404),
    summary="The readiness gates a launch checks, each with its state and why",
)
def get_readiness(event_id: int, principal: AnyRole, session: SessionDep) -> ReadinessRead:
    verdict = service.readiness(session, event_id=event_id)
    return ReadinessRead.model_validate(service.readiness_body(event_id, verdict, utcnow()))


def _result(session, applied: service.Applied, event_id: int) -> dict:
    event = service.get_event_or_raise(session, event_id=event_id)
    body = TransitionResult(
        event_id=event_id,
        event_status=event.status,
        transition=TransitionRead.model_validate(applied.transition),
        readiness=(
            ReadinessRead.model_validate(
                service.readiness_body(event_id, applied.readiness, applied.run.started_at)
            )
            if applied.readiness is not None
            else None
        ),
        overridden=applied.overridden,
    )
    return body.model_dump(mode="json")


@router.post(
    "/events/{event_id}/launch",
    response_model=TransitionResult,
    responses=problem_responses(404, 409),
    summary="Launch now, by hand (Idempotency-Key replays the first answer)",
    description="409 `launch-blocked` lists the failing gates; `override: true` launches anyway. "
    "409 `invalid-transition` when the event is not scheduled or its window has passed.",
)
def launch(
    event_id: int,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    body: Annotated[LaunchRequest | None, Body()] = None,
):
    if (replayed := idem.replay()) is not None:
        return replayed
    request = body or LaunchRequest()
    applied = service.launch(
        session,
        event_id=event_id,
        actor=principal,
        trigger=Trigger.manual,
        now=utcnow(),
        override=request.override,
        reason=request.reason,
    )
    return idem.respond(200, _result(session, applied, event_id))


@router.post(
    "/events/{event_id}/teardown",
    response_model=TransitionResult,
    responses=problem_responses(404, 409),
    summary="End a live event now, by hand (Idempotency-Key replays the first answer)",
)
def teardown(
    event_id: int,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    body: Annotated[TeardownRequest | None, Body()] = None,
):
    if (replayed := idem.replay()) is not None:
        return replayed
    request = body or TeardownRequest()
    applied = service.teardown(
        session,
        event_id=event_id,
        actor=principal,
        trigger=Trigger.manual,
        now=utcnow(),
        reason=request.reason,
    )
    return idem.respond(200, _result(session, applied, event_id))


@router.get(
    "/job-runs",
    response_model=Page[JobRunRead],
    summary="Every run of a transition: started, finished, outcome, error",
)
def list_job_runs(
    principal: Staff,
    session: SessionDep,
    page: PageDep,
    event_id: Annotated[int | None, Query(ge=1)] = None,
    outcome: Annotated[str | None, Query(description=", ".join(JOB_OUTCOMES))] = None,
) -> Page[JobRunRead]:
    if outcome is not None and outcome not in JOB_OUTCOMES:
        raise ValidationProblem(
            f"outcome must be one of {', '.join(JOB_OUTCOMES)}", loc=["query", "outcome"]
        )
    return paginate(
        session,
        service.job_runs_statement(event_id=event_id, outcome=outcome),
        page,
        order_by=[JobRun.id],
        key=lambda row: [row.id],
        to_item=JobRunRead.model_validate,
    )
