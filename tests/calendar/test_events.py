"""Events and phases over HTTP: creation, validation, time zones, the
lifecycle, versions, shifting, listing and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import signals
from app.audit import AuditRecord
from app.calendar.models import Event
from app.errors import Conflict
from tests.factories import create_event, create_task
from tests.problems import assert_problem as problem

EVENTS = "/api/v1/events"


def locs(body: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in body["errors"]]


def double11(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Double 11 2027",
        "starts_at": "2027-10-21T00:00:00",
        "ends_at": "2027-11-14T00:00:00",
        "phases": [
            {
                "key": "presale",
                "name": "预售",
                "starts_at": "2027-10-24T20:00:00",
                "ends_at": "2027-11-10T20:00:00",
            },
            {"key": "peak", "starts_at": "2027-11-10T20:00:00", "ends_at": "2027-11-12T00:00:00"},
        ],
    }
    return body | overrides


class TestCreate:
    def test_naive_times_are_read_in_the_event_zone_and_answered_with_offsets(
        self, client: TestClient, planner
    ):
        response = client.post(EVENTS, json=double11(), headers=planner)
        assert response.status_code == 201, response.text
        event = response.json()
        assert event["timezone"] == "Asia/Shanghai"
        assert event["starts_at"] == "2027-10-21T00:00:00+08:00"
        assert event["status"] == "draft" and event["launch_mode"] == "schedule"
        assert event["slug"] == "double-11-2027" and event["version"] == 1
        assert [(p["key"], p["name"], p["position"]) for p in event["phases"]] == [
            ("presale", "预售", 0),
            ("peak", "peak", 1),
        ]
        assert response.headers["etag"] == '"1"'

    def test_an_instant_with_an_offset_is_kept_as_given(self, client: TestClient, planner):
        body = double11(starts_at="2027-10-20T16:00:00Z", phases=[])
        event = client.post(EVENTS, json=body, headers=planner).json()
        assert event["starts_at"] == "2027-10-21T00:00:00+08:00"

    def test_slugs_stay_unique_and_chinese_names_get_one(self, client: TestClient, planner):
        first = client.post(EVENTS, json=double11(), headers=planner).json()
        second = client.post(EVENTS, json=double11(), headers=planner).json()
        chinese = client.post(EVENTS, json=double11(name="双十一"), headers=planner).json()
        assert second["slug"] == first["slug"] + "-2"
        assert chinese["slug"].startswith("event")

    def test_a_viewer_may_not_create(self, client: TestClient, viewer):
        problem(client.post(EVENTS, json=double11(), headers=viewer), 403)

    def test_the_same_idempotency_key_creates_one_event(self, client: TestClient, planner):
        headers = {**planner, "Idempotency-Key": "d11"}
        first = client.post(EVENTS, json=double11(), headers=headers)
        again = client.post(EVENTS, json=double11(), headers=headers)
        assert first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "loc", "words"),
        [
            ({"timezone": "Mars/Olympus"}, ["body", "timezone"], "unknown time zone"),
            ({"ends_at": "2027-10-20T00:00:00"}, ["body", "ends_at"], "after starts_at"),
            ({"ends_at": "2027-10-21T00:00:00"}, ["body", "ends_at"], "after starts_at"),
            ({"launch_mode": "rocket"}, ["body", "launch_mode"], ""),
            ({"name": ""}, ["body", "name"], ""),
            ({"colour": "red"}, ["body", "colour"], "unknown field"),
            ({"starts_at": "next tuesday"}, ["body", "starts_at"], ""),
            # Date arithmetic would overflow near year 1 or 9999: refused, not a 500.
            ({"starts_at": "0001-01-01T00:00:00"}, ["body", "starts_at"], "between the years"),
            ({"ends_at": "9999-12-31T00:00:00"}, ["body", "ends_at"], "between the years"),
        ],
    )
    def test_each_bad_field_is_a_422_naming_it(
        self, client: TestClient, planner, overrides, loc, words
    ):
        body = problem(client.post(EVENTS, json=double11(**overrides), headers=planner), 422)
        assert loc in locs(body)
        assert words in " ".join(e["msg"] for e in body["errors"])

    def test_a_phase_outside_the_window_is_named(self, client: TestClient, planner):
        phases = [
            {"key": "peak", "starts_at": "2027-11-13T00:00:00", "ends_at": "2027-11-15T00:00:00"}
        ]
        body = problem(client.post(EVENTS, json=double11(phases=phases), headers=planner), 422)
        assert locs(body) == [["body", "phases", 0, "ends_at"]]
        assert "after the event ends" in body["detail"]

    def test_overlapping_phases_are_named(self, client: TestClient, planner):
        phases = [
            {
                "key": "presale",
                "starts_at": "2027-10-24T00:00:00",
                "ends_at": "2027-11-11T00:00:00",
            },
            {"key": "peak", "starts_at": "2027-11-10T20:00:00", "ends_at": "2027-11-12T00:00:00"},
        ]
        body = problem(client.post(EVENTS, json=double11(phases=phases), headers=planner), 422)
        assert locs(body) == [["body", "phases", 1, "starts_at"]]
        assert "overlaps phase 'presale'" in body["detail"]

    def test_a_phase_ending_before_it_starts_and_a_repeated_key_are_named(
        self, client: TestClient, planner
    ):
        phases = [
            {"key": "peak", "starts_at": "2027-11-11T00:00:00", "ends_at": "2027-11-10T00:00:00"},
            {"key": "peak", "starts_at": "2027-11-12T00:00:00", "ends_at": "2027-11-13T00:00:00"},
        ]
        body = problem(client.post(EVENTS, json=double11(phases=phases), headers=planner), 422)
        assert ["body", "phases", 0, "ends_at"] in locs(body)
        assert ["body", "phases", 1, "key"] in locs(body)

    def test_a_bad_phase_key_is_refused(self, client: TestClient, planner):
        phases = [{"key": "Peak Time", "starts_at": "2027-11-11", "ends_at": "2027-11-12"}]
        body = problem(client.post(EVENTS, json=double11(phases=phases), headers=planner), 422)
        assert ["body", "phases", 0, "key"] in locs(body)

    def test_the_database_refuses_a_window_that_ends_before_it_starts(self, session: Session):
        from sqlalchemy.exc import IntegrityError

        event = create_event(session)
        event.ends_at = event.starts_at
        with pytest.raises(IntegrityError), session.begin_nested():
            session.flush()


class TestDaylightSaving:
    def test_naive_times_across_a_dst_change_get_each_their_offset(
        self, client: TestClient, planner
    ):
        # New York leaves DST on 2027-11-07 at 02:00.
        body = {
            "name": "Black Friday",
            "timezone": "America/New_York",
            "starts_at": "2027-11-01T09:00:00",
            "ends_at": "2027-11-30T09:00:00",
            "phases": [
                {
                    "key": "warmup",
                    "starts_at": "2027-11-01T09:00:00",
                    "ends_at": "2027-11-26T00:00:00",
                },
                {
                    "key": "peak",
                    "starts_at": "2027-11-26T00:00:00",
                    "ends_at": "2027-11-30T09:00:00",
                },
            ],
        }
        event = client.post(EVENTS, json=body, headers=planner).json()
        assert event["starts_at"] == "2027-11-01T09:00:00-04:00"
        assert event["ends_at"] == "2027-11-30T09:00:00-05:00"
        assert event["phases"][1]["starts_at"] == "2027-11-26T00:00:00-05:00"

    def test_a_wall_time_that_the_clocks_skip_is_refused(self, client: TestClient, planner):
        # 2027-03-14 02:30 does not exist in New York (clocks go 02:00 → 03:00).
        body = {
            "name": "Spring",
            "timezone": "America/New_York",
            "starts_at": "2027-03-14T02:30:00",
            "ends_at": "2027-03-20T00:00:00",
        }
        body = problem(client.post(EVENTS, json=body, headers=planner), 422)
        assert locs(body) == [["body", "starts_at"]]
        assert "does not exist in America/New_York" in body["detail"]

    def test_shifting_by_a_day_keeps_the_wall_clock_across_dst(
        self, client: TestClient, planner, sent
    ):
        body = {
            "name": "Cyber Week",
            "timezone": "America/New_York",
            "starts_at": "2027-11-06T20:00:00",
            "ends_at": "2027-11-10T20:00:00",
        }
        event = client.post(EVENTS, json=body, headers=planner).json()
        moved = client.post(f"{EVENTS}/{event['id']}/shift", json={"by": "P1D"}, headers=planner)
        assert moved.status_code == 200, moved.text
        # 20:00 EDT on the 6th becomes 20:00 EST on the 7th: 25 hours later.
        assert moved.json()["starts_at"] == "2027-11-07T20:00:00-05:00"
        assert sent == [("event_rescheduled", event["id"])]


class TestReadAndList:
    def test_get_answers_with_an_etag(self, client: TestClient, viewer, session: Session):
        event = create_event(session)
        response = client.get(f"{EVENTS}/{event.id}", headers=viewer)
        assert response.status_code == 200
        assert response.headers["etag"] == f'"{event.version}"'
        assert [p["key"] for p in response.json()["phases"]] == ["presale", "peak", "encore"]

    def test_an_unknown_event_is_a_404_problem(self, client: TestClient, viewer):
        body = problem(client.get(f"{EVENTS}/999999", headers=viewer), 404)
        assert body["type"].endswith("event-not-found")

    def test_an_id_no_database_can_hold_is_a_422(self, client: TestClient, viewer):
        body = problem(client.get(f"{EVENTS}/{10**20}/gantt", headers=viewer), 422)
        assert locs(body) == [["path", "event_id"]]

    def test_list_filters_by_range_and_status_and_pages(
        self, client: TestClient, viewer, session: Session
    ):
        from datetime import UTC, datetime, timedelta

        base = datetime(2031, 3, 1, tzinfo=UTC)
        made = [
            create_event(session, starts_at=base + timedelta(days=10 * i), status=status)
            for i, status in enumerate(["draft", "scheduled", "draft", "cancelled"])
        ]
        params = {"from": "2031-03-01", "to": "2031-04-15", "status": "draft", "limit": 1}
        seen, cursor = [], None
        while True:
            page = client.get(
                EVENTS, params=params | ({"cursor": cursor} if cursor else {}), headers=viewer
            ).json()
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next"]):
                break
        assert seen == [made[0].id, made[2].id]
        both = client.get(
            EVENTS,
            params=[
                ("from", "2031-03-01"),
                ("to", "2031-04-15"),
                ("status", "draft"),
                ("status", "cancelled"),
            ],
            headers=viewer,
        ).json()
        assert [e["id"] for e in both["items"]] == [made[0].id, made[2].id, made[3].id]

    def test_a_bad_range_or_status_is_a_422(self, client: TestClient, viewer):
        body = problem(
            client.get(EVENTS, params={"from": "2030-02-01", "to": "2030-01-01"}, headers=viewer),
            422,
        )
        assert locs(body) == [["query", "to"]]
        problem(client.get(EVENTS, params={"status": "asleep"}, headers=viewer), 422)
        problem(client.get(EVENTS, params={"tz": "Nowhere/City"}, headers=viewer), 422)


class TestUpdate:
    def test_patch_changes_fields_bumps_the_version_and_signals_timing_changes(
        self, client: TestClient, planner, session: Session, sent
    ):
        event = create_event(session)
        response = client.patch(
            f"{EVENTS}/{event.id}",
            json={"name": "Renamed", "launch_mode": "webhook"},
            headers={**planner, "If-Match": f'"{event.version}"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Renamed"
        assert response.json()["version"] == 2
        assert response.headers["etag"] == '"2"'
        assert sent == [("event_rescheduled", event.id)]

    def test_renaming_alone_does_not_signal_a_reschedule(
        self, client: TestClient, planner, session: Session, sent
    ):
        event = create_event(session)
        client.patch(f"{EVENTS}/{event.id}", json={"name": "New name"}, headers=planner)
        assert sent == []

    def test_phases_are_replaced_by_key_and_a_kept_phase_keeps_its_uid(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        before = client.get(f"{EVENTS}/{event.id}", headers=planner).json()
        peak = next(p for p in before["phases"] if p["key"] == "peak")
        phases = [
            {"key": "peak", "starts_at": peak["starts_at"], "ends_at": before["ends_at"]},
        ]
        after = client.patch(f"{EVENTS}/{event.id}", json={"phases": phases}, headers=planner)
        assert after.status_code == 200, after.text
        (kept,) = after.json()["phases"]
        assert kept["id"] == peak["id"] and kept["version"] == peak["version"] + 1
        assert after.json()["version"] == before["version"] + 1

    def test_a_stale_if_match_is_412(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        body = problem(
            client.patch(
                f"{EVENTS}/{event.id}", json={"name": "x"}, headers={**planner, "If-Match": '"7"'}
            ),
            412,
        )
        assert body["current_version"] == event.version

    def test_status_cannot_be_patched(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        body = problem(
            client.patch(f"{EVENTS}/{event.id}", json={"status": "live"}, headers=planner), 409
        )
        assert "schedule" in body["detail"]

    def test_null_for_a_required_field_is_a_422(self, client: TestClient, planner, session):
        event = create_event(session)
        body = problem(
            client.patch(f"{EVENTS}/{event.id}", json={"name": None}, headers=planner), 422
        )
        assert locs(body) == [["body", "name"]]

    def test_a_patched_window_must_still_hold_its_phases(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        body = problem(
            client.patch(
                f"{EVENTS}/{event.id}", json={"ends_at": "2027-11-11T00:00:00"}, headers=planner
            ),
            422,
        )
        assert ["body", "phases", 1, "ends_at"] in locs(body)

    def test_a_live_event_keeps_its_start(self, client: TestClient, planner, session: Session):
        event = create_event(session, status="live")
        session.commit()  # a refused request rolls back what is not committed
        body = problem(
            client.patch(
                f"{EVENTS}/{event.id}", json={"starts_at": "2027-11-09T00:00:00"}, headers=planner
            ),
            409,
        )
        assert "starts_at" in body["detail"]
        ok = client.patch(f"{EVENTS}/{event.id}", json={"description": "extended"}, headers=planner)
        assert ok.status_code == 200

    def test_an_ended_event_cannot_change(self, client: TestClient, planner, session: Session):
        event = create_event(session, status="ended")
        problem(client.patch(f"{EVENTS}/{event.id}", json={"name": "x"}, headers=planner), 409)


class TestLifecycle:
    def test_schedule_moves_a_draft_and_signals_it(
        self, client: TestClient, planner, session: Session, sent
    ):
        event = create_event(session)
        response = client.post(f"{EVENTS}/{event.id}/schedule", headers=planner)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "scheduled"
        assert response.json()["version"] == 2
        assert sent == [("event_scheduled", event.id)]

    def test_scheduling_twice_is_a_409(self, client: TestClient, planner, session: Session):
        event = create_event(session, status="scheduled")
        body = problem(client.post(f"{EVENTS}/{event.id}/schedule", headers=planner), 409)
        assert "only a draft" in body["detail"]

    def test_a_window_in_the_past_cannot_be_scheduled(
        self, client: TestClient, planner, session: Session, sent
    ):
        from datetime import UTC, datetime

        event = create_event(session, starts_at=datetime(2020, 1, 1, tzinfo=UTC))
        body = problem(client.post(f"{EVENTS}/{event.id}/schedule", headers=planner), 409)
        assert body["reasons"] and "ended" in body["reasons"][0]
        assert sent == []

    def test_a_receiver_refusing_aborts_the_schedule(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        session.commit()  # a refused request rolls back what is not committed

        def refuse(_session, *, event: Event) -> None:
            raise Conflict("not ready", reasons=["no slot plan"])

        signals.event_scheduled._receivers.append(refuse)
        response = client.post(f"{EVENTS}/{event.id}/schedule", headers=planner)
        assert problem(response, 409)["reasons"] == ["no slot plan"]
        assert client.get(f"{EVENTS}/{event.id}", headers=planner).json()["status"] == "draft"

    @pytest.mark.parametrize("status", ["draft", "scheduled", "live"])
    def test_cancel_is_allowed_before_the_end(
        self, client: TestClient, planner, session: Session, sent, status
    ):
        event = create_event(session, status=status)
        response = client.post(f"{EVENTS}/{event.id}/cancel", headers=planner)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert sent == [("event_cancelled", event.id)]

    @pytest.mark.parametrize("status", ["ended", "cancelled"])
    def test_cancel_after_the_end_is_a_409(self, client: TestClient, planner, session, status):
        event = create_event(session, status=status)
        body = problem(client.post(f"{EVENTS}/{event.id}/cancel", headers=planner), 409)
        assert status in body["detail"]

    def test_only_a_draft_can_be_deleted(self, client: TestClient, planner, session: Session):
        scheduled = create_event(session, status="scheduled")
        session.commit()  # a refused request rolls back what is not committed
        problem(client.delete(f"{EVENTS}/{scheduled.id}", headers=planner), 409)
        draft = create_event(session)
        create_task(session, event=draft)
        session.commit()
        problem(client.delete(f"{EVENTS}/{draft.id}", headers={**planner, "If-Match": '"9"'}), 412)
        assert client.delete(f"{EVENTS}/{draft.id}", headers=planner).status_code == 204
        problem(client.get(f"{EVENTS}/{draft.id}", headers=planner), 404)


class TestGates:
    def test_a_planner_turns_a_readiness_gate_off_for_one_event(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        read = client.get(f"{EVENTS}/{event.id}", headers=planner).json()
        assert read["gates"] == {"required_tasks": True, "allocation": True, "risk": True}
        patched = client.patch(
            f"{EVENTS}/{event.id}", json={"gates": {"allocation": False}}, headers=planner
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["gates"] == {
            "required_tasks": True,
            "allocation": False,
            "risk": True,
        }
        bad = client.patch(
            f"{EVENTS}/{event.id}", json={"gates": {"vibes": False}}, headers=planner
        )
        assert problem(bad, 422)["errors"][0]["loc"][:2] == ["body", "gates"]


class TestShift:
    def test_shift_moves_the_event_its_phases_and_its_tasks(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        task = create_task(session, event=event)
        before = client.get(f"{EVENTS}/{event.id}", headers=planner).json()
        moved = client.post(f"{EVENTS}/{event.id}/shift", json={"by": "-PT2H"}, headers=planner)
        assert moved.status_code == 200, moved.text
        after = moved.json()
        assert after["starts_at"] == "2027-11-09T22:00:00+08:00" != before["starts_at"]
        assert after["phases"][0]["starts_at"] == "2027-11-09T22:00:00+08:00"
        assert after["version"] == before["version"] + 1
        moved_task = client.get(f"{EVENTS}/{event.id}/tasks/{task.id}", headers=planner).json()
        assert moved_task["starts_at"] == "2027-10-30T22:00:00+08:00"
        assert moved_task["version"] == 2

    @pytest.mark.parametrize("by", ["P0D", "tomorrow", "P1Y", "P400D"])
    def test_a_bad_shift_is_a_422(self, client: TestClient, planner, session: Session, by):
        event = create_event(session)
        body = problem(
            client.post(f"{EVENTS}/{event.id}/shift", json={"by": by}, headers=planner), 422
        )
        assert locs(body) == [["body", "by"]]

    def test_a_shift_past_the_supported_years_is_a_422_not_an_overflow(
        self, client: TestClient, planner, session: Session
    ):
        from datetime import UTC, datetime

        event = create_event(session, starts_at=datetime(1970, 3, 1, tzinfo=UTC))
        session.commit()  # the failed request below rolls back only its own work
        body = problem(
            client.post(f"{EVENTS}/{event.id}/shift", json={"by": "-P366D"}, headers=planner), 422
        )
        assert locs(body) == [["body", "by"]] and "1970-2200" in body["detail"]
        unchanged = client.get(f"{EVENTS}/{event.id}", headers=planner).json()
        assert unchanged["starts_at"].startswith("1970-03-01")

    def test_a_template_anchor_whose_dates_leave_the_supported_years_is_a_422(
        self, client: TestClient, planner
    ):
        response = client.post(
            f"{EVENTS}/from-template",
            json={"template": "double11", "anchor": "1970-01-02"},
            headers=planner,
        )
        assert locs(problem(response, 422)) == [["body", "anchor"]]

    def test_a_live_event_cannot_be_shifted(self, client: TestClient, planner, session: Session):
        event = create_event(session, status="live")
        problem(client.post(f"{EVENTS}/{event.id}/shift", json={"by": "P1D"}, headers=planner), 409)


class TestAudit:
    def test_every_change_leaves_a_record_with_before_and_after(
        self, client: TestClient, planner, session: Session
    ):
        event = client.post(EVENTS, json=double11(), headers=planner).json()
        client.patch(f"{EVENTS}/{event['id']}", json={"name": "D11"}, headers=planner)
        client.post(f"{EVENTS}/{event['id']}/shift", json={"by": "P1D"}, headers=planner)
        client.post(f"{EVENTS}/{event['id']}/cancel", headers=planner)
        records = list(
            session.exec(
                select(AuditRecord)
                .where(
                    AuditRecord.resource_type == "event",
                    AuditRecord.resource_id == str(event["id"]),
                )
                .order_by(AuditRecord.id)
            )
        )
        assert [r.action for r in records] == ["create", "update", "shift", "cancel"]
        assert records[1].before["name"] == "Double 11 2027" and records[1].after["name"] == "D11"
        assert records[2].after["shift"]["by"] == "P1D"
        assert records[3].after["status"] == "cancelled"
        assert all(r.actor.startswith("key:") for r in records)
