"""The webhooks HTTP interface: inbound endpoints and the signed hook,
outbound subscriptions and their delivery log."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import signals
from app.launches.models import JobRun
from app.types import utcnow
from app.webhooks import signing
from tests.launches.factories import create_scheduled_event, create_subscription
from tests.launches.test_router import assert_problem


def signed(
    secret: str | list[str], body: dict | bytes, *, wid: str = "msg_1", ts: int | None = None
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    secrets = [secret] if isinstance(secret, str) else secret
    headers = signing.signed_headers(
        secrets, webhook_id=wid, timestamp=ts if ts is not None else int(time.time()), body=raw
    )
    return {**headers, "content-type": "application/json"}, raw


def webhook_event(session: Session):
    """A webhook-mode event starting in ten minutes: inside the hour's lead."""
    return create_scheduled_event(
        session, launch_mode="webhook", starts_at=utcnow() + timedelta(minutes=10)
    )


@pytest.fixture
def endpoint(client: TestClient, planner) -> dict:
    response = client.post("/api/v1/webhook-endpoints", headers=planner, json={"name": "pipeline"})
    assert response.status_code == 201, response.text
    return response.json()


class TestEndpoints:
    def test_create_shows_the_secret_once(self, client: TestClient, planner, endpoint):
        assert endpoint["secret"].startswith("whsec_")
        assert endpoint["url"].endswith(f"/api/v1/hooks/{endpoint['id']}")
        listed = client.get("/api/v1/webhook-endpoints", headers=planner).json()["items"]
        assert listed and all("secret" not in item for item in listed)
        one = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=planner)
        assert "secret" not in one.json() and one.headers["etag"] == '"1"'

    def test_an_unknown_event_is_a_404(self, client: TestClient, planner):
        assert_problem(
            client.post(
                "/api/v1/webhook-endpoints", headers=planner, json={"name": "x", "event_id": 999999}
            ),
            404,
        )

    def test_a_blank_name_is_a_422_naming_it(self, client: TestClient, planner):
        body = assert_problem(
            client.post("/api/v1/webhook-endpoints", headers=planner, json={"name": ""}), 422
        )
        assert body["errors"][0]["loc"] == ["body", "name"]

    def test_a_viewer_may_not_see_webhook_config(self, client: TestClient, viewer):
        assert_problem(client.get("/api/v1/webhook-endpoints", headers=viewer), 403)
        assert_problem(client.get("/api/v1/webhook-subscriptions", headers=viewer), 403)

    def test_a_stale_if_match_is_a_412(self, client: TestClient, planner, endpoint):
        url = f"/api/v1/webhook-endpoints/{endpoint['id']}"
        assert client.patch(url, headers=planner, json={"name": "ci"}).status_code == 200
        assert_problem(
            client.patch(url, headers={**planner, "If-Match": '"1"'}, json={"name": "cd"}), 412
        )
        assert_problem(client.delete(url, headers={**planner, "If-Match": '"1"'}), 412)
        assert client.delete(url, headers=planner).status_code == 204


