"""Retention: expired Idempotency-Key records and inbound webhook receipts
are forgotten at once and purged in batches, by the clock and by the CLI."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import Session, col, select

from app import idempotency
from app.config import Settings
from app.db import delete_older_than
from app.idempotency import IdempotencyRecord, purge_expired
from app.launches import clock
from app.types import utcnow
from app.webhooks import service as webhooks_service
from app.webhooks.models import InboundReceipt, WebhookEndpoint
from tests.problems import assert_problem

EVENTS = "/api/v1/events"
# The defaults: PROMOPLAN_IDEMPOTENCY_RETENTION_HOURS=24, ..._WEBHOOK_RECEIPT_RETENTION_HOURS=72.
KEY_RETENTION = timedelta(hours=24)
RECEIPT_RETENTION = timedelta(hours=72)


def event_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "starts_at": "2027-10-21T00:00:00",
        "ends_at": "2027-11-14T00:00:00",
        "timezone": "Asia/Shanghai",
    }


def age_key(session: Session, key: str, age: timedelta) -> None:
    session.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.key) == key)
        .values(created_at=utcnow() - age)
    )
    session.commit()


def records_of(session: Session, key: str) -> list[IdempotencyRecord]:
    session.expire_all()
    return list(session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key)))


def add_records(session: Session, *ages: timedelta) -> list[int]:
    now = utcnow()
    records = [
        IdempotencyRecord(
            scope="key:0",
            key=f"aged-{n}",
            method="POST",
            path="/api/v1/events",
            request_hash="0" * 64,
            status_code=201,
            response_body={},
            created_at=now - age,
        )
        for n, age in enumerate(ages)
    ]
    session.add_all(records)
    session.commit()
    return [record.id for record in records if record.id is not None]


def remaining_records(session: Session) -> set[str]:
    return set(session.exec(select(IdempotencyRecord.key)))


class TestIdempotencyKeyExpiry:
    def test_an_expired_key_is_a_new_request_even_before_a_purge(
        self, client: TestClient, planner, session: Session
    ):
        headers = {**planner, "Idempotency-Key": "reused"}
        first = client.post(EVENTS, json=event_body("Double 11"), headers=headers)
        assert first.status_code == 201, first.text
        age_key(session, "reused", KEY_RETENTION + timedelta(minutes=1))

        again = client.post(EVENTS, json=event_body("Double 12"), headers=headers)

        assert again.status_code == 201, again.text
        assert "idempotent-replayed" not in again.headers
        assert again.json()["name"] == "Double 12"
        assert again.json()["id"] != first.json()["id"]
        # The key now belongs to the new request: it replays that one.
        replay = client.post(EVENTS, json=event_body("Double 12"), headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == again.json()
        assert len(records_of(session, "reused")) == 1

    def test_a_key_within_the_retention_still_replays(
        self, client: TestClient, planner, session: Session
    ):
        headers = {**planner, "Idempotency-Key": "fresh"}
        first = client.post(EVENTS, json=event_body("Double 11"), headers=headers)
        age_key(session, "fresh", KEY_RETENTION - timedelta(minutes=1))

        replay = client.post(EVENTS, json=event_body("Double 11"), headers=headers)
        other = client.post(EVENTS, json=event_body("Double 12"), headers=headers)

        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == first.json()
        assert_problem(other, 422)

    def test_the_retention_is_a_setting(
        self, client: TestClient, planner, session: Session, monkeypatch: pytest.MonkeyPatch
    ):
        headers = {**planner, "Idempotency-Key": "short"}
        client.post(EVENTS, json=event_body("Double 11"), headers=headers)
        age_key(session, "short", timedelta(hours=2))
        monkeypatch.setattr(idempotency.get_settings(), "idempotency_retention_hours", 1)

        again = client.post(EVENTS, json=event_body("Double 12"), headers=headers)

        assert again.status_code == 201 and again.json()["name"] == "Double 12"


class TestPurge:
    def test_expired_records_are_purged_and_younger_ones_kept(self, session: Session):
        add_records(
            session,
            KEY_RETENTION + timedelta(minutes=1),
            timedelta(days=30),
            KEY_RETENTION - timedelta(minutes=1),
            timedelta(0),
        )

        assert purge_expired(session) == 2
        assert remaining_records(session) == {"aged-2", "aged-3"}
        assert purge_expired(session) == 0

    def test_a_backlog_is_deleted_in_batches(self, session: Session):
        add_records(session, *[timedelta(days=n + 2) for n in range(5)], timedelta(0))
        cutoff = utcnow() - KEY_RETENTION

        purged = delete_older_than(session, col(IdempotencyRecord.created_at), cutoff, batch_size=2)

        assert purged == 5
        assert remaining_records(session) == {"aged-5"}

    def test_expired_receipts_are_purged_and_younger_ones_kept(self, session: Session):
        endpoint = WebhookEndpoint(name="erp", secret="whsec_" + "a" * 32)
        session.add(endpoint)
        session.flush()
        assert endpoint.id is not None
        now = utcnow()
        for webhook_id, age in [
            ("msg_old", RECEIPT_RETENTION + timedelta(minutes=1)),
            ("msg_new", RECEIPT_RETENTION - timedelta(minutes=1)),
        ]:
            session.add(
                InboundReceipt(
                    endpoint_id=endpoint.id,
                    webhook_id=webhook_id,
                    type="event.launch",
                    status_code=200,
                    received_at=now - age,
                )
            )
        session.commit()

        assert webhooks_service.purge_receipts(session) == 1
        left = session.exec(select(InboundReceipt.webhook_id)).all()
        assert left == ["msg_new"]
        assert (
            webhooks_service.find_receipt(session, endpoint_id=endpoint.id, webhook_id="msg_old")
            is None
        )


class TestSettings:
    def test_receipts_must_outlive_a_replayable_timestamp(self):
        with pytest.raises(ValidationError, match="webhook_receipt_retention_hours"):
            Settings(webhook_receipt_retention_hours=1, webhook_tolerance_seconds=1800)
        assert Settings(webhook_receipt_retention_hours=1, webhook_tolerance_seconds=1799)


class TestClockPurge:
    def test_the_clock_purges_hourly_one_at_a_time(self, engine, monkeypatch):
        ticking = clock.Clock(engine=engine)
        monkeypatch.setattr(ticking.scheduler, "start", lambda: None)
        ticking.start()
        try:
            job = ticking.scheduler.get_job("purge")
        finally:
            ticking.stop()
        assert job is not None and job.func == ticking.purge
        assert job.trigger.interval == timedelta(hours=1)
        assert job.coalesce is True and job.max_instances == 1

    def test_a_failing_purge_is_logged_and_does_not_raise(self, monkeypatch, caplog):
        def broken(_engine: object = None) -> dict[str, int]:
            raise RuntimeError("database gone")

        monkeypatch.setattr(clock, "purge_expired", broken)
        with caplog.at_level(logging.ERROR, logger="promoplan.launches.clock"):
            clock.Clock().purge()
        assert "purge failed" in caplog.text and "database gone" in caplog.text
