"""Tasks, milestones and dependencies over HTTP, the Gantt view and
forward scheduling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.calendar import service as calendar_service
from tests.calendar.factories import create_dependency
from tests.calendar.test_events import locs, problem
from tests.factories import create_event, create_task


def tasks_url(event_id: int) -> str:
    return f"/api/v1/events/{event_id}/tasks"


def task_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Creative review",
        "starts_at": "2027-10-10T09:00:00",
        "ends_at": "2027-10-12T18:00:00",
        "team": "content",
    } | overrides


class TestCreateTask:
    def test_a_task_with_dependencies_in_the_event_zone(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        first = create_task(session, event=event)
        response = client.post(
            tasks_url(event.id),
            json=task_body(
                depends_on=[{"task_id": first.id, "type": "SS", "lag": "P1D"}],
                required=True,
                code="creative_review",
            ),
            headers=planner,
        )
        assert response.status_code == 201, response.text
        task = response.json()
        assert task["starts_at"] == "2027-10-10T09:00:00+08:00"
        assert task["depends_on"] == [
            {"task_id": first.id, "type": "SS", "lag": "P1D", "lag_seconds": 86400}
        ]
        assert task["required"] is True and task["progress"] == 0 and task["version"] == 1
        assert response.headers["etag"] == '"1"'

    def test_a_milestone_ends_when_it_starts(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        body = {"name": "Sign-up closes", "kind": "milestone", "starts_at": "2027-10-06T18:00:00"}
        task = client.post(tasks_url(event.id), json=body, headers=planner).json()
        assert task["ends_at"] == task["starts_at"] == "2027-10-06T18:00:00+08:00"

    @pytest.mark.parametrize(
        ("overrides", "loc", "words"),
        [
            ({"ends_at": None}, ["body", "ends_at"], "a task needs ends_at"),
            ({"ends_at": "2027-10-09T00:00:00"}, ["body", "ends_at"], "before starts_at"),
            ({"kind": "milestone"}, ["body", "ends_at"], "a milestone has no duration"),
            ({"kind": "epic"}, ["body", "kind"], ""),
            ({"progress": 101}, ["body", "progress"], ""),
            ({"progress": -1}, ["body", "progress"], ""),
            ({"name": ""}, ["body", "name"], ""),
            ({"code": "Not A Code"}, ["body", "code"], ""),
            ({"depends_on": [{"task_id": 1, "type": "XX"}]}, ["body", "depends_on", 0, "type"], ""),
            ({"depends_on": [{"task_id": 1, "lag": "soon"}]}, ["body", "depends_on", 0, "lag"], ""),
            ({"owner": "bob"}, ["body", "owner"], "unknown field"),
        ],
    )
    def test_each_bad_field_is_a_422_naming_it(
        self, client: TestClient, planner, session: Session, overrides, loc, words
    ):
        event = create_event(session)
        session.commit()
        body = problem(
            client.post(tasks_url(event.id), json=task_body(**overrides), headers=planner), 422
        )
        assert loc in locs(body)
        assert words in body["detail"]

    def test_a_dependency_on_a_task_of_another_event_is_named(
        self, client: TestClient, planner, session: Session
    ):
        event, other = create_event(session), create_event(session)
        foreign = create_task(session, event=other)
        mine = create_task(session, event=event)
        session.commit()
        deps = [{"task_id": mine.id}, {"task_id": foreign.id}, {"task_id": mine.id}]
        body = problem(
            client.post(tasks_url(event.id), json=task_body(depends_on=deps), headers=planner), 422
        )
        assert locs(body) == [
            ["body", "depends_on", 1, "task_id"],
            ["body", "depends_on", 2, "task_id"],
        ]
        assert f"has no task {foreign.id}" in body["detail"] and "twice" in body["detail"]

    def test_a_duplicate_code_is_a_409(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        create_task(session, event=event, code="launch")
        session.commit()
        body = problem(
            client.post(tasks_url(event.id), json=task_body(code="launch"), headers=planner), 409
        )
        assert "launch" in body["detail"]

    def test_a_task_of_an_unknown_event_is_a_404(self, client: TestClient, planner):
        problem(client.post(tasks_url(999999), json=task_body(), headers=planner), 404)

    def test_the_database_refuses_progress_over_100(self, session: Session):
        from sqlalchemy.exc import IntegrityError

        task = create_task(session, event=create_event(session))
        task.progress = 150
        with pytest.raises(IntegrityError), session.begin_nested():
            session.flush()


class TestUpdateTask:
    def test_moving_the_start_keeps_the_duration_and_bumps_the_version(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        task = create_task(session, event=event)  # one day long
        response = client.patch(
            f"{tasks_url(event.id)}/{task.id}",
            json={"starts_at": "2027-10-01T09:00:00", "progress": 40},
            headers={**planner, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["starts_at"], body["ends_at"]) == (
            "2027-10-01T09:00:00+08:00",
            "2027-10-02T09:00:00+08:00",
        )
        assert body["progress"] == 40 and body["version"] == 2

    def test_a_stale_version_is_412(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        task = create_task(session, event=event)
        problem(
            client.patch(
                f"{tasks_url(event.id)}/{task.id}",
                json={"progress": 5},
                headers={**planner, "If-Match": '"5"'},
            ),
            412,
        )

    def test_a_cycle_is_a_422_that_names_its_tasks(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        a = create_task(session, event=event, name="Sign-up")
        b = create_task(session, event=event, name="Allocation")
        c = create_task(session, event=event, name="Page build")
        create_dependency(session, task=b, on=a)
        create_dependency(session, task=c, on=b)
        session.commit()
        response = client.patch(
            f"{tasks_url(event.id)}/{a.id}",
            json={"depends_on": [{"task_id": c.id}]},
            headers=planner,
        )
        body = problem(response, 422)
        assert body["type"].endswith("dependency-cycle")
        assert sorted(item["id"] for item in body["cycle"]) == sorted([a.id, b.id, c.id])
        for name in ("Sign-up", "Allocation", "Page build"):
            assert name in body["detail"]
        assert (
            client.get(f"{tasks_url(event.id)}/{a.id}", headers=planner).json()["depends_on"] == []
        )

    def test_a_task_cannot_depend_on_itself(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        task = create_task(session, event=event)
        body = problem(
            client.patch(
                f"{tasks_url(event.id)}/{task.id}",
                json={"depends_on": [{"task_id": task.id}]},
                headers=planner,
            ),
            422,
        )
        assert locs(body) == [["body", "depends_on", 0, "task_id"]]

    def test_turning_a_task_into_a_milestone_drops_its_duration(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        task = create_task(session, event=event)
        body = client.patch(
            f"{tasks_url(event.id)}/{task.id}", json={"kind": "milestone"}, headers=planner
        ).json()
        assert body["kind"] == "milestone" and body["ends_at"] == body["starts_at"]


class TestDeleteTask:
    def test_a_task_others_depend_on_is_not_deleted_silently(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        a = create_task(session, event=event)
        b = create_task(session, event=event, name="Dependent")
        create_dependency(session, task=b, on=a)
        session.commit()
        body = problem(client.delete(f"{tasks_url(event.id)}/{a.id}", headers=planner), 409)
        assert body["dependents"] == [{"id": b.id, "name": "Dependent"}]
        assert "Dependent" in body["detail"]
        response = client.delete(
            f"{tasks_url(event.id)}/{a.id}", params={"detach": "true"}, headers=planner
        )
        assert response.status_code == 204
        left = client.get(f"{tasks_url(event.id)}/{b.id}", headers=planner).json()
        assert left["depends_on"] == [] and left["version"] == 2

    def test_a_task_of_another_event_is_a_404(self, client: TestClient, planner, session):
        event, other = create_event(session), create_event(session)
        task = create_task(session, event=other)
        problem(client.delete(f"{tasks_url(event.id)}/{task.id}", headers=planner), 404)


class TestListTasks:
    def test_tasks_come_in_start_order_page_by_page(
        self, client: TestClient, viewer, session: Session
    ):
        event = create_event(session)
        made = [
            create_task(session, event=event, starts_at=event.starts_at - timedelta(days=d))
            for d in (3, 9, 6)
        ]
        first = client.get(tasks_url(event.id), params={"limit": 2}, headers=viewer).json()
        second = client.get(
            tasks_url(event.id), params={"cursor": first["next"]}, headers=viewer
        ).json()
        ids = [t["id"] for t in first["items"] + second["items"]]
        assert ids == [made[1].id, made[2].id, made[0].id]


class TestGantt:
    def plan(self, session: Session):
        """Sign-up (2 days) → allocation (1 day) → page build (2 days), and
        creative (1 day, after sign-up) with a day of slack before page build."""
        event = create_event(session)
        day = timedelta(days=1)
        t0 = event.starts_at - 10 * day
        signup = create_task(
            session, event=event, name="signup", starts_at=t0, ends_at=t0 + 2 * day
        )
        alloc = create_task(
            session, event=event, name="alloc", starts_at=t0 + 2 * day, ends_at=t0 + 3 * day
        )
        creative = create_task(
            session, event=event, name="creative", starts_at=t0 + 2 * day, ends_at=t0 + 3 * day
        )
        build = create_task(
            session,
            event=event,
            name="build",
            starts_at=t0 + 3 * day,
            ends_at=t0 + 5 * day,
            progress=0,
        )
        create_dependency(session, task=alloc, on=signup)
        create_dependency(session, task=creative, on=signup)
        create_dependency(session, task=build, on=alloc)
        create_dependency(session, task=build, on=creative, type="SS", lag_seconds=0)
        return event, signup, alloc, creative, build

    def test_the_gantt_has_everything_a_chart_needs(
        self, client: TestClient, viewer, session: Session
    ):
        event, signup, alloc, creative, build = self.plan(session)
        response = client.get(f"/api/v1/events/{event.id}/gantt", headers=viewer)
        assert response.status_code == 200, response.text
        gantt = response.json()
        assert gantt["event"]["id"] == event.id and len(gantt["phases"]) == 3
        assert gantt["critical_path"] == [signup.id, alloc.id, build.id]
        rows = {t["id"]: t for t in gantt["tasks"]}
        assert rows[creative.id]["slack"] == "P1D" and not rows[creative.id]["critical"]
        assert rows[alloc.id]["slack"] == "PT0S" and rows[alloc.id]["critical"]
        assert rows[build.id]["early_start"] == rows[build.id]["starts_at"]
        assert rows[build.id]["late_finish"] == gantt["finish"]
        assert gantt["violations"] == []

    def test_a_broken_dependency_is_reported(self, client: TestClient, planner, session: Session):
        event, signup, alloc, _creative, _build = self.plan(session)
        session.commit()
        client.patch(
            f"{tasks_url(event.id)}/{alloc.id}",
            json={"starts_at": signup.starts_at.isoformat()},
            headers=planner,
        )
        gantt = client.get(f"/api/v1/events/{event.id}/gantt", headers=planner).json()
        (broken,) = gantt["violations"]
        assert (broken["task_id"], broken["depends_on"], broken["type"]) == (
            alloc.id,
            signup.id,
            "FS",
        )
        assert broken["by"] == "P2D" and broken["constrained"] == "start"
        assert "alloc" in broken["detail"]

    def test_an_unfinished_task_past_its_end_is_overdue(self, session: Session):
        from datetime import UTC, datetime

        event = create_event(session)
        task = create_task(session, event=event, progress=50)
        late = calendar_service.gantt(
            session, event_id=event.id, now=task.ends_at + timedelta(hours=1)
        )
        on_time = calendar_service.gantt(
            session, event_id=event.id, now=datetime(2020, 1, 1, tzinfo=UTC)
        )
        assert late.tasks[0].overdue and not on_time.tasks[0].overdue


class TestReschedule:
    def test_forward_scheduling_pulls_tasks_in_and_can_be_previewed(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        day = timedelta(days=1)
        t0 = event.starts_at - 10 * day
        a = create_task(session, event=event, starts_at=t0, ends_at=t0 + day)
        b = create_task(session, event=event, starts_at=t0 + 4 * day, ends_at=t0 + 5 * day)
        c = create_task(session, event=event, starts_at=t0, ends_at=t0 + day)  # too early
        create_dependency(session, task=b, on=a)
        create_dependency(session, task=c, on=b)
        url = f"/api/v1/events/{event.id}/reschedule"
        preview = client.post(url, json={"dry_run": True}, headers=planner).json()
        assert not preview["applied"]
        # t0 is 2027-10-31 00:00 in Shanghai: b right after a, c right after b.
        assert [(m["task_id"], m["starts_at"]) for m in preview["moves"]] == [
            (b.id, "2027-11-01T00:00:00+08:00"),
            (c.id, "2027-11-02T00:00:00+08:00"),
        ]
        done = client.post(url, headers=planner).json()
        assert done["applied"] and done["moves"] == preview["moves"]
        gantt = client.get(f"/api/v1/events/{event.id}/gantt", headers=planner).json()
        assert gantt["violations"] == []
        rows = {t["id"]: t for t in gantt["tasks"]}
        assert rows[b.id]["starts_at"] == rows[a.id]["ends_at"]
        assert rows[c.id]["starts_at"] == rows[b.id]["ends_at"]
        assert client.post(url, headers=planner).json() == {"applied": False, "moves": []}


class TestLaunchGate:
    def test_required_tasks_not_done_close_the_gate(self, session: Session):
        event = create_event(session)
        task = create_task(session, event=event, required=True, progress=60, name="Page build")
        create_task(session, event=event, required=False, progress=0)
        gate = calendar_service.launch_gate(session, event_id=event.id)
        assert not gate.passed and "Page build (60%)" in gate.detail
        task.progress = 100
        session.flush()
        assert calendar_service.launch_gate(session, event_id=event.id).passed
