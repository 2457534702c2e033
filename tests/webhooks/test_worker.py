"""The outbound delivery worker against a real receiver on loopback, with
committed data (its own database), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.db import build_engine, session_scope
from app.launches import service as launches_service
from app.types import utcnow
from app.webhooks import service, signing, worker
from app.webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from tests.factories import create_event
from tests.launches.factories import create_scheduled_event, create_subscription
from tests.webhooks.receiver import Receiver


@pytest.fixture
def engine(live_db: str) -> Iterator[Engine]:
    engine = build_engine(live_db)
    yield engine
    engine.dispose()


def enqueue(engine: Engine, url: str, count: int = 1, **sub) -> tuple[int, str]:
    with session_scope(engine) as session:
        subscription = create_subscription(session, url=url, **sub)
        event = create_event(session)
        for n in range(count):
            service.enqueue(
                session,
                type="event.launched",
                data={"event_id": event.id, "n": n, "name": "双十一"},
                at=utcnow(),
                event_id=event.id,
            )
        return subscription.id, subscription.secret  # type: ignore[return-value]


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with session_scope(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))  # type: ignore[arg-type]


class TestDelivery:
    def test_a_delivery_is_posted_signed_and_logged(self, engine: Engine):
        with Receiver() as receiver:
            _sub, secret = enqueue(engine, receiver.url)
            assert worker.run_once(engine=engine, owner="w1") == 1
            (got,) = receiver.received
        signing.verify(
            [secret],
            webhook_id=got.headers["webhook-id"],
            timestamp=got.headers["webhook-timestamp"],
            signature=got.headers["webhook-signature"],
            body=got.body,
            now=utcnow().timestamp(),
        )
        assert b'"type":"event.launched"' in got.body and "双十一".encode() in got.body
        (delivery,) = deliveries(engine)
        assert delivery.status == "succeeded" and delivery.attempts == 1
        assert delivery.last_status_code == 200 and delivery.last_latency_ms is not None
        assert delivery.webhook_id == got.headers["webhook-id"]
        with session_scope(engine) as session:
            (attempt,) = session.exec(select(DeliveryAttempt)).all()
            assert attempt.status_code == 200 and attempt.instance_id == "w1"
        assert worker.run_once(engine=engine) == 0

    def test_one_subscription_receives_its_messages_in_the_order_they_were_written(
        self, engine: Engine
    ):
        with Receiver() as receiver:
            enqueue(engine, receiver.url, count=8)
            assert worker.run_once(engine=engine, owner="w1") == 8
            got = [request.headers["webhook-id"] for request in receiver.received]
        assert got == [d.webhook_id for d in deliveries(engine)]

    def test_a_failure_is_retried_later_with_the_same_id_and_a_fresh_signature(
        self, engine: Engine
    ):
        with Receiver(respond=lambda n: 500 if n == 0 else 204) as receiver:
            enqueue(engine, receiver.url)
            worker.run_once(engine=engine)
            (delivery,) = deliveries(engine)
            assert delivery.status == "pending" and delivery.last_status_code == 500
            wait = delivery.next_attempt_at - delivery.updated_at  # type: ignore[operator]
            assert timedelta(seconds=3) < wait < timedelta(seconds=7)
            assert worker.run_once(engine=engine) == 0  # not before its time
            with session_scope(engine) as session:
                row = session.get(WebhookDelivery, delivery.id)
                row.next_attempt_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
                session.add(row)
            assert worker.run_once(engine=engine) == 1
            first, second = receiver.received
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        (delivery,) = deliveries(engine)
        assert delivery.status == "succeeded" and delivery.attempts == 2

    def test_410_disables_the_subscription_and_fails_what_is_queued(self, engine: Engine):
        with Receiver(respond=lambda n: 410) as receiver:
            subscription_id, _ = enqueue(engine, receiver.url, count=3)
            worker.run_once(engine=engine)
        with session_scope(engine) as session:
            subscription = session.get(WebhookSubscription, subscription_id)
            assert subscription is not None and not subscription.active
            assert "410" in (subscription.disabled_reason or "")
        assert {d.status for d in deliveries(engine)} == {"failed"}

    def test_an_unreachable_receiver_is_an_error_that_is_retried(self, engine: Engine):
        with Receiver() as receiver:
            url = receiver.url
        enqueue(engine, url)  # the receiver is gone: connection refused
        worker.run_once(engine=engine)
        (delivery,) = deliveries(engine)
        assert delivery.status == "pending" and delivery.last_status_code is None
        assert "Connect" in (delivery.last_error or "")

    def test_a_receiver_slower_than_the_timeout_is_a_timeout(self, engine: Engine):
        with Receiver(delay=1.0) as receiver:
            enqueue(engine, receiver.url)
            with httpx.Client(timeout=0.2) as client:
                worker.run_once(engine=engine, client=client)
        (delivery,) = deliveries(engine)
        assert delivery.status == "pending" and delivery.last_error == "timed out"

    def test_a_host_outside_the_allowlist_is_not_contacted(self, engine: Engine, monkeypatch):
        with Receiver() as receiver:
            enqueue(engine, receiver.url)
            monkeypatch.setattr(service, "_allowlist", lambda: ["10.0.0.0/8"])
            worker.run_once(engine=engine)
            assert receiver.received == []
        (delivery,) = deliveries(engine)
        assert "ALLOWLIST" in (delivery.last_error or "")

    def test_two_workers_deliver_each_message_once(self, engine: Engine):
        with Receiver() as receiver:
            enqueue(engine, receiver.url, count=24)
            barrier = threading.Barrier(2)

            def drain(owner: str) -> None:
                barrier.wait()
                while worker.run_once(engine=engine, owner=owner):
                    pass

            threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(ids) == 24 and len(set(ids)) == 24
        assert {d.status for d in deliveries(engine)} == {"succeeded"}


class TestIsolation:
    def test_a_slow_receiver_never_holds_up_a_transition(self, engine: Engine):
        """The launch commits while a delivery to a hung receiver is still open."""
        release = threading.Event()

        def hang(_n: int) -> int:
            release.wait(10)
            return 200

        with Receiver(respond=hang) as receiver:
            enqueue(engine, receiver.url)
            sender = threading.Thread(target=worker.run_once, kwargs={"engine": engine})
            sender.start()
            receiver.wait_for(1)
            with session_scope(engine) as session:
                event = create_scheduled_event(session)
                event_id, starts_at = event.id, event.starts_at
            reports = launches_service.run_due(engine=engine, now=starts_at)
            assert ("launch", "done") in [
                (r.action, r.outcome) for r in reports if r.event_id == event_id
            ]
            assert sender.is_alive()  # the delivery is still waiting on the receiver
            release.set()
            sender.join(10)
