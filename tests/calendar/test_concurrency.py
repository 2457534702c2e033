"""Races on committed data, on a database of the test's own."""

from __future__ import annotations

import threading

from sqlmodel import Session

from app.calendar import service as calendar_service
from app.calendar.schemas import DependencyIn, TaskUpdate
from app.db import build_engine, session_scope
from app.errors import Problem
from app.types import utcnow
from tests.factories import create_event, create_task


class TestRaces:
    def test_two_transitions_from_the_same_status_cannot_both_win(self, live_db: str):
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                event_id = create_event(session).id
            results: list[bool] = []
            barrier = threading.Barrier(2)

            def schedule() -> None:
                with session_scope(engine) as session:
                    barrier.wait()
                    results.append(
                        calendar_service.transition_status(
                            session,
                            event_id=event_id,
                            expected={"draft"},
                            new="scheduled",
                            at=utcnow(),
                        )
                    )

            threads = [threading.Thread(target=schedule) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(results) == [False, True]
        finally:
            engine.dispose()

    def test_two_halves_of_a_cycle_sent_together_do_not_both_land(self, live_db: str):
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                event = create_event(session)
                a, b = create_task(session, event=event), create_task(session, event=event)
                event_id, ids = event.id, (a.id, b.id)
            outcomes: list[str] = []
            barrier = threading.Barrier(2)

            def link(task_id: int, on: int) -> None:
                try:
                    with session_scope(engine) as session:
                        barrier.wait()
                        calendar_service.update_task(
                            session,
                            event_id=event_id,
                            task_id=task_id,
                            data=TaskUpdate(depends_on=[DependencyIn(task_id=on)]),
                            if_match=None,
                            actor="test",
                        )
                    outcomes.append("linked")
                except Problem as problem:
                    outcomes.append(problem.slug)

            threads = [
                threading.Thread(target=link, args=ids),
                threading.Thread(target=link, args=ids[::-1]),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(outcomes) == ["dependency-cycle", "linked"]
            with Session(engine) as session:
                calendar_service.gantt(session, event_id=event_id)  # no cycle stored
        finally:
            engine.dispose()