class TestInboundHook:
    def test_a_signed_trigger_launches_a_webhook_event(
        self, client: TestClient, session: Session, endpoint
    ):
        event = webhook_event(session)
        session.commit()
        headers, raw = signed(
            endpoint["secret"], {"type": "event.launch", "data": {"event_id": event.id}}
        )
        response = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["status"] == "done"
        session.refresh(event)
        assert event.status == "live"
        run = session.exec(select(JobRun).where(JobRun.event_id == event.id)).one()
        assert run.trigger == "webhook"

    def test_a_replayed_webhook_id_is_acknowledged_and_does_nothing_twice(
        self, client: TestClient, session: Session, endpoint
    ):
        event = webhook_event(session)
        session.commit()
        headers, raw = signed(
            endpoint["secret"], {"type": "event.launch", "data": {"event_id": event.id}}
        )
        first = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
        again = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["webhook-replayed"] == "true"
        assert len(session.exec(select(JobRun).where(JobRun.event_id == event.id)).all()) == 1

    def test_a_signed_teardown_ends_a_live_event(
        self, client: TestClient, session: Session, endpoint, planner
    ):
        event = create_scheduled_event(session)
        session.commit()
        client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        headers, raw = signed(
            endpoint["secret"],
            {"type": "event.teardown", "data": {"event_id": event.id}},
            wid="msg_end",
        )
        response = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
        assert response.status_code == 200, response.text
        session.refresh(event)
        assert event.status == "ended"

    def test_bad_or_stale_signatures_are_401_and_do_nothing(
        self, client: TestClient, session: Session, endpoint
    ):
        event = webhook_event(session)
        session.commit()
        body = {"type": "event.launch", "data": {"event_id": event.id}}
        now = int(time.time())
        cases = {
            "wrong secret": signed(signing.new_secret(), body),
            "stale": signed(endpoint["secret"], body, ts=now - 600),
            "future": signed(endpoint["secret"], body, ts=now + 600),
        }
        headers, raw = signed(endpoint["secret"], body)
        cases["changed body"] = (headers, raw.replace(b"launch", b"teardown"))
        malformed = {**headers, "webhook-signature": "v1:" + headers["webhook-signature"][3:]}
        cases["malformed"] = (malformed, raw)
        cases["missing"] = ({k: v for k, v in headers.items() if k != "webhook-signature"}, raw)
        for case, (sent_headers, sent) in cases.items():
            response = client.post(
                f"/api/v1/hooks/{endpoint['id']}", headers=sent_headers, content=sent
            )
            problem = assert_problem(response, 401, "invalid-webhook-signature")
            assert problem["detail"], case
            assert "www-authenticate" not in response.headers
        session.refresh(event)
        assert event.status == "scheduled"

    def test_an_unknown_endpoint_is_a_404(self, client: TestClient):
        headers, raw = signed(
            signing.new_secret(), {"type": "event.launch", "data": {"event_id": 1}}
        )
        assert_problem(client.post("/api/v1/hooks/999999", headers=headers, content=raw), 404)

    def test_a_signed_but_invalid_body_is_a_422_naming_the_field_and_not_json_a_400(
        self, client: TestClient, endpoint
    ):
        headers, raw = signed(
            endpoint["secret"], {"type": "event.explode", "data": {"event_id": 1}}
        )
        body = assert_problem(
            client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw), 422
        )
        assert body["errors"][0]["loc"] == ["body", "type"]
        headers, raw = signed(endpoint["secret"], b"not json", wid="msg_2")
        assert_problem(
            client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw),
            400,
            "malformed-json",
        )

    def test_a_refused_trigger_is_not_remembered_so_a_retry_can_succeed(
        self, client: TestClient, session: Session, endpoint, planner
    ):
        event = create_scheduled_event(
            session, launch_mode="schedule", starts_at=utcnow() + timedelta(minutes=10)
        )
        session.commit()
        headers, raw = signed(
            endpoint["secret"], {"type": "event.launch", "data": {"event_id": event.id}}
        )
        assert_problem(
            client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw),
            409,
            "launch-mode-mismatch",
        )
        session.expire_all()
        event.launch_mode = "webhook"
        session.add(event)
        session.commit()
        signals.event_rescheduled.send(session, event=event)
        session.commit()
        retry = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
        assert retry.status_code == 200, retry.text

    def test_an_endpoint_bound_to_an_event_acts_only_on_it(
        self, client: TestClient, session: Session, planner
    ):
        mine = webhook_event(session)
        other = webhook_event(session)
        session.commit()
        created = client.post(
            "/api/v1/webhook-endpoints", headers=planner, json={"name": "x", "event_id": mine.id}
        ).json()
        headers, raw = signed(
            created["secret"], {"type": "event.launch", "data": {"event_id": other.id}}
        )
        assert_problem(
            client.post(f"/api/v1/hooks/{created['id']}", headers=headers, content=raw),
            409,
            "webhook-endpoint-wrong-event",
        )

    def test_after_rotation_old_and_new_secrets_both_verify(
        self, client: TestClient, session: Session, endpoint, planner
    ):
        rotated = client.post(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=planner
        ).json()
        assert rotated["secret"] != endpoint["secret"]
        first = webhook_event(session)
        second = webhook_event(session)
        session.commit()
        for n, (secret, event) in enumerate(
            [(endpoint["secret"], first), (rotated["secret"], second)]
        ):
            headers, raw = signed(
                secret, {"type": "event.launch", "data": {"event_id": event.id}}, wid=f"msg_r{n}"
            )
            response = client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw)
            assert response.status_code == 200, response.text

    def test_without_grace_the_old_secret_stops_at_once(
        self, client: TestClient, session: Session, endpoint, planner
    ):
        client.post(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret",
            headers=planner,
            json={"keep_previous_seconds": 0},
        )
        headers, raw = signed(endpoint["secret"], {"type": "event.launch", "data": {"event_id": 1}})
        assert_problem(
            client.post(f"/api/v1/hooks/{endpoint['id']}", headers=headers, content=raw), 401
        )


