"""Use cases of the webhooks domain: inbound endpoints, outbound
subscriptions, the outbox and its deliveries.

Launching and tearing down on an inbound message is the launches domain's
business (its service is the orchestrator); this one only proves who sent it
and that it was not seen before.
"""

from __future__ import annotations

import ipaddress
import json
import secrets as _secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from app import audit
from app.auth import Principal
from app.calendar import service as calendar_service
from app.config import get_settings
from app.errors import ValidationProblem
from app.types import utcnow
from app.webhooks import policy, repository, signing
from app.webhooks.errors import (
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointNotFound,
    InvalidSignature,
    SubscriptionNotFound,
)
from app.webhooks.models import (
    DeliveryAttempt,
    InboundReceipt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSubscription,
)
from app.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    WebhookSubscriptionCreate,
    WebhookSubscriptionUpdate,
)

# session.info key: the outbox got rows in this transaction (wakes the worker).
OUTBOX_FLAG = "promoplan.webhooks.outbox"

# --- inbound endpoints -------------------------------------------------------


def endpoints_statement():
    return repository.endpoints_statement()


def subscriptions_statement():
    return repository.subscriptions_statement()


def deliveries_statement(*, subscription_id: int):
    return repository.deliveries_statement(subscription_id)


def get_endpoint_or_raise(session: Session, *, endpoint_id: int) -> WebhookEndpoint:
    endpoint = repository.get_endpoint(session, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


def create_endpoint(
    session: Session, *, data: WebhookEndpointCreate, actor: Principal
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the secret is shown)."""
    if data.event_id is not None:
        calendar_service.get_or_raise(session, event_id=data.event_id)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(name=data.name, event_id=data.event_id, secret=secret)
    session.add(endpoint)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_endpoint.create",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        after={"name": endpoint.name, "event_id": endpoint.event_id},
    )
    return endpoint, secret


def update_endpoint(
    session: Session, *, endpoint: WebhookEndpoint, data: WebhookEndpointUpdate, actor: Principal
) -> WebhookEndpoint:
    before = {"name": endpoint.name, "active": endpoint.active}
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise ValidationProblem(f"{field} may not be null", loc=["body", field])
        setattr(endpoint, field, value)
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_endpoint.update",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        before=before,
        after={"name": endpoint.name, "active": endpoint.active},
    )
    return endpoint


def delete_endpoint(session: Session, *, endpoint: WebhookEndpoint, actor: Principal) -> None:
    audit.record(
        session,
        actor=actor,
        action="webhook_endpoint.delete",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        before={"name": endpoint.name, "event_id": endpoint.event_id},
    )
    session.delete(endpoint)
    session.flush()


def rotate_endpoint_secret(
    session: Session, *, endpoint: WebhookEndpoint, keep_previous: timedelta, actor: Principal
) -> str:
    """A new secret; the old one keeps verifying for `keep_previous` so the
    sender can switch without a gap."""
    now = utcnow()
    new = signing.new_secret()
    endpoint.previous_secret = endpoint.secret if keep_previous.total_seconds() > 0 else None
    endpoint.previous_secret_expires_at = now + keep_previous if endpoint.previous_secret else None
    endpoint.secret = new
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_endpoint.rotate_secret",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
    )
    return new


def _live_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    if previous and previous_expires_at and previous_expires_at > now:
        return [secret, previous]
    return [secret]


def verify_inbound(
    session: Session,
    *,
    endpoint_id: int,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> tuple[WebhookEndpoint, signing.VerifiedMessage]:
    """The endpoint and the verified message; 404 for an unknown endpoint,
    401 for anything wrong with the signature (one status, a precise detail)."""
    endpoint = get_endpoint_or_raise(session, endpoint_id=endpoint_id)
    if not endpoint.active:
        raise InvalidSignature("this webhook endpoint is disabled")
    secrets = _live_secrets(
        endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at, now
    )
    try:
        message = signing.verify(
            secrets,
            webhook_id=headers.get("webhook-id"),
            timestamp=headers.get("webhook-timestamp"),
            signature=headers.get("webhook-signature"),
            body=body,
            now=now.timestamp(),
            tolerance_seconds=get_settings().webhook_tolerance_seconds,
        )
    except signing.SignatureError as exc:
        raise InvalidSignature(str(exc)) from exc
    return endpoint, message


def find_receipt(session: Session, *, endpoint_id: int, webhook_id: str) -> InboundReceipt | None:
    return repository.find_receipt(session, endpoint_id, webhook_id)


def claim_receipt(
    session: Session, *, endpoint_id: int, webhook_id: str, type: str, event_id: int
) -> InboundReceipt | None:
    """Reserve this webhook-id for this request; None when it is taken (a replay).
    The reservation commits or rolls back with the action it guards."""
    receipt = InboundReceipt(
        endpoint_id=endpoint_id,
        webhook_id=webhook_id,
        type=type,
        event_id=event_id,
        status_code=200,
    )
    return receipt if repository.claim_receipt(session, receipt) else None


def store_receipt_answer(
    session: Session, *, receipt: InboundReceipt, status_code: int, body: dict[str, Any]
) -> None:
    receipt.status_code = status_code
    receipt.response_body = body
    session.add(receipt)
    session.flush()


def purge_receipts(session: Session, *, now: datetime | None = None) -> int:
    """Delete receipts older than `webhook_receipt_retention_hours`; how many.

    Safe because the retention far exceeds the signature timestamp tolerance:
    a replay of a purged webhook-id is refused as too old before any lookup.
    """
    hours = get_settings().webhook_receipt_retention_hours
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    return repository.delete_receipts_before(session, cutoff)


# --- outbound subscriptions --------------------------------------------------


def _allowlist() -> list[str]:
    raw = get_settings().webhook_allowlist
    return [item.strip().lower() for item in (raw or "").split(",") if item.strip()]


def _resolve(host: str) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


def url_problem(url: str, allowlist: list[str] | None = None) -> str | None:
    """Why outbound deliveries may not go to `url`; None when they may.

    Without an allowlist every http(s) URL is allowed (storefronts often live
    on private networks). With one, the host must be listed by name, or every
    address it resolves to must fall in a listed address or CIDR — so an
    allowlist also stops requests to internal addresses (SSRF).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the URL must start with http:// or https://"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL must not carry credentials"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "the URL's port must be a number from 1 to 65535"
    rules = _allowlist() if allowlist is None else allowlist
    if not rules:
        return None
    host = parts.hostname.lower()
    if host in rules:
        return None
    networks = []
    for rule in rules:
        try:
            networks.append(ipaddress.ip_network(rule, strict=False))
        except ValueError:
            continue
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in _resolve(host)]
    if addresses and all(any(a in n for n in networks) for a in addresses):
        return None
    return f"host {host} is not in PROMOPLAN_WEBHOOK_ALLOWLIST"


