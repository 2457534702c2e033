"""Polls answered from the remembered snapshot still see every change.

A poll of an unchanged feed is answered from a snapshot remembered against
the plan's change count, which triggers keep (migration 0006). So every way
of changing the plan, through any domain's API or straight SQL, must move
that count and so the ETag; and time alone must still retire a cancelled
event's items. Each test polls twice first, so that the second poll is a
304 served from the remembered snapshot, then changes one thing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.calendar import service as calendar_service
from app.calendar.models import Task
from app.feeds import repository, service
from app.types import utcnow
from tests.factories import create_event, create_task
from tests.feeds.factories import create_feed, create_milestone
from tests.feeds.parsers import content_lines, with_icalendar
from tests.launches.factories import create_scheduled_event

EVERYTHING = {"include": ["phases", "milestones", "tasks"]}


def poll(client: TestClient, token: str, etag: str | None = None):
    headers = {"If-None-Match": etag} if etag else {}
    return client.get(f"/feeds/{token}.ics", headers=headers)


def remembered_etag(client: TestClient, token: str) -> str:
    """The feed's ETag, after a poll that was answered from memory."""
    first = poll(client, token)
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    assert poll(client, token, etag).status_code == 304
    return etag


def assert_changed(client: TestClient, token: str, etag: str) -> dict[str, Any]:
    """The feed's items by UID, after checking that the poll saw a change."""
    return with_icalendar(changed_body(client, token, etag))


def changed_body(client: TestClient, token: str, etag: str) -> bytes:
    after = poll(client, token, etag)
    assert after.status_code == 200, "the poll after a change was a 304"
    assert after.headers["ETag"] != etag
    return after.content


def description_heads(body: bytes) -> list[str]:
    """The first line of each DESCRIPTION: `<event name> (<status>)`."""
    return [
        line.removeprefix("DESCRIPTION:").split("\\n")[0]
        for line in content_lines(body)
        if line.startswith("DESCRIPTION:")
    ]


