"""Exactly once, proven with real server processes: three replicas on one
PostgreSQL database racing for a batch of transitions due at the same
second, and a server killed before the due time and started after it.

Each test takes seconds: events are due a few seconds after the servers
are up, and the sweep runs every half second.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from app.db import build_engine, session_scope
from app.launches.models import JobRun, Transition
from app.webhooks import signing
from app.webhooks.models import WebhookDelivery
from tests.launches.factories import create_scheduled_event, create_subscription
from tests.live import LiveServer
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow

# Booting a server imports the whole app: seconds each on a busy 2-core machine.
BOOT_SECONDS = 90.0
CLOCK_ENV = {
    "PROMOPLAN_SCHEDULER_ENABLED": "true",
    "PROMOPLAN_DELIVERIES_ENABLED": "true",
    "PROMOPLAN_SWEEP_INTERVAL_SECONDS": "0.5",
    "PROMOPLAN_AUTO_MIGRATE": "false",
}


@pytest.fixture
def engine(live_db: str) -> Iterator[Engine]:
    engine = build_engine(live_db)
    yield engine
    engine.dispose()


def next_second(after: float) -> datetime:
    """A whole second at least `after` seconds from now, so a batch shares it."""
    moment = datetime.now(UTC) + timedelta(seconds=after)
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def seed(
    engine: Engine, url: str, windows: list[tuple[datetime, datetime]]
) -> tuple[str, list[int]]:
    with session_scope(engine) as session:
        secret = create_subscription(
            session, url=url, types=["event.launched", "event.ended"]
        ).secret
        ids = [
            create_scheduled_event(session, starts_at=start, ends_at=end, phases=[]).id
            for start, end in windows
        ]
    return secret, ids  # type: ignore[return-value]


def wait_until_settled(engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(engine) as session:
            pending = session.exec(
                select(func.count()).select_from(Transition).where(Transition.status == "pending")
            ).one()
            undelivered = session.exec(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status != "succeeded")
            ).one()
        if pending == 0 and undelivered == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"not settled: {pending} pending transitions, {undelivered} deliveries")


def start_all(servers: list[LiveServer]) -> None:
    """Start them side by side: each takes seconds to import on a busy machine."""
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(lambda server: server.start(timeout=BOOT_SECONDS), servers))


def verified_ids(received, secret: str) -> list[str]:
    ids = []
    for request in received:
        message = signing.verify(
            [secret],
            webhook_id=request.headers["webhook-id"],
            timestamp=request.headers["webhook-timestamp"],
            signature=request.headers["webhook-signature"],
            body=request.body,
            now=time.time(),
        )
        ids.append(message.webhook_id)
    return ids


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_three_replicas_apply_a_simultaneous_batch_once_and_notify_once(
    backend: str, live_db: str, engine: Engine
):
    servers = [
        LiveServer(live_db, **CLOCK_ENV, PROMOPLAN_INSTANCE_ID=f"replica-{n}") for n in range(3)
    ]
    with Receiver() as receiver:
        try:
            start_all(servers)
            due = next_second(2)
            batch = 12
            secret, event_ids = seed(
                engine, receiver.url, [(due, due + timedelta(seconds=2))] * batch
            )
            wait_until_settled(engine, timeout=30)
            time.sleep(1.5)  # room for any duplicate to show itself
        finally:
            for server in servers:
                server.stop()
        ids = verified_ids(receiver.received, secret)
    with session_scope(engine) as session:
        runs = session.exec(select(JobRun)).all()
        transitions = session.exec(select(Transition)).all()
        deliveries = session.exec(select(WebhookDelivery)).all()
    assert len(transitions) == 2 * batch
    assert {t.status for t in transitions} == {"done"}
    # One job run per transition, and one delivery per notice, received once each.
    assert Counter(r.transition_id for r in runs) == Counter({t.id: 1 for t in transitions})
    assert {r.outcome for r in runs} == {"done"}
    assert len(deliveries) == 2 * batch and {d.attempts for d in deliveries} == {1}
    assert len(ids) == 2 * batch and len(set(ids)) == 2 * batch
    assert set(ids) == {d.webhook_id for d in deliveries}
    assert sorted(set(r.event_id for r in runs)) == sorted(event_ids)


def test_a_server_killed_before_the_due_time_catches_up_once_after_restart(
    backend: str, live_db: str, engine: Engine
):
    with Receiver() as receiver:
        first = LiveServer(live_db, **CLOCK_ENV, PROMOPLAN_INSTANCE_ID="first")
        first.start(timeout=BOOT_SECONDS)
        due = next_second(4)  # well after the kill below
        # One event still running when the server comes back (its launch is
        # caught up late), one already over (its launch skipped, its teardown run).
        secret, (running, over) = seed(
            engine,
            receiver.url,
            [(due, due + timedelta(minutes=10)), (due, due + timedelta(seconds=1))],
        )
        first.kill()
        time.sleep(max(0.0, (due + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))
        with session_scope(engine) as session:
            assert session.exec(select(func.count()).select_from(JobRun)).one() == 0
        second = LiveServer(live_db, **CLOCK_ENV, PROMOPLAN_INSTANCE_ID="second")
        try:
            second.start(timeout=BOOT_SECONDS)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(receiver.received) < 2:
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            second.stop()
        ids = verified_ids(receiver.received, secret)
        types = sorted(
            r.body.split(b'"type":"')[1].split(b'"')[0].decode() for r in receiver.received
        )
    with session_scope(engine) as session:
        runs = session.exec(select(JobRun).order_by(JobRun.id)).all()  # type: ignore[arg-type]
        rows = {(t.event_id, t.action): t for t in session.exec(select(Transition))}
    assert {(r.event_id, r.action, r.outcome, r.instance_id) for r in runs} == {
        (running, "launch", "done", "second"),
        (over, "launch", "skipped", "second"),
        (over, "teardown", "done", "second"),
    }
    assert len(runs) == 3
    assert rows[(running, "teardown")].status == "pending"
    assert len(ids) == 2 and types == ["event.ended", "event.launched"]