def get_subscription_or_raise(session: Session, *, subscription_id: int) -> WebhookSubscription:
    subscription = repository.get_subscription(session, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound(f"no webhook subscription {subscription_id}")
    return subscription


def _check_url(url: str, loc: str = "url") -> None:
    problem = url_problem(url)
    if problem:
        raise ValidationProblem(problem, loc=["body", loc])


def _subscription_view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "types": subscription.types,
        "active": subscription.active,
        "description": subscription.description,
    }


def create_subscription(
    session: Session, *, data: WebhookSubscriptionCreate, actor: Principal
) -> tuple[WebhookSubscription, str]:
    _check_url(data.url)
    secret = signing.new_secret()
    subscription = WebhookSubscription(
        url=data.url, types=data.types, description=data.description, secret=secret
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_subscription.create",
        resource_type="webhook_subscription",
        resource_id=subscription.id,
        after=_subscription_view(subscription),
    )
    return subscription, secret


def update_subscription(
    session: Session,
    *,
    subscription: WebhookSubscription,
    data: WebhookSubscriptionUpdate,
    actor: Principal,
) -> WebhookSubscription:
    before = _subscription_view(subscription)
    changes = data.model_dump(exclude_unset=True)
    for field in ("url", "types", "active"):
        if field in changes and changes[field] is None:
            raise ValidationProblem(f"{field} may not be null", loc=["body", field])
    if "url" in changes:
        _check_url(changes["url"])
    for field, value in changes.items():
        setattr(subscription, field, value)
    if changes.get("active") is True:
        # Re-enabling starts afresh; what failed meanwhile can be redelivered.
        subscription.disabled_at = None
        subscription.disabled_reason = None
        subscription.consecutive_failures = 0
    elif changes.get("active") is False and subscription.disabled_at is None:
        subscription.disabled_at = utcnow()
        subscription.disabled_reason = f"disabled by {actor.actor}"
    subscription.updated_at = utcnow()
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_subscription.update",
        resource_type="webhook_subscription",
        resource_id=subscription.id,
        before=before,
        after=_subscription_view(subscription),
    )
    return subscription


