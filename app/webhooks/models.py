"""Tables of the webhooks domain: inbound endpoints and their receipts,
outbound subscriptions, the delivery outbox and its attempt log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column

_endpoint_version = version_column()


class WebhookEndpoint(SQLModel, table=True):
    """An inbound endpoint: a sender signs with its secret to launch or tear down."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # When set, the endpoint may only act on this event.
    event_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("event.id", ondelete="CASCADE"), index=True),
    )
    secret: str = Field(max_length=100)
    # The secret before the last rotation stays valid until it expires.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_endpoint_version)

    __mapper_args__ = {"version_id_col": _endpoint_version}


class InboundReceipt(SQLModel, table=True):
    """A `webhook-id` that was acted on: the unique key makes a replay a no-op."""

    __tablename__ = "inbound_receipt"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "webhook_id", name="uq_inbound_receipt_endpoint_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False
        )
    )
    webhook_id: str = Field(max_length=255)
    type: str = Field(max_length=60)
    event_id: int | None = None
    received_at: datetime = Field(default_factory=utcnow, index=True)
    status_code: int
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn))


_subscription_version = version_column()


class WebhookSubscription(SQLModel, table=True):
    """An outbound receiver of event notifications."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (CheckConstraint("consecutive_failures >= 0", name="failures_not_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    types: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = None
    active: bool = True
    disabled_at: datetime | None = None
    disabled_reason: str | None = Field(default=None, max_length=500)
    consecutive_failures: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_subscription_version)

    __mapper_args__ = {"version_id_col": _subscription_version}


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one message to one subscription, written in the same
    transaction as the change it reports, delivered later by the worker."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
        CheckConstraint(
            "status IN ('pending', 'delivering', 'succeeded', 'failed')",
            name="known_status",
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False
        )
    )
    # `webhook-id`: the same on every retry, so receivers can deduplicate.
    webhook_id: str = Field(max_length=64, unique=True)
    type: str = Field(max_length=60)
    event_id: int | None = Field(default=None, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSONColumn, nullable=False))
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = None
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DeliveryAttempt(SQLModel, table=True):
    """The log of one HTTP attempt of a delivery."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    attempt: int
    started_at: datetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, max_length=1000)
    response_excerpt: str | None = Field(default=None, sa_column=Column(Text))
    instance_id: str = Field(max_length=200)
