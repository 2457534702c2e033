"""Racing for the same transitions with real concurrent clients (threads,
each with its own connection and transaction) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import auth
from app.db import build_engine, get_session, session_scope
from app.errors import Problem
from app.launches import service
from app.launches.lifecycle import Trigger
from app.launches.models import JobRun
from app.main import create_app
from app.types import utcnow
from app.webhooks import signing
from app.webhooks.models import WebhookDelivery
from tests.launches.factories import create_scheduled_event, create_subscription

T0 = datetime(2027, 11, 9, 16, 0, tzinfo=UTC)


@pytest.fixture
def engine(live_db: str) -> Iterator[Engine]:
    engine = build_engine(live_db)
    yield engine
    engine.dispose()


def race(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs at the same moment in threads; return results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = jobs[n]()
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_clocks_and_a_planner_racing_for_one_batch_apply_each_once(engine: Engine):
    with session_scope(engine) as session:
        create_subscription(session, url="http://127.0.0.1:9/x", types=["event.launched"])
        ids = [
            create_scheduled_event(
                session, starts_at=T0, ends_at=T0 + timedelta(days=1), phases=[]
            ).id
            for _ in range(8)
        ]

    def by_hand() -> object:
        with session_scope(engine) as session:
            return service.launch(
                session, event_id=ids[0], actor="key:1:ops", trigger=Trigger.manual, now=T0
            )

    results = race(
        lambda: service.run_due(engine=engine, now=T0, instance_id="a"),
        lambda: service.run_due(engine=engine, now=T0, instance_id="b"),
        by_hand,
    )
    assert not any(isinstance(r, Exception) and not isinstance(r, Problem) for r in results)
    with session_scope(engine) as session:
        runs = session.exec(select(JobRun)).all()
        deliveries = session.exec(select(WebhookDelivery)).all()
    assert Counter(r.event_id for r in runs) == Counter({event_id: 1 for event_id in ids})
    assert {r.outcome for r in runs} == {"done"}
    assert Counter(d.event_id for d in deliveries) == Counter({event_id: 1 for event_id in ids})


def test_the_same_signed_message_sent_twice_at_once_acts_once(engine: Engine):
    app = create_app()

    def committed_session() -> Iterator[Session]:
        with session_scope(engine) as session:
            yield session

    app.dependency_overrides[get_session] = committed_session
    with session_scope(engine) as session:
        _key, raw = auth.create_key(session, name="ops", role="planner")
        event = create_scheduled_event(
            session, launch_mode="webhook", starts_at=utcnow() + timedelta(minutes=5)
        )
        event_id = event.id
    with TestClient(app) as client:
        created = client.post(
            "/api/v1/webhook-endpoints",
            headers={"Authorization": f"Bearer {raw}"},
            json={"name": "pipeline"},
        ).json()
        body = f'{{"type": "event.launch", "data": {{"event_id": {event_id}}}}}'.encode()
        headers = signing.signed_headers(
            [created["secret"]], webhook_id="msg_twice", timestamp=int(time.time()), body=body
        )

        def send() -> object:
            return client.post(f"/api/v1/hooks/{created['id']}", headers=headers, content=body)

        first, second = race(send, send)
    statuses = sorted(r.status_code for r in (first, second))  # type: ignore[union-attr]
    assert statuses == [200, 200], [r.text for r in (first, second)]  # type: ignore[union-attr]
    replayed = [r.headers.get("webhook-replayed") for r in (first, second)]  # type: ignore[union-attr]
    assert replayed.count("true") == 1
    with session_scope(engine) as session:
        runs = session.exec(select(JobRun).where(JobRun.event_id == event_id)).all()
    assert len(runs) == 1 and runs[0].trigger == "webhook"
