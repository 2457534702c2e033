"""HTTP routes of the webhooks domain: inbound endpoints and the signed
inbound hook, outbound subscriptions and their delivery log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.auth import Writer
from app.config import get_settings
from app.db import SessionDep
from app.launches import service as launches_service
from app.launches.lifecycle import Trigger
from app.pagination import Page, PageDep, paginate
from app.schemas import problem_responses
from app.types import utcnow
from app.versioning import IfMatch, check_version, set_etag
from app.webhooks import service
from app.webhooks.errors import EndpointNotForEvent
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSubscription
from app.webhooks.schemas import (
    DeliveryAttemptRead,
    InboundAck,
    InboundMessage,
    RotateSecret,
    WebhookDeliveryDetail,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookSubscriptionCreate,
    WebhookSubscriptionCreated,
    WebhookSubscriptionRead,
    WebhookSubscriptionUpdate,
)

router = APIRouter(tags=["webhooks"])

# Inbound webhooks, authenticated by their Standard Webhooks signature.
hooks_router = APIRouter(tags=["webhooks"])


def _endpoint_read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    url = f"{get_settings().public_url.rstrip('/')}/api/v1/hooks/{endpoint.id}"
    return WebhookEndpointRead.model_validate({**endpoint.model_dump(), "url": url})


# --- inbound endpoints ---------------------------------------------------------


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses=problem_responses(404),
    summary="Create an inbound endpoint; its secret is shown once",
)
def create_endpoint(
    body: WebhookEndpointCreate, principal: Writer, session: SessionDep, response: Response
) -> WebhookEndpointCreated:
    endpoint, secret = service.create_endpoint(session, data=body, actor=principal)
    set_etag(response, endpoint.version)
    return WebhookEndpointCreated(**_endpoint_read(endpoint).model_dump(), secret=secret)


@router.get("/webhook-endpoints", response_model=Page[WebhookEndpointRead])
def list_endpoints(principal: Writer, session: SessionDep, page: PageDep):
    return paginate(
        session,
        service.endpoints_statement(),
        page,
        order_by=[WebhookEndpoint.id],
        key=lambda row: [row.id],
        to_item=_endpoint_read,
    )


@router.get(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointRead,
    responses=problem_responses(404),
)
def get_endpoint(
    endpoint_id: int, principal: Writer, session: SessionDep, response: Response
) -> WebhookEndpointRead:
    endpoint = service.get_endpoint_or_raise(session, endpoint_id=endpoint_id)
    set_etag(response, endpoint.version)
    return _endpoint_read(endpoint)


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointRead,
    responses=problem_responses(404, 412),
)
def update_endpoint(
    endpoint_id: int,
    body: WebhookEndpointUpdate,
    principal: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookEndpointRead:
    endpoint = service.get_endpoint_or_raise(session, endpoint_id=endpoint_id)
    check_version(endpoint.version, if_match)
    endpoint = service.update_endpoint(session, endpoint=endpoint, data=body, actor=principal)
    set_etag(response, endpoint.version)
    return _endpoint_read(endpoint)


@router.delete(
    "/webhook-endpoints/{endpoint_id}", status_code=204, responses=problem_responses(404, 412)
)
def delete_endpoint(
    endpoint_id: int, principal: Writer, session: SessionDep, if_match: IfMatch = None
) -> Response:
    endpoint = service.get_endpoint_or_raise(session, endpoint_id=endpoint_id)
    check_version(endpoint.version, if_match)
    service.delete_endpoint(session, endpoint=endpoint, actor=principal)
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointCreated,
    responses=problem_responses(404),
    summary="A new secret (shown once); the old one verifies for keep_previous_seconds",
)
def rotate_endpoint_secret(
    endpoint_id: int,
    principal: Writer,
    session: SessionDep,
    body: Annotated[RotateSecret | None, Body()] = None,
) -> WebhookEndpointCreated:
    endpoint = service.get_endpoint_or_raise(session, endpoint_id=endpoint_id)
    keep = timedelta(seconds=(body or RotateSecret()).keep_previous_seconds)
    secret = service.rotate_endpoint_secret(
        session, endpoint=endpoint, keep_previous=keep, actor=principal
    )
    return WebhookEndpointCreated(**_endpoint_read(endpoint).model_dump(), secret=secret)


# --- the signed inbound hook ---------------------------------------------------


async def raw_body(request: Request) -> bytes:
    """The exact bytes received: the signature covers them, not a re-encoding."""
    return await request.body()


def _parse_message(body: bytes) -> InboundMessage:
    try:
        return InboundMessage.model_validate_json(body)
    except ValidationError as exc:
        # The shared handler words these like every other body: a 400 for bytes
        # that are not JSON, a 422 naming the field otherwise.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from exc


@hooks_router.post(
    "/hooks/{endpoint_id}",
    response_model=InboundAck,
    responses=problem_responses(401, 404, 409, 422),
    summary="Launch or tear down an event on a Standard Webhooks signed message",
    description="Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` "
    '(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several for rotation). '
    'Body `{"type": "event.launch"|"event.teardown", "data": {"event_id": 1}}`. '
    "A replayed webhook-id is answered with the first answer and does nothing.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": InboundMessage.model_json_schema(),
                    "example": {"type": "event.launch", "data": {"event_id": 1}},
                }
            },
            "required": True,
        }
    },
)
def receive_hook(
    endpoint_id: int,
    request: Request,
    session: SessionDep,
    body: Annotated[bytes, Depends(raw_body)],
):
    now = utcnow()
    endpoint, message = service.verify_inbound(
        session, endpoint_id=endpoint_id, headers=request.headers, body=body, now=now
    )
    seen = service.find_receipt(session, endpoint_id=endpoint_id, webhook_id=message.webhook_id)
    if seen is not None:
        return JSONResponse(
            seen.response_body, status_code=seen.status_code, headers={"Webhook-Replayed": "true"}
        )
    parsed = _parse_message(body)
    event_id = parsed.data.event_id
    if endpoint.event_id is not None and endpoint.event_id != event_id:
        raise EndpointNotForEvent(
            f"endpoint {endpoint_id} may only act on event {endpoint.event_id}"
        )
    receipt = service.claim_receipt(
        session,
        endpoint_id=endpoint_id,
        webhook_id=message.webhook_id,
        type=parsed.type,
        event_id=event_id,
    )
    if receipt is None:  # a concurrent duplicate committed first
        seen = service.find_receipt(session, endpoint_id=endpoint_id, webhook_id=message.webhook_id)
        assert seen is not None
        return JSONResponse(
            seen.response_body, status_code=seen.status_code, headers={"Webhook-Replayed": "true"}
        )
    actor = f"webhook:{endpoint_id}:{endpoint.name}"
    act = launches_service.launch if parsed.type == "event.launch" else launches_service.teardown
    applied = act(session, event_id=event_id, actor=actor, trigger=Trigger.webhook, now=now)
    answer = InboundAck(
        webhook_id=message.webhook_id,
        type=parsed.type,
        event_id=event_id,
        result={
            "transition": applied.transition.action,
            "status": applied.transition.status,
            "detail": applied.transition.detail,
        },
    ).model_dump(mode="json")
    service.store_receipt_answer(session, receipt=receipt, status_code=200, body=answer)
    return JSONResponse(answer, status_code=200)


# --- outbound subscriptions ------------------------------------------------------


@router.post(
    "/webhook-subscriptions",
    status_code=201,
    response_model=WebhookSubscriptionCreated,
    summary="Subscribe a URL to event notifications; the secret is shown once",
)
def create_subscription(
    body: WebhookSubscriptionCreate, principal: Writer, session: SessionDep, response: Response
) -> WebhookSubscriptionCreated:
    subscription, secret = service.create_subscription(session, data=body, actor=principal)
    set_etag(response, subscription.version)
    return WebhookSubscriptionCreated(
        **WebhookSubscriptionRead.model_validate(subscription).model_dump(), secret=secret
    )


@router.get("/webhook-subscriptions", response_model=Page[WebhookSubscriptionRead])
def list_subscriptions(principal: Writer, session: SessionDep, page: PageDep):
    return paginate(
        session,
        service.subscriptions_statement(),
        page,
        order_by=[WebhookSubscription.id],
        key=lambda row: [row.id],
        to_item=WebhookSubscriptionRead.model_validate,
    )


@router.get(
    "/webhook-subscriptions/{subscription_id}",
    response_model=WebhookSubscriptionRead,
    responses=problem_responses(404),
)
def get_subscription(
    subscription_id: int, principal: Writer, session: SessionDep, response: Response
) -> WebhookSubscriptionRead:
    subscription = service.get_subscription_or_raise(session, subscription_id=subscription_id)
    set_etag(response, subscription.version)
    return WebhookSubscriptionRead.model_validate(subscription)


@router.patch(
    "/webhook-subscriptions/{subscription_id}",
    response_model=WebhookSubscriptionRead,
    responses=problem_responses(404, 412),
    summary="Change url, types, description; `active: true` re-enables a disabled one",
)
def update_subscription(
    subscription_id: int,
    body: WebhookSubscriptionUpdate,
    principal: Writer,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookSubscriptionRead:
    subscription = service.get_subscription_or_raise(session, subscription_id=subscription_id)
    check_version(subscription.version, if_match)
    subscription = service.update_subscription(
        session, subscription=subscription, data=body, actor=principal
    )
    set_etag(response, subscription.version)
    return WebhookSubscriptionRead.model_validate(subscription)


@router.delete(
    "/webhook-subscriptions/{subscription_id}",
    status_code=204,
    responses=problem_responses(404, 412),
)
def delete_subscription(
    subscription_id: int, principal: Writer, session: SessionDep, if_match: IfMatch = None
) -> Response:
    subscription = service.get_subscription_or_raise(session, subscription_id=subscription_id)
    check_version(subscription.version, if_match)
    service.delete_subscription(session, subscription=subscription, actor=principal)
    return Response(status_code=204)


@router.post(
    "/webhook-subscriptions/{subscription_id}/rotate-secret",
    response_model=WebhookSubscriptionCreated,
    responses=problem_responses(404),
    summary="A new secret (shown once); deliveries carry both signatures meanwhile",
)
def rotate_subscription_secret(
    subscription_id: int,
    principal: Writer,
    session: SessionDep,
    body: Annotated[RotateSecret | None, Body()] = None,
) -> WebhookSubscriptionCreated:
    subscription = service.get_subscription_or_raise(session, subscription_id=subscription_id)
    keep = timedelta(seconds=(body or RotateSecret()).keep_previous_seconds)
    secret = service.rotate_subscription_secret(
        session, subscription=subscription, keep_previous=keep, actor=principal
    )
    return WebhookSubscriptionCreated(
        **WebhookSubscriptionRead.model_validate(subscription).model_dump(), secret=secret
    )


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries",
    response_model=Page[WebhookDeliveryRead],
    responses=problem_responses(404),
    summary="The delivery log: status, response code, latency, attempts",
)
def list_deliveries(subscription_id: int, principal: Writer, session: SessionDep, page: PageDep):
    service.get_subscription_or_raise(session, subscription_id=subscription_id)
    return paginate(
        session,
        service.deliveries_statement(subscription_id=subscription_id),
        page,
        order_by=[WebhookDelivery.id],
        key=lambda row: [row.id],
        to_item=WebhookDeliveryRead.model_validate,
    )


def _delivery_detail(session, delivery: WebhookDelivery) -> WebhookDeliveryDetail:
    attempts = service.list_attempts(session, delivery_id=delivery.id)  # type: ignore[arg-type]
    return WebhookDeliveryDetail(
        **WebhookDeliveryRead.model_validate(delivery).model_dump(),
        attempt_log=[DeliveryAttemptRead.model_validate(a) for a in attempts],
    )


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}",
    response_model=WebhookDeliveryDetail,
    responses=problem_responses(404),
)
def get_delivery(
    subscription_id: int, delivery_id: int, principal: Writer, session: SessionDep
) -> WebhookDeliveryDetail:
    delivery = service.get_delivery_or_raise(
        session, subscription_id=subscription_id, delivery_id=delivery_id
    )
    return _delivery_detail(session, delivery)


@router.post(
    "/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryDetail,
    responses=problem_responses(404, 409),
    summary="Send a delivery again now, with the same webhook-id",
)
def redeliver(
    subscription_id: int, delivery_id: int, principal: Writer, session: SessionDep
) -> WebhookDeliveryDetail:
    delivery = service.get_delivery_or_raise(
        session, subscription_id=subscription_id, delivery_id=delivery_id
    )
    delivery = service.redeliver(session, delivery=delivery, actor=principal)
    return _delivery_detail(session, delivery)
