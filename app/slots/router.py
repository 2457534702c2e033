"""HTTP routes of the slots domain."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.encoders import jsonable_encoder

from app.auth import AnyRole, Writer, WriterOrMerchant
from app.db import SessionDep
from app.errors import ValidationProblem
from app.idempotency import IdempotencyDep
from app.pagination import Page, PageDep, paginate
from app.schemas import problem_responses
from app.slots import service
from app.slots.models import AllocationRun, Merchant, SlotApplication, SlotType
from app.slots.schemas import (
    ApplicationCreate,
    ApplicationRead,
    LockCreate,
    LockRead,
    MerchantCreate,
    MerchantRead,
    RunCreate,
    RunRead,
    RunSummary,
    SlotPlanCreate,
    SlotPlanRead,
    SlotPlanUpdate,
    SlotTypeCreate,
    SlotTypeRead,
)
from app.versioning import IfMatch, set_etag

router = APIRouter(tags=["slots"])

# --- merchants ------------------------------------------------------------------


@router.post(
    "/merchants", status_code=201, response_model=MerchantRead, responses=problem_responses(409)
)
def create_merchant(body: MerchantCreate, principal: Writer, session: SessionDep) -> MerchantRead:
    merchant = service.create_merchant(session, data=body, actor=principal)
    return service.merchant_read(merchant)


@router.get("/merchants", response_model=Page[MerchantRead])
def list_merchants(principal: AnyRole, session: SessionDep, page: PageDep) -> Page[MerchantRead]:
    return paginate(
        session,
        service.list_merchants(principal),
        page,
        order_by=[Merchant.id],
        key=lambda m: [m.id],
        to_item=MerchantRead.model_validate,
    )


@router.get(
    "/merchants/{merchant_id}", response_model=MerchantRead, responses=problem_responses(404)
)
def get_merchant(
    merchant_id: int, principal: AnyRole, session: SessionDep, response: Response
) -> MerchantRead:
    merchant = service.get_merchant_or_raise(session, merchant_id=merchant_id, principal=principal)
    set_etag(response, merchant.version)
    return service.merchant_read(merchant)


# --- slot types -----------------------------------------------------------------


@router.post(
    "/slot-types", status_code=201, response_model=SlotTypeRead, responses=problem_responses(409)
)
def create_slot_type(body: SlotTypeCreate, principal: Writer, session: SessionDep) -> SlotTypeRead:
    return service.slot_type_read(service.create_slot_type(session, data=body, actor=principal))


@router.get("/slot-types", response_model=Page[SlotTypeRead])
def list_slot_types(_principal: AnyRole, session: SessionDep, page: PageDep) -> Page[SlotTypeRead]:
    return paginate(
        session,
        service.repository.slot_types_query(),
        page,
        order_by=[SlotType.id],
        key=lambda t: [t.id],
        to_item=service.slot_type_read,
    )


# --- slot plans -----------------------------------------------------------------


@router.post(
    "/events/{event_id}/slot-plans",
    status_code=201,
    response_model=SlotPlanRead,
    responses=problem_responses(404, 409),
)
def create_slot_plan(
    event_id: int, body: SlotPlanCreate, principal: Writer, session: SessionDep
) -> SlotPlanRead:
    plan, slot_type = service.create_slot_plan(
        session, event_id=event_id, data=body, actor=principal
    )
    return service.plan_read(plan, slot_type.code)


@router.get(
    "/events/{event_id}/slot-plans",
    response_model=Page[SlotPlanRead],
    responses=problem_responses(404),
)
def list_slot_plans(event_id: int, _principal: AnyRole, session: SessionDep) -> Page[SlotPlanRead]:
    # An event has one plan per slot type: a handful, so one page.
    return Page[SlotPlanRead](items=service.list_slot_plans(session, event_id=event_id))


@router.get(
    "/events/{event_id}/slot-plans/{slot_type}",
    response_model=SlotPlanRead,
    responses=problem_responses(404),
)
def get_slot_plan(
    event_id: int, slot_type: str, _principal: AnyRole, session: SessionDep, response: Response
) -> SlotPlanRead:
    plan, found = service.get_slot_plan_or_raise(
        session, event_id=event_id, slot_type_code=slot_type
    )
    set_etag(response, plan.version)
    return service.plan_read(plan, found.code)


@router.patch(
    "/events/{event_id}/slot-plans/{slot_type}",
    response_model=SlotPlanRead,
    responses=problem_responses(404, 409, 412),
)
def update_slot_plan(
    event_id: int,
    slot_type: str,
    body: SlotPlanUpdate,
    principal: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> SlotPlanRead:
    plan, found = service.update_slot_plan(
        session,
        event_id=event_id,
        slot_type_code=slot_type,
        data=body,
        if_match=if_match,
        actor=principal,
    )
    set_etag(response, plan.version)
    return service.plan_read(plan, found.code)


# --- applications -----------------------------------------------------------------


@router.post(
    "/events/{event_id}/applications",
    status_code=201,
    response_model=ApplicationRead,
    responses=problem_responses(404, 409),
)
def create_application(
    event_id: int, body: ApplicationCreate, principal: WriterOrMerchant, session: SessionDep
) -> ApplicationRead:
    application, slot_type = service.create_application(
        session, event_id=event_id, data=body, principal=principal
    )
    return service.application_read(application, slot_type.code)


@router.get(
    "/events/{event_id}/applications",
    response_model=Page[ApplicationRead],
    responses=problem_responses(404),
)
def list_applications(
    event_id: int, principal: AnyRole, session: SessionDep, page: PageDep
) -> Page[ApplicationRead]:
    statement = service.list_applications(session, event_id=event_id, principal=principal)
    result = paginate(session, statement, page, order_by=[SlotApplication.id], key=lambda a: [a.id])
    return Page[ApplicationRead](
        items=service.application_reads(session, result.items), next=result.next
    )


@router.get(
    "/events/{event_id}/applications/{application_id}",
    response_model=ApplicationRead,
    responses=problem_responses(404),
)
def get_application(
    event_id: int, application_id: int, principal: AnyRole, session: SessionDep
) -> ApplicationRead:
    application = service.get_application_or_raise(
        session, event_id=event_id, application_id=application_id, principal=principal
    )
    return service.application_reads(session, [application])[0]


# --- allocation runs ----------------------------------------------------------------


@router.post(
    "/events/{event_id}/allocation-runs",
    status_code=201,
    response_model=RunRead,
    responses=problem_responses(404, 409),
)
def create_run(
    event_id: int,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    body: Annotated[RunCreate | None, Body()] = None,
):
    if (replayed := idem.replay()) is not None:
        return replayed
    limit = (body or RunCreate()).time_limit_seconds
    run = service.create_run(session, event_id=event_id, time_limit=limit, actor=principal)
    read = service.run_read(session, run, principal)
    return idem.respond(201, jsonable_encoder(read))


@router.get(
    "/events/{event_id}/allocation-runs",
    response_model=Page[RunSummary],
    responses=problem_responses(404),
)
def list_runs(
    event_id: int, _principal: AnyRole, session: SessionDep, page: PageDep
) -> Page[RunSummary]:
    return paginate(
        session,
        service.list_runs(session, event_id=event_id),
        page,
        order_by=[AllocationRun.id],
        key=lambda r: [r.id],
        to_item=service.run_summary,
    )


@router.get(
    "/events/{event_id}/allocation",
    response_model=RunRead,
    responses=problem_responses(404),
    summary="The published allocation",
)
def get_published(event_id: int, principal: AnyRole, session: SessionDep) -> RunRead:
    run = service.get_published_or_raise(session, event_id=event_id)
    return service.run_read(session, run, principal)


@router.get(
    "/events/{event_id}/allocation-runs/{run_id}",
    response_model=RunRead,
    responses=problem_responses(404),
)
def get_run(event_id: int, run_id: int, principal: AnyRole, session: SessionDep) -> RunRead:
    run = service.get_run_or_raise(session, event_id=event_id, run_id=run_id)
    return service.run_read(session, run, principal)


@router.post(
    "/events/{event_id}/allocation-runs/{run_id}/publish",
    response_model=RunSummary,
    responses=problem_responses(404, 409),
)
def publish_run(
    event_id: int, run_id: int, principal: Writer, session: SessionDep, idem: IdempotencyDep
):
    if (replayed := idem.replay()) is not None:
        return replayed
    run = service.publish_run(session, event_id=event_id, run_id=run_id, actor=principal)
    return idem.respond(200, jsonable_encoder(service.run_summary(run)))


# --- locks ----------------------------------------------------------------------------


@router.post(
    "/events/{event_id}/locks",
    status_code=201,
    response_model=LockRead,
    responses=problem_responses(404, 409),
)
def create_lock(
    event_id: int, body: LockCreate, principal: Writer, session: SessionDep
) -> LockRead:
    return service.lock_read(
        service.create_lock(session, event_id=event_id, data=body, actor=principal)
    )


@router.get(
    "/events/{event_id}/locks", response_model=Page[LockRead], responses=problem_responses(404)
)
def list_locks(event_id: int, _principal: AnyRole, session: SessionDep) -> Page[LockRead]:
    locks = service.list_locks(session, event_id=event_id)
    return Page[LockRead](items=[service.lock_read(lock) for lock in locks])


@router.delete("/events/{event_id}/locks", status_code=204, responses=problem_responses(404))
def delete_lock(
    event_id: int,
    principal: Writer,
    session: SessionDep,
    application_id: Annotated[int | None, Query(ge=1)] = None,
    window: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    body: Annotated[LockCreate | None, Body()] = None,
) -> Response:
    """Unpin `{application_id, window}`, given as a body or as query parameters."""
    if body is not None:
        application_id, window = body.application_id, body.window
    if application_id is None or window is None:
        raise ValidationProblem(
            [
                (["query", name], "required")
                for name, value in (("application_id", application_id), ("window", window))
                if value is None
            ]
        )
    service.delete_lock(
        session, event_id=event_id, application_id=application_id, window=window, actor=principal
    )
    return Response(status_code=204)
