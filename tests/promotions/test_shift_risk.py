"""A shifted event's promotions face the risk floor again: the shift stands
(it is the calendar's move, and the launch's risk gate still stops the
stack), and each of them that now breaks the floor is put on record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.promotions import service
from tests.factories import create_event
from tests.promotions.factories import create_promotion

EVENT_STARTS = datetime(2027, 11, 9, 16, tzinfo=UTC)  # three days, see create_event
FLOOR_BROKEN = "promotion.risk_floor_broken"


def _trail(client: TestClient, admin: dict, promotion_id: int) -> list[dict]:
    answer = client.get(
        "/api/v1/audit",
        params={"resource_type": "promotion", "resource_id": promotion_id},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def _shift(client: TestClient, planner: dict, event_id: int, by: str) -> None:
    shifted = client.post(f"/api/v1/events/{event_id}/shift", json={"by": by}, headers=planner)
    assert shifted.status_code == 200, shifted.text


class TestAShiftChecksTheFloorAgain:
    def _setup(self, session: Session):
        """Half off inside the event, half off on the platform from ten days
        later: 75 % together, over the 70 % floor, but they never meet."""
        event = create_event(session)
        follows = create_promotion(
            session, event_id=event.id, params={"percent_bp": 5000}, force=False
        )
        windowed = create_promotion(
            session,
            event_id=event.id,
            level="store",
            params={"percent_bp": 1000},
            starts_at=EVENT_STARTS + timedelta(days=1),
            ends_at=EVENT_STARTS + timedelta(days=2),
            force=False,
        )
        outside = create_promotion(
            session,
            level="platform",
            params={"percent_bp": 5000},
            starts_at=EVENT_STARTS + timedelta(days=10),
            ends_at=EVENT_STARTS + timedelta(days=15),
            force=False,
        )
        session.commit()
        return event, follows, windowed, outside

    def test_a_shift_onto_a_deep_promotion_stands_and_each_breaking_one_is_recorded(
        self, client: TestClient, planner, admin, session: Session
    ):
        event, follows, windowed, outside = self._setup(session)
        _shift(client, planner, event.id, "P10D")
        # 50 % (item), then 10 % (store), then 50 % (platform) of what is left.
        stack = {
            "promotion_ids": [follows.id, windowed.id, outside.id],
            "category": "*",
            "sku": "*",
            "depth_bp": 7750,
        }
        (record,) = [r for r in _trail(client, admin, follows.id) if r["action"] == FLOOR_BROKEN]
        assert record["after"]["combination"] == stack
        assert record["after"]["floor_bp"] == 7000 and record["after"]["event_id"] == event.id
        assert f"after event {event.id}" in record["after"]["detail"]
        # The promotion with its own window moved with the event, into the
        # platform promotion's days too.
        (moved,) = [r for r in _trail(client, admin, windowed.id) if r["action"] == FLOOR_BROKEN]
        assert moved["after"]["combination"] == stack
        # The promotion outside the event did not move: the stack is recorded
        # once, on the event's side, naming it.
        assert not [r for r in _trail(client, admin, outside.id) if r["action"] == FLOOR_BROKEN]
        assert service.risk(session, promotion_id=follows.id).breaks
        assert not service.launch_gate(session, event_id=event.id).passed

    def test_a_shift_that_meets_nothing_deep_records_nothing(
        self, client: TestClient, planner, admin, session: Session
    ):
        event, follows, windowed, _outside = self._setup(session)
        _shift(client, planner, event.id, "P2D")
        for promotion in (follows, windowed):
            assert FLOOR_BROKEN not in [r["action"] for r in _trail(client, admin, promotion.id)]
        assert service.launch_gate(session, event_id=event.id).passed