class TestSubscriptions:
    def test_create_read_update_delete(self, client: TestClient, planner):
        created = client.post(
            "/api/v1/webhook-subscriptions",
            headers=planner,
            json={"url": "http://10.0.0.5:8080/hook", "types": ["event.launched", "event.ended"]},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_") and body["active"] is True
        url = f"/api/v1/webhook-subscriptions/{body['id']}"
        got = client.get(url, headers=planner)
        assert "secret" not in got.json() and got.headers["etag"] == '"1"'
        patched = client.patch(
            url, headers={**planner, "If-Match": '"1"'}, json={"types": ["event.launch_blocked"]}
        )
        assert patched.status_code == 200 and patched.json()["types"] == ["event.launch_blocked"]
        assert_problem(client.patch(url, headers={**planner, "If-Match": '"1"'}, json={}), 412)
        assert client.delete(url, headers=planner).status_code == 204
        assert_problem(client.get(url, headers=planner), 404)

    def test_bad_input_is_a_422_naming_the_field(self, client: TestClient, planner):
        cases = [
            ({"url": "ftp://x/y", "types": ["event.launched"]}, ["body", "url"]),
            ({"url": "http://", "types": ["event.launched"]}, ["body", "url"]),
            ({"url": "http://u:p@x/y", "types": ["event.launched"]}, ["body", "url"]),
            ({"url": "http://x:99999/y", "types": ["event.launched"]}, ["body", "url"]),
            ({"url": "http://x:0/y", "types": ["event.launched"]}, ["body", "url"]),
            ({"url": "http://x/y", "types": ["event.exploded"]}, ["body", "types"]),
            ({"url": "http://x/y", "types": []}, ["body", "types"]),
            ({"url": "http://x/y", "types": ["event.launched"], "secret": "x"}, ["body", "secret"]),
            ({"types": ["event.launched"]}, ["body", "url"]),
        ]
        for payload, loc in cases:
            body = assert_problem(
                client.post("/api/v1/webhook-subscriptions", headers=planner, json=payload), 422
            )
            assert body["errors"][0]["loc"] == loc, payload

    def test_an_allowlist_refuses_other_hosts(self, client: TestClient, planner, monkeypatch):
        from app.webhooks import service

        monkeypatch.setattr(service, "_allowlist", lambda: ["hooks.example.com", "10.0.0.0/8"])
        ok = {"types": ["event.launched"]}
        for url in ("https://hooks.example.com/x", "http://10.1.2.3/x"):
            response = client.post(
                "/api/v1/webhook-subscriptions", headers=planner, json={**ok, "url": url}
            )
            assert response.status_code == 201, response.text
        body = assert_problem(
            client.post(
                "/api/v1/webhook-subscriptions",
                headers=planner,
                json={**ok, "url": "http://127.0.0.1:9/x"},
            ),
            422,
        )
        assert "ALLOWLIST" in body["detail"]

    def test_re_enabling_clears_the_disabled_state(
        self, client: TestClient, session: Session, planner
    ):
        subscription = create_subscription(
            session, active=False, disabled_reason="HTTP 410", consecutive_failures=9
        )
        session.commit()
        response = client.patch(
            f"/api/v1/webhook-subscriptions/{subscription.id}",
            headers=planner,
            json={"active": True},
        )
        body = response.json()
        assert body["active"] is True and body["disabled_reason"] is None
        assert body["consecutive_failures"] == 0


class TestDeliveries:
    def test_the_log_lists_what_a_launch_queued_and_a_planner_can_redeliver(
        self, client: TestClient, session: Session, planner
    ):
        subscription = create_subscription(session, types=["event.launched"])
        event = create_scheduled_event(session)
        session.commit()
        client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        base = f"/api/v1/webhook-subscriptions/{subscription.id}/deliveries"
        (delivery,) = client.get(base, headers=planner).json()["items"]
        assert delivery["type"] == "event.launched" and delivery["status"] == "pending"
        assert delivery["payload"]["data"]["event_id"] == event.id
        assert delivery["webhook_id"].startswith("msg_")
        detail = client.get(f"{base}/{delivery['id']}", headers=planner).json()
        assert detail["attempt_log"] == []
        redo = client.post(f"{base}/{delivery['id']}/redeliver", headers=planner)
        assert redo.status_code == 202 and redo.json()["status"] == "pending"

    def test_a_delivery_of_another_subscription_is_a_404(
        self, client: TestClient, session: Session, planner
    ):
        mine = create_subscription(session)
        other = create_subscription(session, types=["event.launched"])
        event = create_scheduled_event(session)
        session.commit()
        client.post(f"/api/v1/events/{event.id}/launch", headers=planner)
        (delivery,) = client.get(
            f"/api/v1/webhook-subscriptions/{other.id}/deliveries", headers=planner
        ).json()["items"]
        assert_problem(
            client.get(
                f"/api/v1/webhook-subscriptions/{mine.id}/deliveries/{delivery['id']}",
                headers=planner,
            ),
            404,
        )