def delete_subscription(
    session: Session, *, subscription: WebhookSubscription, actor: Principal
) -> None:
    audit.record(
        session,
        actor=actor,
        action="webhook_subscription.delete",
        resource_type="webhook_subscription",
        resource_id=subscription.id,
        before=_subscription_view(subscription),
    )
    session.delete(subscription)
    session.flush()


def rotate_subscription_secret(
    session: Session,
    *,
    subscription: WebhookSubscription,
    keep_previous: timedelta,
    actor: Principal,
) -> str:
    """A new secret; deliveries carry signatures by both secrets for
    `keep_previous`, so the receiver can switch without refusing any."""
    now = utcnow()
    new = signing.new_secret()
    keep = keep_previous.total_seconds() > 0
    subscription.previous_secret = subscription.secret if keep else None
    subscription.previous_secret_expires_at = now + keep_previous if keep else None
    subscription.secret = new
    subscription.updated_at = now
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="webhook_subscription.rotate_secret",
        resource_type="webhook_subscription",
        resource_id=subscription.id,
    )
    return new


# --- the outbox ----------------------------------------------------------------


def new_webhook_id() -> str:
    return "msg_" + _secrets.token_hex(16)


def enqueue(
    session: Session, *, type: str, data: dict[str, Any], at: datetime, event_id: int | None
) -> list[WebhookDelivery]:
    """Write one delivery per active subscription that wants `type`, in the
    caller's transaction: the notice exists if and only if the change does."""
    payload = {"type": type, "timestamp": at.isoformat(), "data": data}
    deliveries = []
    for subscription in repository.active_subscriptions(session):
        if type not in subscription.types:
            continue
        delivery = WebhookDelivery(
            subscription_id=subscription.id,
            webhook_id=new_webhook_id(),
            type=type,
            event_id=event_id,
            payload=payload,
            next_attempt_at=at,
            created_at=at,
            updated_at=at,
        )
        session.add(delivery)
        deliveries.append(delivery)
    if deliveries:
        session.flush()
        session.info[OUTBOX_FLAG] = True
    return deliveries


