"""Two planners publishing at once, through two real servers sharing one
database: the event never ends up with two published allocations."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlmodel import Session, col, select

from app import auth
from app.db import build_engine
from app.slots.models import AllocationRun
from tests.factories import create_event
from tests.live import LiveServer
from tests.slots.factories import (
    DAY1,
    create_application,
    create_merchant,
    create_slot_plan,
    create_slot_type,
)

pytestmark = pytest.mark.slow


def seed(url: str) -> tuple[int, str]:
    engine = build_engine(url)
    with Session(engine) as session:
        event = create_event(session)
        slot_type = create_slot_type(session, capacity=1)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type)
        for score in (5, 9):
            merchant = create_merchant(session)
            create_application(session, event_id=event.id, merchant=merchant,
                               slot_type=slot_type, score=score, windows=[DAY1])  # fmt: skip
        _key, raw = auth.create_key(session, name="planner", role="planner")
        session.commit()
        event_id = event.id
    engine.dispose()
    return event_id, raw


def published_runs(url: str, event_id: int) -> list[AllocationRun]:
    engine = build_engine(url)
    with Session(engine) as session:
        rows = session.exec(
            select(AllocationRun)
            .where(AllocationRun.event_id == event_id)
            .where(col(AllocationRun.status) == "published")
        ).all()
    engine.dispose()
    return list(rows)


def race(urls: list[str], headers: dict[str, str]) -> list[int]:
    """POST to every url at the same moment; the status codes."""
    barrier = threading.Barrier(len(urls))
    statuses: list[int] = []

    def publish(url: str) -> None:
        barrier.wait()
        statuses.append(httpx.post(url, headers=headers, timeout=60).status_code)

    threads = [threading.Thread(target=publish, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


class TestConcurrentPublish:
    def test_two_planners_publishing_at_once_leave_one_published_run(self, live_db: str):
        event_id, key = seed(live_db)
        headers = {"Authorization": f"Bearer {key}"}
        with LiveServer(live_db) as one, LiveServer(live_db) as two:
            runs_url = f"/api/v1/events/{event_id}/allocation-runs"
            run_ids = [
                httpx.post(server.base_url + runs_url, headers=headers, timeout=60).json()["id"]
                for server in (one, two)
            ]
            for _round in range(3):
                statuses = race(
                    [
                        f"{server.base_url}{runs_url}/{run_id}/publish"
                        for server, run_id in [(one, run_ids[0]), (two, run_ids[1])] * 3
                    ],
                    headers,
                )
                assert set(statuses) <= {200, 409}, statuses
                assert 200 in statuses
                assert len(published_runs(live_db, event_id)) == 1
                run_ids.reverse()
            listed = httpx.get(one.base_url + runs_url, headers=headers, timeout=30).json()
            assert sorted(r["status"] for r in listed["items"]).count("published") == 1
