"""The calendar's contract with other domains."""

from __future__ import annotations

from sqlmodel import Session

from app.calendar import service as calendar_service
from app.types import utcnow
from tests.factories import create_event


class TestTransitionStatus:
    def test_moves_only_from_an_expected_status(self, session: Session):
        event = create_event(session, status="scheduled")
        before = event.version
        assert calendar_service.transition_status(
            session, event_id=event.id, expected={"scheduled"}, new="live", at=utcnow()
        )
        assert event.status == "live" and event.launched_at is not None
        assert event.version == before + 1
        assert not calendar_service.transition_status(
            session, event_id=event.id, expected={"scheduled"}, new="live", at=utcnow()
        )

    def test_phases_come_in_time_order(self, session: Session):
        event = create_event(session)
        keys = [p.key for p in calendar_service.list_phases(session, event_id=event.id)]
        assert keys == ["presale", "peak", "encore"]
