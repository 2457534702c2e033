"""The year view: events with phases and milestones, and their conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.calendar.test_events import locs, problem
from tests.factories import create_event, create_task

CALENDAR = "/api/v1/calendar"


class TestYearView:
    def test_events_come_with_phases_milestones_and_peak_conflicts(
        self, client: TestClient, viewer, session: Session
    ):
        base = datetime(2033, 11, 9, 16, tzinfo=UTC)
        first = create_event(session, starts_at=base)
        overlapping = create_event(session, starts_at=base + timedelta(hours=12))
        apart = create_event(session, starts_at=base + timedelta(days=30))
        cancelled = create_event(session, starts_at=base, status="cancelled")
        milestone = create_task(
            session,
            event=first,
            kind="milestone",
            team="design",
            ends_at=base - timedelta(days=3),
            starts_at=base - timedelta(days=3),
        )
        view = client.get(
            CALENDAR, params={"from": "2033-01-01", "to": "2034-01-01"}, headers=viewer
        ).json()
        assert view["from"] == "2033-01-01T00:00:00Z"
        ids = [e["id"] for e in view["events"]]
        assert ids == [first.id, cancelled.id, overlapping.id, apart.id]
        entry = view["events"][0]
        assert [m["id"] for m in entry["milestones"]] == [milestone.id]
        assert len(entry["phases"]) == 3
        (conflict,) = view["conflicts"]
        assert conflict["kind"] == "peak_overlap"
        assert conflict["event_ids"] == [first.id, overlapping.id]
        assert conflict["starts_at"] == "2033-11-11T04:00:00Z"

    def test_a_team_with_too_many_milestones_on_one_day_is_a_conflict(
        self, client: TestClient, viewer, session: Session
    ):
        base = datetime(2034, 6, 17, 16, tzinfo=UTC)
        a = create_event(session, starts_at=base)
        b = create_event(session, starts_at=base + timedelta(days=60))
        due = base - timedelta(days=20)  # 2034-05-29 00:00 in Shanghai
        made = [
            create_task(
                session,
                event=event,
                kind="milestone",
                team="content",
                starts_at=due + timedelta(hours=h),
                ends_at=due + timedelta(hours=h),
            )
            for event, h in ((a, 1), (a, 2), (b, 3), (b, 4))
        ]
        view = client.get(
            CALENDAR, params={"from": "2034-01-01", "to": "2035-01-01"}, headers=viewer
        ).json()
        (overload,) = [c for c in view["conflicts"] if c["kind"] == "team_overload"]
        assert overload["team"] == "content" and overload["day"] == "2034-05-29"
        assert overload["count"] == 4 and overload["limit"] == 3
        assert overload["task_ids"] == sorted(t.id for t in made)
        assert overload["event_ids"] == sorted([a.id, b.id])

    def test_a_bad_range_is_a_422(self, client: TestClient, viewer):
        body = problem(
            client.get(CALENDAR, params={"from": "2030-01-01", "to": "2040-01-01"}, headers=viewer),
            422,
        )
        assert locs(body) == [["query", "to"]]
        problem(client.get(CALENDAR, params={"from": "someday"}, headers=viewer), 422)

    def test_without_a_range_it_shows_a_year(self, client: TestClient, viewer):
        view = client.get(CALENDAR, params={"from": "2032-02-29"}, headers=viewer).json()
        assert view["to"] == "2033-03-01T00:00:00Z"
