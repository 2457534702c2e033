"""A PATCH that changes nothing is not a new version: the ETag stays, no
audit record is written and nothing is signalled; a PATCH that changes
something is exactly one new version, however many parts it touches."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit import AuditRecord
from tests.calendar.test_events import EVENTS, double11
from tests.calendar.test_tasks import task_body, tasks_url


def audit_actions(session: Session, kind: str, resource_id: int) -> list[str]:
    records = session.exec(
        select(AuditRecord)
        .where(AuditRecord.resource_type == kind, AuditRecord.resource_id == str(resource_id))
        .order_by(AuditRecord.id)
    )
    return [r.action for r in records]


def event_as_written(event: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event read back as a PATCH body."""
    fields = ("name", "starts_at", "ends_at", "timezone", "launch_mode", "description")
    phases = [{k: p[k] for k in ("key", "name", "starts_at", "ends_at")} for p in event["phases"]]
    return {k: event[k] for k in fields} | {"phases": phases}


class TestEvents:
    def test_a_patch_with_the_same_values_is_not_a_new_version(
        self, client: TestClient, planner, session: Session, sent
    ):
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        response = client.patch(
            f"{EVENTS}/{event['id']}",
            json=event_as_written(event),
            headers={**planner, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json() == event
        assert response.headers["etag"] == '"1"'
        assert client.get(f"{EVENTS}/{event['id']}", headers=planner).json() == event
        assert audit_actions(session, "event", event["id"]) == ["create"]
        assert sent == []

    def test_an_empty_patch_is_not_a_new_version(
        self, client: TestClient, planner, session: Session
    ):
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        response = client.patch(f"{EVENTS}/{event['id']}", json={}, headers=planner)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert audit_actions(session, "event", event["id"]) == ["create"]

    def test_changing_fields_and_phases_at_once_is_one_new_version(
        self, client: TestClient, planner, session: Session
    ):
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        body = event_as_written(event) | {"name": "Double 11, take two"}
        body["phases"][0]["name"] = "pre-sale"
        response = client.patch(f"{EVENTS}/{event['id']}", json=body, headers=planner)
        assert response.status_code == 200, response.text
        after = response.json()
        assert after["version"] == 2 and response.headers["etag"] == '"2"'
        assert after["phases"][0]["name"] == "pre-sale" and after["phases"][0]["version"] == 2
        assert after["phases"][1]["version"] == 1
        assert audit_actions(session, "event", event["id"]) == ["create", "update"]

    def test_changing_a_phase_alone_is_a_new_version_of_the_event(
        self, client: TestClient, planner, session: Session
    ):
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        body = {"phases": event_as_written(event)["phases"]}
        body["phases"][1]["name"] = "爆发"
        response = client.patch(f"{EVENTS}/{event['id']}", json=body, headers=planner)
        assert response.json()["version"] == 2
        assert audit_actions(session, "event", event["id"]) == ["create", "update"]


class TestTasks:
    def make(self, client: TestClient, planner) -> tuple[int, dict[str, Any], dict[str, Any]]:
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        url = tasks_url(event["id"])
        first = client.post(url, json=task_body(name="Sign-up"), headers=planner).json()
        link = [{"task_id": first["id"], "type": "SS", "lag": "PT2H"}]
        second = client.post(url, json=task_body(depends_on=link), headers=planner)
        assert second.status_code == 201, second.text
        return event["id"], first, second.json()

    def test_a_patch_with_the_same_values_is_not_a_new_version(
        self, client: TestClient, planner, session: Session
    ):
        event_id, _first, task = self.make(client, planner)
        fields = ("name", "kind", "team", "starts_at", "ends_at", "progress", "required")
        body = {k: task[k] for k in fields} | {
            "depends_on": [
                {"task_id": d["task_id"], "type": d["type"], "lag": d["lag"]}
                for d in task["depends_on"]
            ]
        }
        response = client.patch(
            f"{tasks_url(event_id)}/{task['id']}", json=body, headers={**planner, "If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        assert response.json() == task
        assert response.headers["etag"] == '"1"'
        assert audit_actions(session, "task", task["id"]) == ["create"]

    def test_changing_a_dependency_alone_is_a_new_version(
        self, client: TestClient, planner, session: Session
    ):
        event_id, first, task = self.make(client, planner)
        link = [{"task_id": first["id"], "type": "SS", "lag": "PT3H"}]
        response = client.patch(
            f"{tasks_url(event_id)}/{task['id']}", json={"depends_on": link}, headers=planner
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2
        assert response.json()["depends_on"][0]["lag_seconds"] == 3 * 3600
        assert audit_actions(session, "task", task["id"]) == ["create", "update"]
