"""The slots HTTP API on SQLite and PostgreSQL: merchants, slot types, plans,
applications, allocation runs, publishing and locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit import AuditRecord
from app.slots.models import AllocationRun
from tests.factories import create_event, create_task
from tests.problems import assert_problem as problem
from tests.slots.factories import (
    DAY1,
    DAY2,
    DAY3,
    create_application,
    create_merchant,
    create_slot_plan,
    create_slot_type,
)

API = "/api/v1"


def assert_problem(response, status: int, loc: list | None = None) -> dict:
    body = problem(response, status)
    assert body["detail"]
    if loc is not None:
        assert loc in [e["loc"] for e in body["errors"]], body
    return body


@pytest.fixture
def event(session: Session):
    event = create_event(session)
    session.commit()  # survives a failing request's rollback
    return event


class TestMerchants:
    def test_a_planner_creates_and_lists_merchants(self, client: TestClient, planner):
        r = client.post(
            f"{API}/merchants",
            json={"name": "Lumière", "tier": "head", "categories": ["beauty"]},
            headers=planner,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["tier"] == "head" and body["categories"] == ["beauty"]
        listed = client.get(f"{API}/merchants?limit=500", headers=planner).json()
        assert body["id"] in [m["id"] for m in listed["items"]]
        one = client.get(f"{API}/merchants/{body['id']}", headers=planner)
        assert one.headers["etag"] == '"1"'

    @pytest.mark.parametrize(
        ("payload", "loc"),
        [
            ({"name": "X", "tier": "giant", "categories": ["a"]}, ["body", "tier"]),
            ({"name": "X", "tier": "head", "categories": []}, ["body", "categories"]),
            ({"name": "X", "tier": "head", "categories": ["a", "a"]}, ["body", "categories"]),
            ({"name": "", "tier": "head", "categories": ["a"]}, ["body", "name"]),
            ({"name": "X", "tier": "head", "categories": ["a"], "vip": 1}, ["body", "vip"]),
        ],
    )
    def test_bad_merchants_are_422_naming_the_field(self, client, planner, payload, loc):
        assert_problem(client.post(f"{API}/merchants", json=payload, headers=planner), 422, loc)

    def test_a_viewer_may_not_create_merchants(self, client, viewer):
        r = client.post(
            f"{API}/merchants", json={"name": "X", "tier": "head", "categories": ["a"]},
            headers=viewer,
        )  # fmt: skip
        assert_problem(r, 403)

    def test_a_merchant_key_sees_only_its_own_merchant(self, client, session, headers_for):
        mine, other = create_merchant(session), create_merchant(session)
        headers = headers_for("merchant", mine.id)
        listed = client.get(f"{API}/merchants", headers=headers).json()["items"]
        assert [m["id"] for m in listed] == [mine.id]
        assert_problem(client.get(f"{API}/merchants/{other.id}", headers=headers), 403)

    def test_an_unknown_merchant_is_404(self, client, planner):
        assert_problem(client.get(f"{API}/merchants/999999", headers=planner), 404)


class TestSlotTypes:
    def test_create_and_list(self, client, planner):
        payload = {"code": "hp_banner_t", "name": "Homepage banner", "capacity": 5}
        r = client.post(f"{API}/slot-types", json=payload, headers=planner)
        assert r.status_code == 201, r.text
        assert r.json()["window"] == "P1D"
        codes = [t["code"] for t in client.get(f"{API}/slot-types?limit=500",
                                               headers=planner).json()["items"]]  # fmt: skip
        assert "hp_banner_t" in codes

    def test_a_duplicate_code_is_409(self, client, session, planner):
        create_slot_type(session, code="dup_code")
        r = client.post(
            f"{API}/slot-types", json={"code": "dup_code", "name": "x", "capacity": 1},
            headers=planner,
        )  # fmt: skip
        assert_problem(r, 409)

    @pytest.mark.parametrize(
        ("patch", "loc"),
        [
            ({"window": "PT2H"}, ["body", "window"]),
            ({"window": "soon"}, ["body", "window"]),
            ({"capacity": -1}, ["body", "capacity"]),
            ({"code": "Has Spaces"}, ["body", "code"]),
        ],
    )
    def test_bad_slot_types_are_422(self, client, planner, patch, loc):
        payload = {"code": "ok_code", "name": "x", "capacity": 1, **patch}
        assert_problem(client.post(f"{API}/slot-types", json=payload, headers=planner), 422, loc)


class TestSlotPlans:
    def test_windows_default_to_every_day_of_the_event(self, client, session, planner, event):
        slot_type = create_slot_type(session, capacity=4)
        r = client.post(
            f"{API}/events/{event.id}/slot-plans",
            json={"slot_type": slot_type.code, "tier_quotas": {"tail": {"min": 1}}},
            headers=planner,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["windows"] == [d.isoformat() for d in (DAY1, DAY2, DAY3)]
        assert body["capacity"] == 4
        assert body["tier_quotas"] == {"tail": {"min": 1, "max": None}}
        listed = client.get(f"{API}/events/{event.id}/slot-plans", headers=planner).json()
        assert [p["slot_type"] for p in listed["items"]] == [slot_type.code]

    def test_days_are_those_of_the_event_time_zone_across_a_dst_change(
        self, client, session, planner
    ):
        # 2027-11-06 00:00 EDT to 2027-11-09 00:00 EST: New York falls back on the 7th.
        event = create_event(
            session,
            timezone="America/New_York",
            starts_at=datetime(2027, 11, 6, 4, tzinfo=UTC),
            ends_at=datetime(2027, 11, 9, 5, tzinfo=UTC),
        )
        slot_type = create_slot_type(session)
        r = client.post(
            f"{API}/events/{event.id}/slot-plans", json={"slot_type": slot_type.code},
            headers=planner,
        )  # fmt: skip
        assert r.json()["windows"] == ["2027-11-06", "2027-11-07", "2027-11-08"]

    @pytest.mark.parametrize(
        ("patch", "loc"),
        [
            ({"windows": ["2027-11-10", "2027-12-01"]}, ["body", "windows", 1]),
            ({"windows": ["2027-11-10", "2027-11-10"]}, ["body", "windows"]),
            ({"capacity": 9}, ["body", "capacity"]),
            ({"category_quotas": {"beauty": {"min": 3, "max": 1}}}, ["body", "category_quotas",
                                                                     "beauty"]),
            ({"category_quotas": {"beauty": {"max": 5}}}, ["body", "category_quotas", "beauty",
                                                           "max"]),
            ({"tier_quotas": {"head": {"min": 2}, "tail": {"min": 2}}}, ["body", "tier_quotas"]),
            ({"tier_quotas": {"giant": {"min": 1}}}, ["body", "tier_quotas", "giant", "[key]"]),
            ({"per_merchant_max": 0}, ["body", "per_merchant_max"]),
            ({"slot_type": "nope"}, ["body", "slot_type"]),
        ],
    )  # fmt: skip
    def test_bad_plans_are_422_naming_the_field(self, client, session, planner, event, patch, loc):
        slot_type = create_slot_type(session, capacity=3)
        payload = {"slot_type": slot_type.code, **patch}
        r = client.post(f"{API}/events/{event.id}/slot-plans", json=payload, headers=planner)
        assert_problem(r, 422, loc)

    def test_a_second_plan_for_the_same_slot_type_is_409(self, client, session, planner, event):
        slot_type = create_slot_type(session)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type)
        r = client.post(
            f"{API}/events/{event.id}/slot-plans", json={"slot_type": slot_type.code},
            headers=planner,
        )  # fmt: skip
        assert_problem(r, 409)

    def test_an_unknown_event_is_404(self, client, session, planner):
        slot_type = create_slot_type(session)
        r = client.post(
            f"{API}/events/999999/slot-plans", json={"slot_type": slot_type.code},
            headers=planner,
        )  # fmt: skip
        assert_problem(r, 404)


class TestSlotPlanUpdates:
    def url(self, event, slot_type) -> str:
        return f"{API}/events/{event.id}/slot-plans/{slot_type.code}"

    def test_a_planner_changes_quotas_with_if_match(self, client, session, planner, event):
        slot_type = create_slot_type(session, capacity=4)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type, per_merchant_max=2)
        read = client.get(self.url(event, slot_type), headers=planner)
        assert read.headers["etag"] == '"1"'
        r = client.patch(
            self.url(event, slot_type),
            json={"tier_quotas": {"tail": {"min": 1}}, "per_merchant_max": None},
            headers={**planner, "If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tier_quotas"] == {"tail": {"min": 1, "max": None}}
        assert body["per_merchant_max"] is None and body["capacity"] == 4
        assert body["version"] == 2 and r.headers["etag"] == '"2"'
        stale = client.patch(self.url(event, slot_type), json={"capacity": 3},
                             headers={**planner, "If-Match": '"1"'})  # fmt: skip
        assert_problem(stale, 412)

    def test_a_change_is_validated_against_the_whole_plan(self, client, session, planner, event):
        slot_type = create_slot_type(session, capacity=4)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type,
                         tier_quotas={"tail": {"min": 3, "max": None}})  # fmt: skip
        r = client.patch(self.url(event, slot_type), json={"capacity": 2}, headers=planner)
        assert_problem(r, 422, ["body", "tier_quotas", "tail", "min"])

    def test_windows_that_applications_ask_for_stay(self, client, session, planner, event):
        slot_type = create_slot_type(session)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type)
        create_application(session, event_id=event.id, merchant=create_merchant(session),
                           slot_type=slot_type, windows=[DAY2])  # fmt: skip
        r = client.patch(self.url(event, slot_type), json={"windows": ["2027-11-10"]},
                         headers=planner)  # fmt: skip
        assert_problem(r, 409)
        ok = client.patch(self.url(event, slot_type), json={"windows": ["2027-11-11"]},
                          headers=planner)  # fmt: skip
        assert ok.status_code == 200 and ok.json()["windows"] == ["2027-11-11"]

    def test_the_409_names_only_the_windows_applications_ask_for(
        self, client, session, planner, event
    ):
        slot_type = create_slot_type(session)
        create_slot_plan(session, event_id=event.id, slot_type=slot_type,
                         windows=[DAY1, DAY2, DAY3])  # fmt: skip
        create_application(session, event_id=event.id, merchant=create_merchant(session),
                           slot_type=slot_type, windows=[DAY2])  # fmt: skip
        r = client.patch(self.url(event, slot_type), json={"windows": ["2027-11-10"]},
                         headers=planner)  # fmt: skip
        body = assert_problem(r, 409)
        assert body["detail"] == "1 application(s) ask for 2027-11-11; keep those windows"
        assert body["windows"] == ["2027-11-11"]

    def test_an_unknown_plan_is_404(self, client, session, planner, event):
        slot_type = create_slot_type(session)
        assert_problem(client.get(self.url(event, slot_type), headers=planner), 404)
        r = client.patch(self.url(event, slot_type), json={"capacity": 1}, headers=planner)
        assert_problem(r, 404)


@pytest.fixture
def world(session: Session, event):
    """An event with one banner plan (2 units a day) and two merchants."""
    slot_type = create_slot_type(session, capacity=2)
    create_slot_plan(session, event_id=event.id, slot_type=slot_type)
    head = create_merchant(session, tier="head", categories=["beauty"])
    tail = create_merchant(session, tier="tail", categories=["food"])
    return event, slot_type, head, tail


def apply(client, event_id, headers, **body):
    return client.post(f"{API}/events/{event_id}/applications", json=body, headers=headers)


class TestApplications:
    def test_a_merchant_applies_for_itself(self, client, headers_for, world):
        event, slot_type, head, _tail = world
        r = apply(
            client, event.id, headers_for("merchant", head.id), merchant_id=head.id,
            slot_type=slot_type.code, category="beauty", windows=["2027-11-11", "2027-11-10"],
            score=99.5, all_or_nothing=True,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["windows"] == ["2027-11-10", "2027-11-11"]
        assert body["all_or_nothing"] is True

    def test_a_merchant_key_may_not_apply_for_another_merchant(self, client, headers_for, world):
        event, slot_type, head, tail = world
        r = apply(
            client, event.id, headers_for("merchant", head.id), merchant_id=tail.id,
            slot_type=slot_type.code, category="food", windows=["2027-11-10"], score=1,
        )  # fmt: skip
        assert_problem(r, 403)

    def test_a_merchant_reads_only_its_own_applications(self, client, session, headers_for, world):
        event, slot_type, head, tail = world
        mine = create_application(session, event_id=event.id, merchant=head, slot_type=slot_type)
        theirs = create_application(session, event_id=event.id, merchant=tail, slot_type=slot_type)
        headers = headers_for("merchant", head.id)
        items = client.get(f"{API}/events/{event.id}/applications", headers=headers).json()
        assert [a["id"] for a in items["items"]] == [mine.id]
        r = client.get(f"{API}/events/{event.id}/applications/{theirs.id}", headers=headers)
        assert_problem(r, 403)

    @pytest.mark.parametrize(
        ("patch", "loc"),
        [
            ({"category": "food"}, ["body", "category"]),
            ({"windows": ["2027-11-10", "2027-11-13"]}, ["body", "windows", 1]),
            ({"windows": []}, ["body", "windows"]),
            ({"windows": ["2027-11-10", "2027-11-10"]}, ["body", "windows"]),
            ({"score": -1}, ["body", "score"]),
            ({"score": "high"}, ["body", "score"]),
            ({"merchant_id": 999999}, ["body", "merchant_id"]),
            ({"slot_type": "no_such_type"}, ["body", "slot_type"]),
            ({"windows": ["11/10/2027"]}, ["body", "windows", 0]),
        ],
    )
    def test_bad_applications_are_422_naming_the_field(self, client, planner, world, patch, loc):
        event, slot_type, head, _tail = world
        body = {
            "merchant_id": head.id, "slot_type": slot_type.code, "category": "beauty",
            "windows": ["2027-11-10"], "score": 5, **patch,
        }  # fmt: skip
        assert_problem(apply(client, event.id, planner, **body), 422, loc)

    def test_a_slot_type_without_a_plan_in_the_event_is_422(self, client, session, planner, world):
        event, _slot_type, head, _tail = world
        unplanned = create_slot_type(session)
        r = apply(
            client, event.id, planner, merchant_id=head.id, slot_type=unplanned.code,
            category="beauty", windows=["2027-11-10"], score=5,
        )  # fmt: skip
        assert_problem(r, 422, ["body", "slot_type"])

    def test_applications_after_sign_up_closed_are_refused(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        closed = datetime.now(UTC) - timedelta(hours=1)
        create_task(
            session, event=event, code="signup_close", kind="milestone",
            starts_at=closed, ends_at=closed,
        )  # fmt: skip
        r = apply(
            client, event.id, planner, merchant_id=head.id, slot_type=slot_type.code,
            category="beauty", windows=["2027-11-10"], score=5,
        )  # fmt: skip
        body = assert_problem(r, 409)
        assert "closed" in body["detail"]

    def test_applications_before_sign_up_closes_are_taken(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        later = datetime.now(UTC) + timedelta(days=2)
        create_task(session, event=event, code="signup_close", starts_at=later, ends_at=later)
        r = apply(
            client, event.id, planner, merchant_id=head.id, slot_type=slot_type.code,
            category="beauty", windows=["2027-11-10"], score=5,
        )  # fmt: skip
        assert r.status_code == 201, r.text

    def test_a_cancelled_event_takes_no_applications(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        event.status = "cancelled"
        session.add(event)
        session.flush()
        r = apply(
            client, event.id, planner, merchant_id=head.id, slot_type=slot_type.code,
            category="beauty", windows=["2027-11-10"], score=5,
        )  # fmt: skip
        assert_problem(r, 409)

    def test_a_viewer_may_not_apply(self, client, viewer, world):
        event, slot_type, head, _tail = world
        r = apply(
            client, event.id, viewer, merchant_id=head.id, slot_type=slot_type.code,
            category="beauty", windows=["2027-11-10"], score=5,
        )  # fmt: skip
        assert_problem(r, 403)


def run(client, event_id, headers, **body):
    return client.post(f"{API}/events/{event_id}/allocation-runs", json=body or None,
                       headers=headers)  # fmt: skip


class TestAllocationRuns:
    def test_one_call_allocates_and_explains_every_refusal(self, client, session, planner, world):
        event, slot_type, head, tail = world
        other = create_merchant(session, tier="waist", categories=["beauty"])
        a = create_application(session, event_id=event.id, merchant=head, slot_type=slot_type,
                               score=90, windows=[DAY1, DAY2])  # fmt: skip
        b = create_application(session, event_id=event.id, merchant=tail, slot_type=slot_type,
                               score=50)  # fmt: skip
        c = create_application(session, event_id=event.id, merchant=other, slot_type=slot_type,
                               score=10)  # fmt: skip
        r = run(client, event.id, planner)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "solved" and body["optimal"] is True
        assert body["objective"] == 90 * 2 + 50
        granted = {(x["application_id"], x["window"]): x["position"] for x in body["assignments"]}
        assert granted == {(a.id, "2027-11-10"): 1, (a.id, "2027-11-11"): 1,
                           (b.id, "2027-11-10"): 2}  # fmt: skip
        [refusal] = body["refusals"]
        assert refusal["application_id"] == c.id and refusal["reason"] == "outscored"
        assert "50" in refusal["detail"]  # the lowest winning score
        assert body["stats"]["seconds"] >= 0
        audited = session.exec(
            select(AuditRecord).where(AuditRecord.action == "allocation_run.create")
        ).all()
        assert audited

    def test_a_merchant_reads_only_its_own_results(
        self, client, session, planner, headers_for, world
    ):
        event, slot_type, head, tail = world
        create_application(session, event_id=event.id, merchant=head, slot_type=slot_type)
        create_application(session, event_id=event.id, merchant=tail, slot_type=slot_type)
        run_id = run(client, event.id, planner).json()["id"]
        body = client.get(
            f"{API}/events/{event.id}/allocation-runs/{run_id}",
            headers=headers_for("merchant", head.id),
        ).json()
        assert {x["merchant_id"] for x in body["assignments"]} == {head.id}
        assert set(body["stats"]) == {"seconds"}

    def test_publishing_supersedes_the_previous_run(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        create_application(session, event_id=event.id, merchant=head, slot_type=slot_type)
        first = run(client, event.id, planner).json()["id"]
        second = run(client, event.id, planner).json()["id"]
        url = f"{API}/events/{event.id}/allocation-runs"
        r = client.post(f"{url}/{first}/publish", headers=planner)
        assert r.status_code == 200 and r.json()["status"] == "published"
        r = client.post(f"{url}/{second}/publish", headers=planner)
        assert r.json()["status"] == "published"
        assert client.get(f"{url}/{first}", headers=planner).json()["status"] == "superseded"
        again = client.post(f"{url}/{second}/publish", headers=planner)
        assert again.status_code == 200 and again.json()["published_at"] == r.json()["published_at"]
        published = client.get(f"{API}/events/{event.id}/allocation", headers=planner).json()
        assert published["id"] == second
        statuses = [x["status"] for x in client.get(url, headers=planner).json()["items"]]
        assert statuses == ["superseded", "published"]

    def test_the_same_idempotency_key_replays_the_first_run(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        create_application(session, event_id=event.id, merchant=head, slot_type=slot_type)
        headers = {**planner, "Idempotency-Key": "run-1"}
        first = run(client, event.id, headers)
        second = run(client, event.id, headers)
        assert first.json()["id"] == second.json()["id"]
        assert second.headers.get("idempotent-replayed") == "true"

    def test_an_event_without_plans_cannot_be_allocated(self, client, planner, event):
        assert_problem(run(client, event.id, planner), 409)

    def test_a_bad_time_limit_is_422(self, client, planner, world):
        event, *_ = world
        r = run(client, event.id, planner, time_limit_seconds=0)
        assert_problem(r, 422, ["body", "time_limit_seconds"])

    def test_unknown_runs_and_events_are_404(self, client, planner, world):
        event, *_ = world
        assert_problem(client.get(f"{API}/events/{event.id}/allocation-runs/999999",
                                  headers=planner), 404)  # fmt: skip
        assert_problem(client.post(f"{API}/events/{event.id}/allocation-runs/999999/publish",
                                   headers=planner), 404)  # fmt: skip
        assert_problem(run(client, 999999, planner), 404)
        assert_problem(client.get(f"{API}/events/{event.id}/allocation", headers=planner), 404)

    def test_merchants_and_viewers_may_not_run_or_publish(self, client, headers_for, world):
        event, _slot_type, head, _tail = world
        assert_problem(run(client, event.id, headers_for("viewer")), 403)
        assert_problem(run(client, event.id, headers_for("merchant", head.id)), 403)


class TestLocks:
    def test_a_lock_keeps_a_lower_score_through_later_runs(self, client, session, planner, world):
        event, slot_type, head, tail = world
        third = create_merchant(session, tier="waist", categories=["beauty"])
        high = create_application(session, event_id=event.id, merchant=head,
                                  slot_type=slot_type, score=90)  # fmt: skip
        create_application(session, event_id=event.id, merchant=third, slot_type=slot_type,
                           score=80)  # fmt: skip
        low = create_application(session, event_id=event.id, merchant=tail, slot_type=slot_type,
                                 score=1)  # fmt: skip
        r = client.post(f"{API}/events/{event.id}/locks",
                        json={"application_id": low.id, "window": "2027-11-10"},
                        headers=planner)  # fmt: skip
        assert r.status_code == 201, r.text
        for _ in range(2):
            body = run(client, event.id, planner).json()
            granted = {x["application_id"]: x for x in body["assignments"]}
            assert set(granted) == {high.id, low.id}
            assert granted[low.id]["locked"] is True and granted[low.id]["position"] == 2
            [refusal] = body["refusals"]
            assert refusal["reason"] == "outscored" and "locked" in refusal["detail"]
        locks = client.get(f"{API}/events/{event.id}/locks", headers=planner).json()["items"]
        assert [(x["application_id"], x["window"]) for x in locks] == [(low.id, "2027-11-10")]

    def test_lock_mistakes_are_clear_errors(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        app = create_application(session, event_id=event.id, merchant=head, slot_type=slot_type)
        url = f"{API}/events/{event.id}/locks"
        r = client.post(url, json={"application_id": app.id, "window": "2027-11-12"},
                        headers=planner)  # fmt: skip
        assert_problem(r, 422, ["body", "window"])
        r = client.post(url, json={"application_id": 999999, "window": "2027-11-10"},
                        headers=planner)  # fmt: skip
        assert_problem(r, 422, ["body", "application_id"])
        ok = {"application_id": app.id, "window": "2027-11-10"}
        assert client.post(url, json=ok, headers=planner).status_code == 201
        assert_problem(client.post(url, json=ok, headers=planner), 409)

    def test_a_lock_is_removed_by_query_or_body(self, client, session, planner, world):
        event, slot_type, head, _tail = world
        app = create_application(session, event_id=event.id, merchant=head, slot_type=slot_type,
                                 windows=[DAY1, DAY2])  # fmt: skip
        url = f"{API}/events/{event.id}/locks"
        for window in ("2027-11-10", "2027-11-11"):
            client.post(url, json={"application_id": app.id, "window": window}, headers=planner)
        r = client.delete(f"{url}?application_id={app.id}&window=2027-11-10", headers=planner)
        assert r.status_code == 204
        r = client.request("DELETE", url, json={"application_id": app.id, "window": "2027-11-11"},
                           headers=planner)  # fmt: skip
        assert r.status_code == 204
        assert client.get(url, headers=planner).json()["items"] == []
        r = client.delete(f"{url}?application_id={app.id}&window=2027-11-10", headers=planner)
        assert_problem(r, 404)
        assert_problem(client.delete(url, headers=planner), 422, ["query", "application_id"])

    def test_a_lock_beyond_the_window_capacity_is_a_409_naming_the_window(
        self, client, session, planner, world
    ):
        event, slot_type, head, tail = world  # 2 units a day
        third = create_merchant(session, categories=["food"])
        url = f"{API}/events/{event.id}/locks"
        statuses = []
        for merchant in (head, tail, third):
            app = create_application(session, event_id=event.id, merchant=merchant,
                                     slot_type=slot_type)  # fmt: skip
            r = client.post(url, json={"application_id": app.id, "window": "2027-11-10"},
                            headers=planner)  # fmt: skip
            statuses.append(r.status_code)
        assert statuses == [201, 201, 409]
        body = assert_problem(r, 409)
        assert body["detail"] == (
            f"application {app.id} cannot be locked on 2027-11-10: 3 locked units break the "
            f"capacity limit of 2 ({slot_type.code} on 2027-11-10)"
        )
        assert len(client.get(url, headers=planner).json()["items"]) == 2
        assert run(client, event.id, planner).status_code == 201

    def test_locks_that_a_smaller_capacity_breaks_make_the_run_a_409(
        self, client, session, planner, world
    ):
        event, slot_type, head, tail = world
        url = f"{API}/events/{event.id}/locks"
        for merchant in (head, tail):
            app = create_application(session, event_id=event.id, merchant=merchant,
                                     slot_type=slot_type)  # fmt: skip
            r = client.post(url, json={"application_id": app.id, "window": "2027-11-10"},
                            headers=planner)  # fmt: skip
            assert r.status_code == 201, r.text
        plan_url = f"{API}/events/{event.id}/slot-plans/{slot_type.code}"
        assert client.patch(plan_url, json={"capacity": 1}, headers=planner).status_code == 200
        body = assert_problem(run(client, event.id, planner), 409)
        assert f"capacity limit of 1 ({slot_type.code} on 2027-11-10)" in body["detail"]

    def test_an_existing_breach_does_not_block_locks_elsewhere(
        self, client, session, planner, world
    ):
        event, slot_type, head, tail = world  # 2 units a day, on 2027-11-10 to 12
        third = create_merchant(session, categories=["food"])
        url = f"{API}/events/{event.id}/locks"
        apps = [
            create_application(
                session,
                event_id=event.id,
                merchant=merchant,
                slot_type=slot_type,
                windows=[DAY1, DAY2],
            )
            for merchant in (head, tail, third)
        ]
        for app in apps[:2]:
            r = client.post(url, json={"application_id": app.id, "window": "2027-11-10"},
                            headers=planner)  # fmt: skip
            assert r.status_code == 201, r.text
        plan_url = f"{API}/events/{event.id}/slot-plans/{slot_type.code}"
        assert client.patch(plan_url, json={"capacity": 1}, headers=planner).status_code == 200
        # Another window is not over its limit: the lock is made.
        r = client.post(url, json={"application_id": apps[2].id, "window": "2027-11-11"},
                        headers=planner)  # fmt: skip
        assert r.status_code == 201, r.text
        # The breached window still refuses one more, naming itself.
        r = client.post(url, json={"application_id": apps[2].id, "window": "2027-11-10"},
                        headers=planner)  # fmt: skip
        body = assert_problem(r, 409)
        assert body["type"].endswith("lock-conflict")
        assert (
            f"3 locked units break the capacity limit of 1 ({slot_type.code} on 2027-11-10)"
            in (body["detail"])
        )
        assert len(client.get(url, headers=planner).json()["items"]) == 3
        # The run still says what the plan change broke.
        body = assert_problem(run(client, event.id, planner), 409)
        assert f"capacity limit of 1 ({slot_type.code} on 2027-11-10)" in body["detail"]


class TestOnePublishedRun:
    def test_the_database_refuses_a_second_published_run(self, session: Session, event):
        from sqlalchemy.exc import IntegrityError

        now = datetime.now(UTC)
        for _ in range(2):
            session.add(AllocationRun(event_id=event.id, status="published", objective=0,
                                      optimal=True, gap=0, created_at=now))  # fmt: skip
        with pytest.raises(IntegrityError):
            session.flush()


class TestEventMoves:
    def test_moving_the_event_off_its_slot_windows_is_refused(self, client, planner, session):
        from tests.slots.factories import create_slot_plan, create_slot_type

        event = create_event(session, status="scheduled")
        create_slot_plan(session, event_id=event.id, slot_type=create_slot_type(session))
        response = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "P1D"}, headers=planner
        )
        assert response.status_code == 409, response.text
        assert "2027-11-10" in response.json()["detail"]
        # A move that keeps every window inside the event goes through.
        earlier = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "-PT2H"}, headers=planner
        )
        assert earlier.status_code == 200, earlier.text
