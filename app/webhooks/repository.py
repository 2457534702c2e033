"""Every SQL statement of the webhooks domain, atomic guards included."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import delete_older_than
from app.webhooks.models import (
    DeliveryAttempt,
    InboundReceipt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSubscription,
)


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def endpoints_statement():
    return select(WebhookEndpoint)


def find_receipt(session: Session, endpoint_id: int, webhook_id: str) -> InboundReceipt | None:
    return session.exec(
        select(InboundReceipt).where(
            InboundReceipt.endpoint_id == endpoint_id, InboundReceipt.webhook_id == webhook_id
        )
    ).first()


def claim_receipt(session: Session, receipt: InboundReceipt) -> bool:
    """Insert the receipt; False when another request holds this webhook-id.

    On PostgreSQL a concurrent insert of the same key waits for the other
    transaction, then fails here if it committed: the unique key, not a
    read-then-write, is what stops a message from acting twice.
    """
    try:
        with session.begin_nested():
            session.add(receipt)
    except IntegrityError:
        return False
    return True


def delete_receipts_before(session: Session, cutoff: datetime) -> int:
    """Delete receipts received before `cutoff` in committed batches; how many."""
    return delete_older_than(session, col(InboundReceipt.received_at), cutoff)


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id)


def subscriptions_statement():
    return select(WebhookSubscription)


def active_subscriptions(session: Session) -> list[WebhookSubscription]:
    statement = select(WebhookSubscription).where(col(WebhookSubscription.active).is_(True))
    return list(session.exec(statement.order_by(col(WebhookSubscription.id))))


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def deliveries_statement(subscription_id: int):
    return select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    statement = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(col(DeliveryAttempt.id))
    )
    return list(session.exec(statement))


def claim_due_deliveries(
    session: Session, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[int]:
    """Claim up to `limit` due deliveries for `owner` in one statement.

    Due: pending and past its next attempt, or delivering under a lease that
    ran out (its worker died). PostgreSQL skips rows other replicas are
    claiming (FOR UPDATE SKIP LOCKED); SQLite's write lock serialises claims.
    """
    active = select(WebhookSubscription.id).where(col(WebhookSubscription.active).is_(True))
    due = (
        select(WebhookDelivery.id)
        .where(
            col(WebhookDelivery.subscription_id).in_(active),
            or_(
                (col(WebhookDelivery.status) == "pending")
                & (col(WebhookDelivery.next_attempt_at) <= now),
                (col(WebhookDelivery.status) == "delivering")
                & (col(WebhookDelivery.lease_until) < now),
            ),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.exec(due))
    claimed: list[int] = []
    for delivery_id in ids:
        # A compare-and-set per row: a row someone else claimed meanwhile
        # (possible on SQLite only in theory, the write lock is held) is left alone.
        result = session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                or_(
                    col(WebhookDelivery.status) == "pending",
                    (col(WebhookDelivery.status) == "delivering")
                    & (col(WebhookDelivery.lease_until) < now),
                ),
            )
            .values(
                status="delivering",
                lease_owner=owner,
                lease_until=lease_until,
                attempts=WebhookDelivery.attempts + 1,  # type: ignore[operator]
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claimed.append(delivery_id)
    return claimed


def finish_delivery(
    session: Session, *, delivery_id: int, owner: str, attempt: int, values: dict
) -> bool:
    """Record an attempt's result, only if this worker still holds the lease."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == "delivering",
            col(WebhookDelivery.lease_owner) == owner,
            col(WebhookDelivery.attempts) == attempt,
        )
        .values(lease_owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def fail_pending_of_subscription(
    session: Session, *, subscription_id: int, reason: str, now: datetime
) -> int:
    result = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == subscription_id,
            col(WebhookDelivery.status) == "pending",
        )
        .values(status="failed", last_error=reason[:1000], next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def bump_failures(session: Session, *, subscription_id: int, success: bool) -> None:
    values = (
        {"consecutive_failures": 0}
        if success
        else {"consecutive_failures": WebhookSubscription.consecutive_failures + 1}  # type: ignore[operator]
    )
    session.execute(
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def disable_subscription(
    session: Session, *, subscription_id: int, reason: str, now: datetime
) -> bool:
    result = session.execute(
        update(WebhookSubscription)
        .where(
            col(WebhookSubscription.id) == subscription_id,
            col(WebhookSubscription.active).is_(True),
        )
        .values(
            active=False,
            disabled_at=now,
            disabled_reason=reason[:500],
            updated_at=now,
            version=WebhookSubscription.version + 1,  # type: ignore[operator]
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
