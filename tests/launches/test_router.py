"""The launches HTTP interface: transitions, readiness, manual launch and
teardown with Idempotency-Key, job runs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import create_event, create_task
from tests.launches.factories import create_scheduled_event, create_subscription, run_clock
from tests.problems import assert_problem as problem


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    body = problem(response, status)
    if slug:
        assert body["type"].endswith("/" + slug), body
    return body


class TestTransitions:
    def test_lists_planned_transitions_in_time_order_with_offsets(
        self, client: TestClient, session: Session, viewer
    ):
        event = create_scheduled_event(session)
        response = client.get(f"/api/v1/events/{event.id}/transitions", headers=viewer)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [(i["action"], i["phase"], i["status"]) for i in items] == [
            ("launch", None, "pending"),
            ("phase_start", "presale", "pending"),
            ("phase_start", "peak", "pending"),
            ("phase_start", "encore", "pending"),
            ("teardown", None, "pending"),
        ]
        assert items[0]["due_at"] == "2027-11-09T16:00:00Z" or items[0]["due_at"].endswith("+00:00")

    def test_pages(self, client: TestClient, session: Session, viewer):
        event = create_scheduled_event(session)
        first = client.get(f"/api/v1/events/{event.id}/transitions?limit=2", headers=viewer).json()
        second = client.get(
            f"/api/v1/events/{event.id}/transitions?limit=10&cursor={first['next']}",
            headers=viewer,
        ).json()
        assert len(first["items"]) == 2 and len(second["items"]) == 3
        assert second["next"] is None

    def test_an_unknown_event_is_a_404_problem(self, client: TestClient, viewer):
        assert_problem(client.get("/api/v1/events/999999/transitions", headers=viewer), 404)


class TestReadiness:
    def test_each_gate_with_its_state_and_why(self, client: TestClient, session: Session, viewer):
        event = create_scheduled_event(session)
        create_task(session, event=event, name="Page build", required=True, progress=50)
        session.commit()
        body = client.get(f"/api/v1/events/{event.id}/readiness", headers=viewer).json()
        assert body["ready"] is False
        gates = {g["gate"]: g for g in body["gates"]}
        assert set(gates) == {"required_tasks", "allocation", "risk"}
        assert gates["required_tasks"]["passed"] is False
        assert "Page build" in gates["required_tasks"]["detail"]
        assert gates["allocation"]["passed"] is True

    def test_unknown_event(self, client: TestClient, viewer):
        assert_problem(client.get("/api/v1/events/999999/readiness", headers=viewer), 404)


class TestLaunch:
    def test_a_planner_launches_and_the_answer_says_what_happened(
        self, client: TestClient, session: Session, planner
    ):
        event = create_scheduled_event(session)
        response = client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["event_status"] == "live"
        assert body["transition"]["action"] == "launch" and body["transition"]["status"] == "done"
        assert body["readiness"]["ready"] is True and body["overridden"] is False

    def test_launching_twice_is_a_409(self, client: TestClient, session: Session, planner):
        event = create_scheduled_event(session)
        client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        body = assert_problem(
            client.post(f"/api/v1/events/{event.id}/launch", headers=planner),
            409,
            "invalid-transition",
        )
        assert "live" in body["detail"]

    def test_the_same_idempotency_key_replays_the_first_answer(
        self, client: TestClient, session: Session, planner
    ):
        event = create_scheduled_event(session)
        headers = {**planner, "Idempotency-Key": "launch-11-11"}
        first = client.post(f"/api/v1/events/{event.id}/launch", headers=headers)
        again = client.post(f"/api/v1/events/{event.id}/launch", headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        runs = client.get(f"/api/v1/job-runs?event_id={event.id}", headers=planner).json()
        assert [r["action"] for r in runs["items"]] == ["launch"]

    def test_a_failing_gate_is_a_409_listing_it_and_override_launches(
        self, client: TestClient, session: Session, planner
    ):
        event = create_scheduled_event(session)
        create_task(session, event=event, name="Creative review", required=True, progress=0)
        session.commit()
        body = assert_problem(
            client.post(f"/api/v1/events/{event.id}/launch", headers=planner),
            409,
            "launch-blocked",
        )
        assert "Creative review" in body["detail"]
        assert [g["gate"] for g in body["readiness"]["gates"] if not g["passed"]] == [
            "required_tasks"
        ]
        response = client.post(
            f"/api/v1/events/{event.id}/launch",
            headers=planner,
            json={"override": True, "reason": "VP approved"},
        )
        assert response.status_code == 200 and response.json()["overridden"] is True

    def test_bad_bodies_name_the_field(self, client: TestClient, session: Session, planner):
        event = create_scheduled_event(session)
        body = assert_problem(
            client.post(
                f"/api/v1/events/{event.id}/launch", headers=planner, json={"overide": True}
            ),
            422,
        )
        assert body["errors"][0]["loc"][-1] == "overide"
        body = assert_problem(
            client.post(
                f"/api/v1/events/{event.id}/launch", headers=planner, json={"override": "perhaps"}
            ),
            422,
        )
        assert body["errors"][0]["loc"][-1] == "override"

    def test_a_viewer_may_not_launch(self, client: TestClient, session: Session, viewer):
        event = create_scheduled_event(session)
        assert_problem(client.post(f"/api/v1/events/{event.id}/launch", headers=viewer), 403)

    def test_a_draft_is_a_409_and_an_unknown_event_a_404(
        self, client: TestClient, session: Session, planner
    ):
        draft = create_event(session)
        session.commit()
        assert_problem(
            client.post(f"/api/v1/events/{draft.id}/launch", headers=planner),
            409,
            "invalid-transition",
        )
        assert_problem(client.post("/api/v1/events/999999/launch", headers=planner), 404)


class TestTeardown:
    def test_a_live_event_is_torn_down_once(self, client: TestClient, session: Session, planner):
        create_subscription(session)
        event = create_scheduled_event(session)
        client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        headers = {**planner, "Idempotency-Key": "end-it"}
        response = client.post(f"/api/v1/events/{event.id}/teardown", headers=headers)
        assert response.status_code == 200 and response.json()["event_status"] == "ended"
        replay = client.post(f"/api/v1/events/{event.id}/teardown", headers=headers)
        assert replay.json() == response.json()
        assert_problem(
            client.post(f"/api/v1/events/{event.id}/teardown", headers=planner),
            409,
            "invalid-transition",
        )

    def test_a_scheduled_event_cannot_be_torn_down(
        self, client: TestClient, session: Session, planner
    ):
        event = create_scheduled_event(session)
        assert_problem(
            client.post(f"/api/v1/events/{event.id}/teardown", headers=planner),
            409,
            "invalid-transition",
        )


class TestJobRuns:
    def test_every_run_with_outcome_and_filters(self, client: TestClient, session: Session, viewer):
        event = create_scheduled_event(session)
        create_task(session, event=event, required=True, progress=0)
        run_clock(session, event.starts_at)
        items = client.get(f"/api/v1/job-runs?event_id={event.id}", headers=viewer).json()["items"]
        assert [(i["action"], i["outcome"]) for i in items] == [
            ("launch", "blocked"),
            ("phase_start", "skipped"),
        ]
        first = items[0]
        assert first["instance_id"] == "test-clock" and first["attempt"] == 1
        assert first["started_at"] and first["finished_at"] and first["trigger"] == "schedule"
        blocked = client.get(
            f"/api/v1/job-runs?event_id={event.id}&outcome=blocked", headers=viewer
        ).json()["items"]
        assert len(blocked) == 1

    def test_merchants_may_not_read_job_runs(
        self, client: TestClient, session: Session, headers_for
    ):
        from tests.slots.factories import create_merchant

        merchant = headers_for("merchant", create_merchant(session).id)
        assert_problem(client.get("/api/v1/job-runs", headers=merchant), 403)

    def test_an_unknown_outcome_is_a_422_naming_it(self, client: TestClient, viewer):
        body = assert_problem(client.get("/api/v1/job-runs?outcome=maybe", headers=viewer), 422)
        assert body["errors"][0]["loc"] == ["query", "outcome"]
