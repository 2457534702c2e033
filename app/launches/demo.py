"""The launches part of `promoplan demo`.

Reads `ctx["events"]` (the calendar's `{"double11": id, "618": id}`).

- Double 11 is switched to `webhook` launch mode and scheduled: a release
  pipeline launches it with a signed webhook (an inbound endpoint bound to it).
- 618 is scheduled on the clock.
- A short flash sale (秒杀) starts two minutes after the demo runs, with a
  warm-up and a peak phase, so `promoplan serve` shows a launch, a phase
  start and a teardown happen by themselves within a quarter of an hour.
- A storefront subscribes to launch notices on loopback.

Puts in `ctx`:
- `ctx["launches"]`: `{"scheduled": [event ids], "flash_sale": event id}`;
- `ctx["webhooks"]`: `{"endpoint_id": id, "subscription_id": id}`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.calendar import service as calendar_service
from app.calendar.schemas import EventCreate, EventUpdate
from app.launches import service
from app.types import utcnow
from app.webhooks import service as webhooks_service
from app.webhooks.schemas import WebhookEndpointCreate, WebhookSubscriptionCreate

ACTOR = "demo"


def _flash_sale(session: Session) -> int:
    start = utcnow().replace(microsecond=0) + timedelta(minutes=2)
    event = calendar_service.create(
        session,
        data=EventCreate.model_validate(
            {
                "name": "Flash sale 秒杀 (demo)",
                "timezone": "Asia/Shanghai",
                "starts_at": start,
                "ends_at": start + timedelta(minutes=15),
                "phases": [
                    {
                        "key": "warmup",
                        "name": "预热",
                        "starts_at": start,
                        "ends_at": start + timedelta(minutes=5),
                    },
                    {
                        "key": "peak",
                        "name": "爆发",
                        "starts_at": start + timedelta(minutes=5),
                        "ends_at": start + timedelta(minutes=15),
                    },
                ],
                "description": "Launches two minutes after the demo ran; watch its transitions.",
            }
        ),
        actor=ACTOR,
    )
    calendar_service.schedule(session, event_id=event.id, actor=ACTOR)  # type: ignore[arg-type]
    return event.id  # type: ignore[return-value]


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """Add this domain's demo data; return lines to print."""
    events = ctx.get("events") or {}
    double11, six18 = events.get("double11"), events.get("618")
    scheduled: list[int] = []
    lines: list[str] = []
    if double11 is not None:
        calendar_service.update(
            session,
            event_id=double11,
            data=EventUpdate(launch_mode="webhook"),
            if_match=None,
            actor=ACTOR,
        )
        calendar_service.schedule(session, event_id=double11, actor=ACTOR)
        scheduled.append(double11)
    if six18 is not None:
        calendar_service.schedule(session, event_id=six18, actor=ACTOR)
        scheduled.append(six18)
    flash = _flash_sale(session)
    scheduled.append(flash)
    endpoint, _secret = webhooks_service.create_endpoint(
        session,
        data=WebhookEndpointCreate(name="release pipeline", event_id=double11),
        actor=SYSTEM,
    )
    subscription, _ = webhooks_service.create_subscription(
        session,
        data=WebhookSubscriptionCreate(
            url="http://127.0.0.1:8787/promoplan-webhooks",
            types=["event.launched", "event.phase_started", "event.ended", "event.launch_blocked"],
            description="storefront (demo; nothing listens there, so deliveries retry)",
        ),
        actor=SYSTEM,
    )
    ctx["launches"] = {"scheduled": scheduled, "flash_sale": flash}
    ctx["webhooks"] = {"endpoint_id": endpoint.id, "subscription_id": subscription.id}
    planned = sum(len(service.list_transitions(session, event_id=e)) for e in scheduled)
    lines += [
        f"Launches: {len(scheduled)} events scheduled, {planned} transitions planned; "
        f"a flash sale (event {flash}) launches 2 minutes from now.",
        f"  Transitions: /api/v1/events/{flash}/transitions — job runs: /api/v1/job-runs",
    ]
    if double11 is not None:
        lines.append(
            f"  Double 11 launches on a signed webhook: POST /api/v1/hooks/{endpoint.id} "
            f"(readiness: /api/v1/events/{double11}/readiness; rotate the endpoint's secret "
            f"to get one: POST /api/v1/webhook-endpoints/{endpoint.id}/rotate-secret)"
        )
    lines.append(
        f"  Outbound: subscription {subscription.id}, delivery log at "
        f"/api/v1/webhook-subscriptions/{subscription.id}/deliveries"
    )
    return lines
