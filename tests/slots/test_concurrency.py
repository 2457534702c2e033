"""Races on committed data, on a database of the test's own: two planners
publishing at once through two real servers never leave two published
allocations, and two locks made at once never overfill a window."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlmodel import Session, col, select

from app import auth
from app.db import build_engine, session_scope
from app.slots import service
from app.slots.errors import LockConflict
from app.slots.models import AllocationRun, SlotLock
from app.slots.schemas import LockCreate
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


def seed(url: str) -> tuple[int, str, list[int]]:
    """An event with a capacity-1 window and two applications for it."""
    engine = build_engine(url)
    with Session(engine) as session:
        event = create_event(session)
        slot_type = create_slot_type(session, capacity=1)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type)
        application_ids = []
        for score in (5, 9):
            merchant = create_merchant(session)
            application = create_application(
                session, event_id=event.id, merchant=merchant, slot_type=slot_type,
                score=score, windows=[DAY1],
            )  # fmt: skip
            application_ids.append(application.id)
        _key, raw = auth.create_key(session, name="planner", role="planner")
        session.commit()
        event_id = event.id
    engine.dispose()
    return event_id, raw, application_ids


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
        event_id, key, _applications = seed(live_db)
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


PLANNER = auth.Principal(key_id=1, name="planner", role="planner")


class TestConcurrentLocks:
    def test_two_locks_at_once_in_a_capacity_1_window_leave_one(self, live_db: str):
        """The first lock's transaction stays open until the second request
        has finished or has waited a while: without serialising, the second
        reads no lock (the first is not committed) and both land."""
        event_id, _key, application_ids = seed(live_db)
        engine = build_engine(live_db)
        first_locked, second_done = threading.Event(), threading.Event()
        outcomes: dict[int, str] = {}

        def lock(application_id: int) -> None:
            try:
                with session_scope(engine) as session:
                    service.create_lock(
                        session,
                        event_id=event_id,
                        data=LockCreate(application_id=application_id, window=DAY1),
                        actor=PLANNER,
                    )
                    if application_id == application_ids[0]:
                        first_locked.set()
                        # With the fix the second request waits for this
                        # commit, so do not wait for it forever.
                        second_done.wait(timeout=3)
                outcomes[application_id] = "locked"
            except LockConflict as exc:
                outcomes[application_id] = f"{exc.status} {exc.slug}"
            finally:
                if application_id == application_ids[1]:
                    second_done.set()
                first_locked.set()

        def second() -> None:
            first_locked.wait()
            lock(application_ids[1])

        try:
            threads = [
                threading.Thread(target=lock, args=(application_ids[0],)),
                threading.Thread(target=second),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with Session(engine) as session:
                locks = session.exec(select(SlotLock).where(SlotLock.event_id == event_id)).all()
        finally:
            engine.dispose()
        assert outcomes == {application_ids[0]: "locked", application_ids[1]: "409 lock-conflict"}
        assert [lock.application_id for lock in locks] == [application_ids[0]]
