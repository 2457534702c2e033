"""Races on committed data, on a database of the test's own."""

from __future__ import annotations

import threading

from sqlalchemy.orm.exc import StaleDataError
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

    def test_a_shift_racing_task_edits_never_deadlocks(self, live_db: str):
        """A shift writes the event and then its tasks; a task PATCH writes a
        task and then checks its event. Whatever else counts changes (the feeds'
        triggers) must not turn that into a deadlock: each round ends with both
        applied, or one refused as a stale write, never a database error."""
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                event = create_event(session)
                tasks = [create_task(session, event=event) for _ in range(3)]
                event_id, task_ids = event.id, [t.id for t in tasks]
            outcomes: list[str] = []
            barrier = threading.Barrier(2)

            def attempt(name: str, write) -> None:
                try:
                    with session_scope(engine) as session:
                        write(session)
                    outcomes.append(f"{name} ok")
                except (Problem, StaleDataError):
                    outcomes.append(f"{name} refused")
                except Exception as exc:  # the failure this test exists for
                    outcomes.append(f"{name} {type(getattr(exc, 'orig', exc)).__name__}")

            def shifter() -> None:
                for round_ in range(12):
                    barrier.wait()
                    by = "P1D" if round_ % 2 == 0 else "-P1D"
                    attempt(
                        "shift",
                        lambda s, by=by: calendar_service.shift(
                            s, event_id=event_id, by=by, actor="test"
                        ),
                    )

            def patcher() -> None:
                for round_ in range(12):
                    barrier.wait()
                    attempt(
                        "patch",
                        lambda s, round_=round_: calendar_service.update_task(
                            s,
                            event_id=event_id,
                            task_id=task_ids[-1],
                            data=TaskUpdate(progress=round_ * 5),
                            if_match=None,
                            actor="test",
                        ),
                    )

            threads = [threading.Thread(target=shifter), threading.Thread(target=patcher)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            failures = [o for o in outcomes if not o.endswith((" ok", " refused"))]
            assert not failures, outcomes
            assert len(outcomes) == 24 and "shift ok" in outcomes
        finally:
            engine.dispose()
