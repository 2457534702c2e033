"""Builders for the launches tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import signals
from app.calendar.models import Event
from app.launches import service as launches_service
from app.launches.models import JobRun, Transition
from app.webhooks import signing
from app.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.factories import create_event


def create_scheduled_event(session: Session, **overrides: Any) -> Event:
    """An event made `scheduled` the way the calendar does it: status, then the signal."""
    event = create_event(session, status="scheduled", **overrides)
    signals.event_scheduled.send(session, event=event)
    session.flush()
    return event


def create_subscription(session: Session, **overrides: Any) -> WebhookSubscription:
    subscription = WebhookSubscription(
        url=overrides.pop("url", "http://127.0.0.1:9/hooks"),
        types=overrides.pop(
            "types",
            [
                "event.launched",
                "event.phase_started",
                "event.ended",
                "event.launch_blocked",
                "event.cancelled",
                "event.transition_failed",
            ],
        ),
        secret=overrides.pop("secret", signing.new_secret()),
        **overrides,
    )
    session.add(subscription)
    session.flush()
    return subscription


@contextmanager
def same_session(session: Session) -> Iterator[Session]:
    """A unit of work on the test's session (commit = release its savepoint)."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def run_clock(session: Session, now: datetime) -> list[launches_service.RunReport]:
    # What the test built so far is committed work the clock finds, and a
    # failing run must not roll it back.
    session.commit()
    return launches_service.run_due(
        scope=lambda: same_session(session), now=now, instance_id="test-clock"
    )


def transitions(session: Session, event: Event) -> dict[str, Transition]:
    session.expire_all()
    rows = session.exec(select(Transition).where(Transition.event_id == event.id)).all()
    return {row.key: row for row in rows}


def job_runs(session: Session, event: Event) -> list[JobRun]:
    statement = select(JobRun).where(JobRun.event_id == event.id).order_by(JobRun.id)  # type: ignore[arg-type]
    return list(session.exec(statement))


def outbox_types(session: Session, event: Event) -> list[str]:
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.event_id == event.id)
        .order_by(WebhookDelivery.id)  # type: ignore[arg-type]
    )
    return [d.type for d in session.exec(statement)]