def get_delivery_or_raise(
    session: Session, *, subscription_id: int, delivery_id: int
) -> WebhookDelivery:
    delivery = repository.get_delivery(session, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        raise DeliveryNotFound(
            f"no delivery {delivery_id} of webhook subscription {subscription_id}"
        )
    return delivery


def list_attempts(session: Session, *, delivery_id: int) -> list[DeliveryAttempt]:
    return repository.attempts_of(session, delivery_id)


def redeliver(session: Session, *, delivery: WebhookDelivery, actor: Principal) -> WebhookDelivery:
    """Send a delivery again, now, with the same webhook-id (receivers that
    saw it deduplicate); its attempt log keeps growing."""
    if delivery.status == "delivering":
        raise DeliveryInProgress("this delivery is being attempted right now; try again shortly")
    now = utcnow()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.updated_at = now
    session.add(delivery)
    session.flush()
    session.info[OUTBOX_FLAG] = True
    audit.record(
        session,
        actor=actor,
        action="webhook_delivery.redeliver",
        resource_type="webhook_delivery",
        resource_id=delivery.id,
    )
    return delivery


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class DeliveryJob:
    """What a worker needs to attempt one delivery outside any transaction."""

    delivery_id: int
    subscription_id: int
    attempt: int
    url: str
    secrets: tuple[str, ...]
    webhook_id: str
    body: bytes


def claim_due(
    session: Session, *, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[DeliveryJob]:
    ids = repository.claim_due_deliveries(
        session, now=now, owner=owner, lease_until=now + lease, limit=limit
    )
    jobs = []
    for delivery_id in ids:
        delivery = repository.get_delivery(session, delivery_id)
        assert delivery is not None
        session.refresh(delivery)
        subscription = repository.get_subscription(session, delivery.subscription_id)
        assert subscription is not None
        jobs.append(
            DeliveryJob(
                delivery_id=delivery_id,
                subscription_id=subscription.id,  # type: ignore[arg-type]
                attempt=delivery.attempts,
                url=subscription.url,
                secrets=tuple(
                    _live_secrets(
                        subscription.secret,
                        subscription.previous_secret,
                        subscription.previous_secret_expires_at,
                        now,
                    )
                ),
                webhook_id=delivery.webhook_id,
                body=encode_payload(delivery.payload),
            )
        )
    return jobs


def record_attempt(
    session: Session,
    *,
    job: DeliveryJob,
    owner: str,
    started_at: datetime,
    finished_at: datetime,
    status_code: int | None,
    latency_ms: int,
    error: str | None,
    response_excerpt: str | None,
    retry_after: str | None,
) -> str:
    """Log one attempt and decide what comes next; returns the delivery's new status."""
    verdict = policy.judge_attempt(
        attempt=job.attempt, status_code=status_code, retry_after=retry_after, error=error
    )
    if verdict.succeeded:
        status, values = (
            "succeeded",
            {"delivered_at": finished_at, "next_attempt_at": None, "last_error": None},
        )
    elif verdict.give_up:
        status, values = "failed", {"next_attempt_at": None, "last_error": verdict.reason[:1000]}
    else:
        assert verdict.retry_in is not None
        status, values = (
            "pending",
            {
                "next_attempt_at": finished_at + verdict.retry_in,
                "last_error": verdict.reason[:1000],
            },
        )
    still_ours = repository.finish_delivery(
        session,
        delivery_id=job.delivery_id,
        owner=owner,
        attempt=job.attempt,
        values={
            "status": status,
            "last_status_code": status_code,
            "last_latency_ms": latency_ms,
            "updated_at": finished_at,
            **values,
        },
    )
    session.add(
        DeliveryAttempt(
            delivery_id=job.delivery_id,
            attempt=job.attempt,
            started_at=started_at,
            status_code=status_code,
            latency_ms=latency_ms,
            error=(error or None) and error[:1000],
            response_excerpt=response_excerpt,
            instance_id=owner,
        )
    )
    if not still_ours:
        # Our lease ran out and another worker took the delivery over; keep
        # the log line, leave the state to the new owner.
        session.flush()
        return "superseded"
    repository.bump_failures(
        session, subscription_id=job.subscription_id, success=status == "succeeded"
    )
    if verdict.disable:
        reason = f"disabled after delivery {job.delivery_id}: {verdict.reason}"
        if repository.disable_subscription(
            session, subscription_id=job.subscription_id, reason=reason, now=finished_at
        ):
            repository.fail_pending_of_subscription(
                session, subscription_id=job.subscription_id, reason=reason, now=finished_at
            )
            audit.record(
                session,
                actor="system:webhooks",
                action="webhook_subscription.disable",
                resource_type="webhook_subscription",
                resource_id=job.subscription_id,
                after={"reason": reason},
            )
    session.flush()
    return status
