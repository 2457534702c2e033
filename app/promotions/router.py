"""HTTP routes of the promotions domain: parse, authorise, call the service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.auth import AnyRole, Writer, request_session
from app.db import SessionDep
from app.idempotency import IdempotencyDep
from app.pagination import Page, PageDep
from app.promotions import service
from app.promotions.schemas import (
    CodeRead,
    CodesCreate,
    CodesCreated,
    PromotionCreate,
    PromotionRead,
    PromotionUpdate,
    QuoteRead,
    QuoteRequest,
    RedemptionCreate,
    RedemptionRead,
    RiskRead,
)
from app.schemas import problem_responses
from app.versioning import IfMatch, set_etag

router = APIRouter(tags=["promotions"])
# The storefront's hot path, included ahead of every other /api/v1 router:
# each route tried before it costs a few microseconds of matching.
quote_router = APIRouter(tags=["promotions"])

# Ids are 32-bit in the database: a larger one is a 422, not a driver error.
PromotionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RedemptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventFilter = Annotated[int | None, Query(ge=1, le=2**31 - 1)]

Force = Annotated[
    bool,
    Query(description="create or change it even when the stacked discount breaks the risk floor"),
]


@router.post(
    "/promotions",
    status_code=201,
    response_model=PromotionRead,
    responses=problem_responses(409),
    summary="Create a discount rule or coupon",
)
def create_promotion(
    data: PromotionCreate,
    session: SessionDep,
    principal: Writer,
    response: Response,
    force: Force = False,
) -> PromotionRead:
    promotion = service.create(session, data=data, actor=principal, force=force)
    read = service.to_read(session, promotion)
    set_etag(response, read.version)
    response.headers["Location"] = f"/api/v1/promotions/{read.id}"
    return read


@router.get("/promotions", response_model=Page[PromotionRead], summary="List promotions")
def list_promotions(
    session: SessionDep,
    principal: AnyRole,
    page: PageDep,
    event_id: EventFilter = None,
    level: Literal["item", "store", "platform"] | None = None,
    coupon: bool | None = None,
) -> Page[PromotionRead]:
    return service.list(session, page=page, event_id=event_id, level=level, coupon=coupon)


@router.get(
    "/promotions/{promotion_id}",
    response_model=PromotionRead,
    responses=problem_responses(404),
)
def get_promotion(
    promotion_id: PromotionId, session: SessionDep, principal: AnyRole, response: Response
) -> PromotionRead:
    read = service.to_read(session, service.get_or_raise(session, promotion_id=promotion_id))
    set_etag(response, read.version)
    return read


@router.patch(
    "/promotions/{promotion_id}",
    response_model=PromotionRead,
    responses=problem_responses(404, 409, 412),
)
def update_promotion(
    promotion_id: PromotionId,
    data: PromotionUpdate,
    session: SessionDep,
    principal: Writer,
    response: Response,
    if_match: IfMatch = None,
    force: Force = False,
) -> PromotionRead:
    promotion = service.update(
        session,
        promotion_id=promotion_id,
        data=data,
        actor=principal,
        if_match=if_match,
        force=force,
    )
    read = service.to_read(session, promotion)
    set_etag(response, read.version)
    return read


@router.delete(
    "/promotions/{promotion_id}", status_code=204, responses=problem_responses(404, 409, 412)
)
def delete_promotion(
    promotion_id: PromotionId, session: SessionDep, principal: Writer, if_match: IfMatch = None
) -> Response:
    service.delete(session, promotion_id=promotion_id, actor=principal, if_match=if_match)
    return Response(status_code=204)


@router.post(
    "/promotions/{promotion_id}/codes",
    status_code=201,
    response_model=CodesCreated,
    responses=problem_responses(404),
    summary="Generate unique, unguessable coupon codes in bulk",
)
def generate_codes(
    promotion_id: PromotionId, data: CodesCreate, session: SessionDep, principal: Writer
) -> CodesCreated:
    return service.generate_codes(session, promotion_id=promotion_id, data=data, actor=principal)


@router.get(
    "/promotions/{promotion_id}/codes",
    response_model=Page[CodeRead],
    responses={
        **problem_responses(404),
        200: {"content": {"text/csv": {}}, "description": "JSON page, or CSV of every code"},
    },
    summary="List coupon codes, or export them all with Accept: text/csv",
)
def list_codes(
    promotion_id: PromotionId,
    session: SessionDep,
    principal: Writer,
    page: PageDep,
    accept: Annotated[str | None, Header()] = None,
):
    if accept and "text/csv" in accept:
        body = service.codes_csv(session, promotion_id=promotion_id)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="promotion-{promotion_id}-codes.csv"'
            },
        )
    return service.list_codes(session, promotion_id=promotion_id, page=page)


@router.get(
    "/promotions/{promotion_id}/risk",
    response_model=RiskRead,
    responses=problem_responses(404),
    summary="Worst-case stacked discount per category and SKU against the floor",
)
def promotion_risk(
    promotion_id: PromotionId,
    session: SessionDep,
    principal: AnyRole,
    limit: Annotated[int, Query(ge=1, le=10_000, description="rows to return")] = 100,
) -> RiskRead:
    return service.risk(session, promotion_id=promotion_id, limit=limit)


@quote_router.post("/quote", response_model=QuoteRead, summary="Price a cart (consumes nothing)")
async def quote(data: QuoteRequest, request: Request, principal: AnyRole) -> Response:
    # The hot path, on the event loop: with the promotions cached and
    # trusted, a quote reads the database only for what moves per order
    # (budgets with limits, customer limits, codes, events) of the
    # promotions it touches, often nothing (and then stays on the loop).
    # Checking the cache's token (once a trust period) and refreshing it go
    # to the thread pool: on SQLite the read waits for the write lock, which
    # must not stall the event loop.
    # The body is built from the engine's values without a second validation.
    with request_session(request) as session:
        cache = service.trusted_snapshot(session)
        if cache is None:
            cache = await run_in_threadpool(service.snapshot, session)
        if data.coupon_codes or cache.reads_database:
            # Codes, budgets, customer limits, events or tiers are read per
            # quote: on SQLite that read may wait for the write lock, which
            # must not stall every other request on the loop.
            body = await run_in_threadpool(service.quote_json, session, data=data, cache=cache)
        else:
            body = service.quote_json(session, data=data, cache=cache)
    return Response(body, media_type="application/json")


@router.post(
    "/redemptions",
    status_code=201,
    response_model=RedemptionRead,
    responses=problem_responses(409),
    summary="Price an order and consume its promotions atomically (Idempotency-Key)",
)
def redeem(
    data: RedemptionCreate, session: SessionDep, principal: Writer, idem: IdempotencyDep
) -> JSONResponse:
    if (replayed := idem.replay()) is not None:
        return replayed
    redemption = service.redeem(session, data=data)
    return idem.respond(201, service.redemption_read(redemption))


@router.get(
    "/redemptions/{redemption_id}",
    response_model=RedemptionRead,
    responses=problem_responses(404),
)
def get_redemption(
    redemption_id: RedemptionId, session: SessionDep, principal: AnyRole
) -> RedemptionRead:
    return service.redemption_read(
        service.get_redemption_or_raise(session, redemption_id=redemption_id)
    )


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionRead,
    responses=problem_responses(404, 409),
    summary="Give back what the redemption consumed (Idempotency-Key)",
)
def cancel_redemption(
    redemption_id: RedemptionId, session: SessionDep, principal: Writer, idem: IdempotencyDep
) -> JSONResponse:
    if (replayed := idem.replay()) is not None:
        return replayed
    redemption = service.cancel_redemption(session, redemption_id=redemption_id, actor=principal)
    return idem.respond(200, service.redemption_read(redemption))
