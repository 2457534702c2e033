"""Request and response bodies of the webhooks domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from app.schemas import RequestModel, ResponseModel

# What a subscription may ask for.
EVENT_TYPES: tuple[str, ...] = (
    "event.launched",
    "event.phase_started",
    "event.ended",
    "event.launch_blocked",
    "event.cancelled",
    "event.transition_failed",
)


def checked_types(value: list[str]) -> list[str]:
    unknown = [t for t in value if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(value))


class WebhookEndpointCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["release pipeline"])
    event_id: int | None = Field(
        default=None, description="Only this event may be launched through the endpoint"
    )


class WebhookEndpointUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class WebhookEndpointRead(ResponseModel):
    id: int
    name: str
    event_id: int | None
    active: bool
    url: str = Field(description="Where the sender POSTs its signed messages")
    previous_secret_expires_at: datetime | None
    created_at: datetime
    version: int


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(description="Shown once: sign with it (whsec_...)")


class RotateSecret(RequestModel):
    keep_previous_seconds: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the old secret stays valid (inbound) or keeps being used "
        "beside the new one (outbound)",
    )


class InboundData(RequestModel):
    event_id: int = Field(ge=1)


class InboundMessage(RequestModel):
    type: Literal["event.launch", "event.teardown"]
    data: InboundData
    timestamp: str | None = None


class InboundAck(ResponseModel):
    webhook_id: str
    type: str
    event_id: int
    result: dict[str, Any]


class WebhookSubscriptionCreate(RequestModel):
    url: str = Field(min_length=1, max_length=2000, examples=["https://shop.example/hooks"])
    types: list[str] = Field(min_length=1, examples=[["event.launched", "event.ended"]])
    description: str | None = Field(default=None, max_length=500)

    @field_validator("types")
    @classmethod
    def known_types(cls, value: list[str]) -> list[str]:
        return checked_types(value)


class WebhookSubscriptionUpdate(RequestModel):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    types: list[str] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, description="true re-enables a disabled one")

    @field_validator("types")
    @classmethod
    def known_types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else checked_types(value)


class WebhookSubscriptionRead(ResponseModel):
    id: int
    url: str
    types: list[str]
    description: str | None
    active: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime
    version: int


class WebhookSubscriptionCreated(WebhookSubscriptionRead):
    secret: str = Field(description="Shown once: verify deliveries with it (whsec_...)")


class DeliveryAttemptRead(ResponseModel):
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    instance_id: str


class WebhookDeliveryRead(ResponseModel):
    id: int
    subscription_id: int
    webhook_id: str
    type: str
    event_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]


class WebhookDeliveryDetail(WebhookDeliveryRead):
    attempt_log: list[DeliveryAttemptRead]