class TestEveryChangeReachesTheEtag:
    def test_renaming_a_task_through_the_api(self, client, planner, session):
        event = create_event(session)
        task = create_task(session, event=event, kind="task")
        _, token = create_feed(session, filter=EVERYTHING)
        etag = remembered_etag(client, token)
        response = client.patch(
            f"/api/v1/events/{event.id}/tasks/{task.id}", json={"name": "新名字"}, headers=planner
        )
        assert response.status_code == 200, response.text
        assert "新名字" in assert_changed(client, token, etag)[task.uid].summary

    def test_adding_a_task_through_the_api(self, client, planner, session):
        event = create_event(session)
        _, token = create_feed(session, filter=EVERYTHING)
        etag = remembered_etag(client, token)
        response = client.post(
            f"/api/v1/events/{event.id}/tasks",
            json={"name": "Banner", "kind": "milestone", "starts_at": "2027-11-01T10:00:00"},
            headers=planner,
        )
        assert response.status_code == 201, response.text
        assert response.json()["uid"] in assert_changed(client, token, etag)

    def test_deleting_a_task_through_the_api(self, client, planner, session):
        event = create_event(session)
        doomed = create_milestone(session, event=event)
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        response = client.delete(f"/api/v1/events/{event.id}/tasks/{doomed.id}", headers=planner)
        assert response.status_code == 204, response.text
        assert doomed.uid not in assert_changed(client, token, etag)

    def test_renaming_the_event_through_the_api(self, client, planner, session):
        event = create_event(session)
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        response = client.patch(
            f"/api/v1/events/{event.id}", json={"name": "双十二"}, headers=planner
        )
        assert response.status_code == 200, response.text
        assert "双十二" in assert_changed(client, token, etag)[milestone.uid].summary

    def test_shifting_the_event_through_the_api(self, client, planner, session):
        event = create_event(session)
        milestone = create_milestone(session, event=event)
        starts_at = milestone.starts_at
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        response = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "P1D"}, headers=planner
        )
        assert response.status_code == 200, response.text
        seen = assert_changed(client, token, etag)[milestone.uid]
        assert seen.start == starts_at + timedelta(days=1)

    def test_cancelling_the_event_through_the_api(self, client, planner, session):
        event = create_event(session, status="scheduled")
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        response = client.post(f"/api/v1/events/{event.id}/cancel", headers=planner)
        assert response.status_code == 200, response.text
        assert assert_changed(client, token, etag)[milestone.uid].status == "CANCELLED"

    def test_deleting_a_draft_event_through_the_api(self, client, planner, session):
        event = create_event(session, status="draft")
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        response = client.delete(f"/api/v1/events/{event.id}", headers=planner)
        assert response.status_code == 204, response.text
        assert milestone.uid not in assert_changed(client, token, etag)

    def test_a_launch_by_the_launches_domain(self, client, planner, session):
        event = create_scheduled_event(session)
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session)
        before = with_icalendar(poll(client, token).content)[milestone.uid]
        etag = remembered_etag(client, token)
        response = client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        assert response.status_code == 200, response.text
        assert response.json()["event_status"] == "live"
        body = changed_body(client, token, etag)
        assert any(line.endswith("(live)") for line in description_heads(body))
        # Scheduled and live rank alike: the new status shows, the times stay.
        assert with_icalendar(body)[milestone.uid] == before

    def test_a_bulk_update_that_bypasses_the_orm(self, client, session):
        # As every writer must, it moves the version (compare-and-set does).
        event = create_event(session)
        milestone = create_milestone(session, event=event, team="design")
        _, token = create_feed(session)
        etag = remembered_etag(client, token)
        session.execute(
            update(Task)
            .where(col(Task.event_id) == event.id)
            .values(name="renamed in SQL", version=col(Task.version) + 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        assert "renamed in SQL" in assert_changed(client, token, etag)[milestone.uid].summary

    def test_a_change_to_another_event_leaves_a_filtered_feed_alone(self, client, planner, session):
        watched = create_event(session)
        other = create_event(session)
        create_milestone(session, event=watched)
        noisy = create_milestone(session, event=other)
        _, token = create_feed(session, filter={"event_ids": [watched.id]})
        etag = remembered_etag(client, token)
        response = client.patch(
            f"/api/v1/events/{other.id}/tasks/{noisy.id}", json={"name": "x"}, headers=planner
        )
        assert response.status_code == 200, response.text
        assert poll(client, token, etag).status_code == 304


class TestTimeAloneRetiresCancelledItems:
    def test_the_remembered_snapshot_ends_with_the_grace_period(self, session):
        event = create_event(session, status="scheduled")
        create_milestone(session, event=event)
        feed, _token = create_feed(session)
        now = utcnow()
        assert calendar_service.transition_status(
            session, event_id=event.id, expected={"scheduled"}, new="cancelled", at=now
        )
        session.commit()
        during = service.snapshot(session, feed=feed, now=now + timedelta(days=29))
        assert [e.id for e in during.events] == [event.id]
        assert service.snapshot(session, feed=feed, now=now + timedelta(days=29)) is during
        after = service.snapshot(session, feed=feed, now=now + timedelta(days=31))
        assert after.events == ()
        assert after.etag != during.etag


class TestPlanChangeCount:
    """The triggers of migration 0006, on each table and operation."""

    def counts(self, session: Session, *event_ids: int) -> list[int]:
        return [repository.plan_changes(session, [event_id]) for event_id in event_ids]

    def test_every_write_counts_for_its_own_event_only(self, session):
        event, other = create_event(session), create_event(session)
        counts = self.counts(session, event.id, other.id)
        assert counts[0] > 0  # the event and its phases, inserted

        task = create_task(session, event=event)
        after_insert = self.counts(session, event.id, other.id)
        assert after_insert[0] > counts[0] and after_insert[1] == counts[1]

        task.name = "renamed"
        session.add(task)
        session.flush()
        after_update = self.counts(session, event.id, other.id)
        assert after_update[0] > after_insert[0] and after_update[1] == counts[1]

        phase = calendar_service.list_phases(session, event_id=event.id)[0]
        session.delete(phase)
        session.flush()
        after_delete = self.counts(session, event.id, other.id)
        assert after_delete[0] > after_update[0] and after_delete[1] == counts[1]

    def test_moving_a_task_counts_for_both_events(self, session):
        event, other = create_event(session), create_event(session)
        task = create_task(session, event=event)
        before = self.counts(session, event.id, other.id)
        session.execute(
            update(Task)
            .where(col(Task.id) == task.id)
            .values(event_id=other.id)
            .execution_options(synchronize_session=False)
        )
        after = self.counts(session, event.id, other.id)
        assert after[0] > before[0] and after[1] > before[1]

    def test_a_deleted_event_keeps_its_count_so_sums_never_shrink(self, session):
        event = create_event(session)
        create_task(session, event=event)
        every_event = repository.plan_changes(session, None)
        before = self.counts(session, event.id)[0]
        session.delete(event)
        session.flush()
        assert self.counts(session, event.id)[0] > before
        assert repository.plan_changes(session, None) > every_event
