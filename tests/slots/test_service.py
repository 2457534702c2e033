"""The slots domain's contract with launches: the readiness gate and
putting the published allocation live / releasing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from app.auth import SYSTEM
from app.slots import service
from tests.factories import create_event
from tests.slots.factories import (
    create_application,
    create_merchant,
    create_slot_plan,
    create_slot_type,
)

AT = datetime(2027, 11, 9, 16, tzinfo=UTC)


def event_with_plan(session: Session):
    event = create_event(session)
    slot_type = create_slot_type(session)
    create_slot_plan(session, event_id=event.id, slot_type=slot_type)
    create_application(session, event_id=event.id, merchant=create_merchant(session),
                       slot_type=slot_type)  # fmt: skip
    return event


def published(session: Session, event_id: int):
    run = service.create_run(session, event_id=event_id, time_limit=10, actor=SYSTEM)
    return service.publish_run(session, event_id=event_id, run_id=run.id, actor=SYSTEM)


class TestLaunchGate:
    def test_an_event_without_slot_plans_passes_and_the_gate_does_not_apply(self, session):
        gate = service.launch_gate(session, event_id=create_event(session).id)
        assert (gate.gate, gate.passed, gate.applies) == ("allocation", True, False)

    def test_slot_plans_without_a_published_run_block_the_launch(self, session):
        event = event_with_plan(session)
        service.create_run(session, event_id=event.id, time_limit=10, actor=SYSTEM)
        gate = service.launch_gate(session, event_id=event.id)
        assert (gate.passed, gate.applies) == (False, True)
        assert "no published allocation" in gate.detail

    def test_a_published_run_passes(self, session):
        event = event_with_plan(session)
        run = published(session, event.id)
        gate = service.launch_gate(session, event_id=event.id)
        assert (gate.passed, gate.applies) == (True, True)
        assert f"run {run.id}" in gate.detail


class TestSetLive:
    def test_launch_marks_the_published_run_live_once(self, session):
        event = event_with_plan(session)
        run = published(session, event.id)
        service.set_live(session, event_id=event.id, live=True, at=AT)
        service.set_live(session, event_id=event.id, live=True, at=AT + timedelta(hours=1))
        session.refresh(run)
        assert run.live_at == AT and run.released_at is None

    def test_teardown_releases_it_once(self, session):
        event = event_with_plan(session)
        run = published(session, event.id)
        service.set_live(session, event_id=event.id, live=True, at=AT)
        end = AT + timedelta(days=3)
        service.set_live(session, event_id=event.id, live=False, at=end)
        service.set_live(session, event_id=event.id, live=False, at=end + timedelta(hours=1))
        session.refresh(run)
        assert (run.live_at, run.released_at) == (AT, end)

    def test_without_a_published_run_it_does_nothing(self, session):
        event = event_with_plan(session)
        service.set_live(session, event_id=event.id, live=True, at=AT)
        service.set_live(session, event_id=event.id, live=False, at=AT)

    def test_republishing_resets_the_live_stamps_of_the_new_run_only(self, session):
        event = event_with_plan(session)
        first = published(session, event.id)
        service.set_live(session, event_id=event.id, live=True, at=AT)
        second = published(session, event.id)
        session.refresh(first)
        assert first.status == "superseded" and first.live_at == AT
        assert second.live_at is None

    def test_a_run_published_while_the_event_is_live_goes_live_at_once(self, session):
        event = event_with_plan(session)
        event.status = "live"
        session.add(event)
        session.flush()
        run = published(session, event.id)
        assert run.live_at is not None and run.released_at is None
