"""The feeds API and the served .ics, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.calendar import service as calendar_service
from app.feeds.models import Feed
from app.types import utcnow
from tests.factories import create_event, create_task
from tests.feeds.factories import create_feed, create_milestone
from tests.feeds.parsers import content_lines, every_parser, icaljs_raw, with_icalendar
from tests.slots.factories import create_merchant


def ics(client: TestClient, token: str, **headers: str):
    return client.get(f"/feeds/{token}.ics", headers=headers)


def problem_without_request_id(response) -> dict[str, Any]:
    body = response.json()
    body.pop("request_id", None)
    return body


def touch(session: Session, thing: Any, **changes: Any) -> None:
    """Change a calendar row the way the calendar service does: the mapper
    bumps `version`, and `updated_at` moves."""
    for name, value in changes.items():
        setattr(thing, name, value)
    thing.updated_at = utcnow()
    session.add(thing)
    session.flush()


class TestCreateFeed:
    def test_planner_gets_the_token_and_url_once(self, client, planner, session):
        event = create_event(session)
        response = client.post(
            "/api/v1/feeds",
            json={"name": "Double 11 · 设计", "filter": {"event_ids": [event.id]}},
            headers=planner,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert len(body["token"]) >= 43
        assert body["url"] == f"http://127.0.0.1:8000/feeds/{body['token']}.ics"
        assert body["webcal_url"] == f"webcal://127.0.0.1:8000/feeds/{body['token']}.ics"
        assert body["filter"] == {
            "event_ids": [event.id],
            "statuses": None,
            "teams": None,
            "include": ["phases", "milestones"],
        }
        assert body["alarm_minutes"] is None
        listed = client.get("/api/v1/feeds", headers=planner).json()["items"]
        assert [f["id"] for f in listed] == [body["id"]]
        assert "token" not in listed[0] and body["token"] not in str(listed)
        assert listed[0]["token_hint"] == body["token"][:6]

    def test_the_token_is_stored_hashed(self, session):
        feed, token = create_feed(session)
        assert token not in (feed.token_hash, feed.token_hint)
        assert len(feed.token_hash) == 64

    def test_filters_are_stored_sorted_without_repeats(self, client, planner):
        body = {
            "name": "x",
            "filter": {"teams": ["design", "content", "design"], "include": ["tasks", "phases"]},
        }
        response = client.post("/api/v1/feeds", json=body, headers=planner)
        assert response.status_code == 201
        assert response.json()["filter"]["teams"] == ["content", "design"]
        assert response.json()["filter"]["include"] == ["phases", "tasks"]

    BAD_BODIES = (
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": "x" * 201}, ["body", "name"]),
        ({}, ["body", "name"]),
        ({"name": "a\x00b"}, ["body", "name"]),
        ({"name": "x", "filter": {"teams": ["de\nsign"]}}, ["body", "filter", "teams", 0]),
        ({"name": "x", "alarm_minutes": -1}, ["body", "alarm_minutes"]),
        ({"name": "x", "alarm_minutes": 10081}, ["body", "alarm_minutes"]),
        ({"name": "x", "alarm_minutes": True}, ["body", "alarm_minutes"]),
        ({"name": "x", "alarm_minutes": "60"}, ["body", "alarm_minutes"]),
        ({"name": "x", "alarm_minutes": 1.5}, ["body", "alarm_minutes"]),
        ({"name": "x", "filter": {"include": ["gantt"]}}, ["body", "filter", "include", 0]),
        ({"name": "x", "filter": {"include": []}}, ["body", "filter", "include"]),
        (
            {"name": "x", "filter": {"statuses": ["archived"]}},
            ["body", "filter", "statuses", 0],
        ),
        ({"name": "x", "filter": {"teams": [" "]}}, ["body", "filter", "teams", 0]),
        ({"name": "x", "filter": {"teams": ["t" * 61]}}, ["body", "filter", "teams", 0]),
        ({"name": "x", "filter": {"event_ids": [0]}}, ["body", "filter", "event_ids", 0]),
        ({"name": "x", "filter": {"event_ids": [2**40]}}, ["body", "filter", "event_ids", 0]),
        ({"name": "x", "filter": {"event_ids": ["1"]}}, ["body", "filter", "event_ids", 0]),
        ({"name": "x", "filter": {"event_ids": []}}, ["body", "filter", "event_ids"]),
        ({"name": "x", "filter": {"event_ids": 1}}, ["body", "filter", "event_ids"]),
        ({"name": "x", "filter": {"colour": "red"}}, ["body", "filter", "colour"]),
        ({"name": "x", "filter": []}, ["body", "filter"]),
        ({"name": "x", "token": "mine"}, ["body", "token"]),
    )

    def test_bad_input_is_a_422_naming_the_field(self, client, planner):
        # One client for every case: the app and key setup dominate otherwise.
        for body, loc in self.BAD_BODIES:
            response = client.post("/api/v1/feeds", json=body, headers=planner)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert loc in [error["loc"] for error in response.json()["errors"]], body
        assert client.get("/api/v1/feeds", headers=planner).json()["items"] == []

    def test_too_many_event_ids_is_a_422(self, client, planner):
        body = {"name": "x", "filter": {"event_ids": list(range(1, 502))}}
        response = client.post("/api/v1/feeds", json=body, headers=planner)
        assert response.status_code == 422
        assert ["body", "filter", "event_ids"] in [e["loc"] for e in response.json()["errors"]]

    def test_an_unknown_event_is_a_422_naming_it(self, client, planner, session):
        event = create_event(session)
        body = {"name": "x", "filter": {"event_ids": [event.id, 987654321]}}
        response = client.post("/api/v1/feeds", json=body, headers=planner)
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["loc"][:3] == ["body", "filter", "event_ids"]
        assert "987654321" in error["msg"]

    def test_malformed_json_is_a_400(self, client, planner):
        response = client.post(
            "/api/v1/feeds",
            content=b'{"name": ',
            headers={**planner, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"

    def test_roles(self, client, headers_for, session):
        assert client.post("/api/v1/feeds", json={"name": "x"}).status_code == 401
        viewer = headers_for("viewer")
        assert client.post("/api/v1/feeds", json={"name": "x"}, headers=viewer).status_code == 403
        assert client.get("/api/v1/feeds", headers=viewer).status_code == 200
        merchant = headers_for("merchant", merchant_id=create_merchant(session).id)
        assert client.get("/api/v1/feeds", headers=merchant).status_code == 403


class TestReadAndRevoke:
    def test_get_carries_the_version_as_etag(self, client, planner, session):
        feed, _ = create_feed(session)
        response = client.get(f"/api/v1/feeds/{feed.id}", headers=planner)
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'

    def test_a_revoked_token_is_404_exactly_like_an_unknown_one(self, client, planner, session):
        feed, token = create_feed(session)
        assert ics(client, token).status_code == 200
        response = client.delete(f"/api/v1/feeds/{feed.id}", headers=planner)
        assert response.status_code == 204
        revoked = ics(client, token)
        unknown = ics(client, "A" * 43)
        assert revoked.status_code == unknown.status_code == 404
        assert revoked.headers["content-type"] == "application/problem+json"
        assert problem_without_request_id(revoked) == problem_without_request_id(unknown)
        assert client.head(f"/feeds/{token}.ics").status_code == 404

    @pytest.mark.parametrize("token", ["short", "x" * 200, "bad%20chars" * 4, "..%2F..%2Fetc"])
    def test_malformed_tokens_are_404(self, client, token):
        response = client.get(f"/feeds/{token}.ics")
        assert response.status_code == 404

    def test_revoked_feeds_leave_the_list_but_stay_for_the_record(self, client, planner, session):
        feed, _ = create_feed(session)
        client.delete(f"/api/v1/feeds/{feed.id}", headers=planner)
        assert client.get("/api/v1/feeds", headers=planner).json()["items"] == []
        everything = client.get("/api/v1/feeds?include_revoked=true", headers=planner).json()
        assert everything["items"][0]["revoked_at"] is not None

    def test_revoking_twice_is_a_404(self, client, planner, session):
        feed, _ = create_feed(session)
        assert client.delete(f"/api/v1/feeds/{feed.id}", headers=planner).status_code == 204
        assert client.delete(f"/api/v1/feeds/{feed.id}", headers=planner).status_code == 404

    def test_a_stale_if_match_is_a_412(self, client, planner, session):
        feed, token = create_feed(session)
        response = client.delete(f"/api/v1/feeds/{feed.id}", headers={**planner, "If-Match": '"7"'})
        assert response.status_code == 412
        assert ics(client, token).status_code == 200

    @pytest.mark.parametrize("feed_id", ["0", "-1", str(2**40), "abc"])
    def test_impossible_ids_are_a_422_naming_the_path(self, client, planner, feed_id):
        for response in (
            client.get(f"/api/v1/feeds/{feed_id}", headers=planner),
            client.delete(f"/api/v1/feeds/{feed_id}", headers=planner),
        ):
            assert response.status_code == 422, response.text
            assert ["path", "feed_id"] in [e["loc"] for e in response.json()["errors"]]

    def test_viewer_cannot_revoke(self, client, viewer, session):
        feed, _ = create_feed(session)
        assert client.delete(f"/api/v1/feeds/{feed.id}", headers=viewer).status_code == 403


class TestServeFeed:
    def test_get_serves_a_calendar_with_validators(self, client, session):
        event = create_event(session, name="Double 11", timezone="Asia/Shanghai")
        create_milestone(session, event=event, name="报名截止")
        _, token = create_feed(session)
        response = ics(client, token)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        assert response.headers["ETag"].startswith('"')
        assert parsedate_to_datetime(response.headers["Last-Modified"]).tzinfo is not None
        assert "no-cache" in response.headers["Cache-Control"]
        assert "报名截止" in response.content.decode()
        assert response.content.startswith(b"BEGIN:VCALENDAR\r\n")

    def test_head_has_the_headers_of_get_and_no_body(self, client, session):
        create_event(session)
        _, token = create_feed(session)
        got = ics(client, token)
        head = client.head(f"/feeds/{token}.ics")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["ETag"] == got.headers["ETag"]
        assert head.headers["Last-Modified"] == got.headers["Last-Modified"]
        assert head.headers["Content-Length"] == str(len(got.content))

    def test_unchanged_feed_is_byte_identical_and_keeps_its_validators(self, client, session):
        create_event(session)
        _, token = create_feed(session)
        first, second = ics(client, token), ics(client, token)
        assert first.content == second.content
        assert first.headers["ETag"] == second.headers["ETag"]
        assert first.headers["Last-Modified"] == second.headers["Last-Modified"]

    def test_if_none_match_gives_a_304_with_the_validators(self, client, session):
        create_event(session)
        _, token = create_feed(session)
        etag = ics(client, token).headers["ETag"]
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            response = ics(client, token, **{"If-None-Match": header})
            assert response.status_code == 304, header
            assert response.content == b""
            assert response.headers["ETag"] == etag
            assert "Last-Modified" in response.headers
        assert ics(client, token, **{"If-None-Match": '"other"'}).status_code == 200

    def test_if_modified_since(self, client, session):
        create_event(session)
        _, token = create_feed(session)
        last_modified = ics(client, token).headers["Last-Modified"]
        assert ics(client, token, **{"If-Modified-Since": last_modified}).status_code == 304
        earlier = format_datetime(
            parsedate_to_datetime(last_modified) - timedelta(seconds=1), usegmt=True
        )
        assert ics(client, token, **{"If-Modified-Since": earlier}).status_code == 200
        assert ics(client, token, **{"If-Modified-Since": "yesterday"}).status_code == 200
        # If-None-Match wins over If-Modified-Since.
        both = {"If-Modified-Since": last_modified, "If-None-Match": '"other"'}
        assert ics(client, token, **both).status_code == 200

    def test_a_moved_milestone_changes_etag_last_modified_and_sequence(self, client, session):
        event = create_event(session)
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session)
        before = ics(client, token)
        moved_to = milestone.starts_at + timedelta(days=1)
        touch(session, milestone, starts_at=moved_to, ends_at=moved_to)
        after = ics(client, token, **{"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200
        assert after.headers["ETag"] != before.headers["ETag"]
        assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
            before.headers["Last-Modified"]
        )
        old = with_icalendar(before.content)[milestone.uid]
        new = with_icalendar(after.content)[milestone.uid]
        assert new.sequence > old.sequence
        assert new.start == old.start + timedelta(days=1)

    def test_a_deleted_item_changes_etag_and_last_modified(self, client, session):
        event = create_event(session)
        create_milestone(session, event=event)
        doomed = create_milestone(session, event=event)
        _, token = create_feed(session)
        before = ics(client, token)
        session.delete(doomed)
        session.flush()
        after = ics(client, token, **{"If-Modified-Since": before.headers["Last-Modified"]})
        assert after.status_code == 200
        assert doomed.uid not in with_icalendar(after.content)
        assert after.headers["ETag"] != before.headers["ETag"]

    def test_uids_are_the_stored_ones_and_never_change(self, client, session):
        event = create_event(session)
        task = create_task(session, event=event, kind="task")
        _, token = create_feed(session, filter={"include": ["phases", "milestones", "tasks"]})
        first = set(with_icalendar(ics(client, token).content))
        touch(session, task, name="Renamed")
        second = set(with_icalendar(ics(client, token).content))
        phases = calendar_service.list_phases(session, event_id=event.id)
        assert first == second == {task.uid, *(p.uid for p in phases)}

    def test_the_body_holds_no_token(self, client, session):
        create_event(session)
        _, token = create_feed(session)
        assert token.encode() not in ics(client, token).content


class TestFilters:
    def test_one_teams_milestones_of_one_event(self, client, session):
        wanted = create_event(session)
        other = create_event(session)
        design = create_milestone(session, event=wanted, team="design")
        create_milestone(session, event=wanted, team="content")
        create_task(session, event=wanted, kind="task", team="design")
        create_milestone(session, event=other, team="design")
        _, token = create_feed(
            session,
            filter={"event_ids": [wanted.id], "teams": ["design"], "include": ["milestones"]},
        )
        assert set(with_icalendar(ics(client, token).content)) == {design.uid}

    def test_statuses(self, client, session):
        create_event(session, status="draft")
        scheduled = create_event(session, status="scheduled")
        _, token = create_feed(session, filter={"statuses": ["scheduled"], "include": ["phases"]})
        phases = calendar_service.list_phases(session, event_id=scheduled.id)
        assert set(with_icalendar(ics(client, token).content)) == {p.uid for p in phases}

    def test_a_new_event_enters_a_whole_plan_feed(self, client, session):
        _, token = create_feed(session)
        before = ics(client, token)
        create_event(session)
        after = ics(client, token, **{"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200
        assert len(with_icalendar(after.content)) == 3


class TestCancelledEvents:
    def test_stay_as_cancelled_for_the_grace_period_then_go(self, client, session):
        event = create_event(session, status="scheduled")
        milestone = create_milestone(session, event=event)
        _, token = create_feed(session, filter={"statuses": ["scheduled", "live"]})
        live = with_icalendar(ics(client, token).content)[milestone.uid]
        assert live.status == "CONFIRMED"
        now = utcnow()
        assert calendar_service.transition_status(
            session, event_id=event.id, expected={"scheduled"}, new="cancelled", at=now
        )
        cancelled = with_icalendar(ics(client, token).content)[milestone.uid]
        assert cancelled.status == "CANCELLED"
        assert cancelled.sequence > live.sequence
        # Cancelled longer ago than feed_cancelled_grace_days (30): gone.
        event.cancelled_at = now - timedelta(days=31)
        session.add(event)
        session.flush()
        assert milestone.uid not in with_icalendar(ics(client, token).content)


class TestDatabaseLimits:
    def insert(self, session: Session, **values: Any) -> None:
        row = {
            "name": "x",
            "token_hash": "a" * 64,
            "token_hint": "aaaaaa",
            "include": ["phases"],
            "created_by": "test",
            **values,
        }
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(Feed(**row))
            session.flush()

    def test_alarm_minutes_out_of_range(self, session):
        self.insert(session, alarm_minutes=10_081)
        self.insert(session, alarm_minutes=-5)

    def test_empty_name(self, session):
        self.insert(session, name="")

    def test_token_hash_must_be_a_sha256(self, session):
        self.insert(session, token_hash="short")

    def test_token_hashes_are_unique(self, session):
        feed, _ = create_feed(session)
        self.insert(session, token_hash=feed.token_hash)


class TestDoneWhen:
    """The issue's acceptance story, read back by icalendar, ical.js and vobject."""

    def test_design_milestones_of_double_11_with_reminders(
        self, client, planner, session, tmp_path: Path
    ):
        event = create_event(
            session,
            name="Double 11 双十一",
            status="scheduled",
            timezone="Asia/Shanghai",
            starts_at=datetime(2027, 10, 20, 16, tzinfo=UTC),
            ends_at=datetime(2027, 11, 11, 16, tzinfo=UTC),
        )
        # 10:00 and 18:00 in Shanghai.
        review = create_milestone(
            session,
            event=event,
            team="design",
            name="素材审核 creative review",
            starts_at=datetime(2027, 10, 15, 2, tzinfo=UTC),
        )
        handoff = create_milestone(
            session,
            event=event,
            team="design",
            name="Page hand-off, v2; final",
            starts_at=datetime(2027, 10, 18, 10, tzinfo=UTC),
        )
        create_milestone(session, event=event, team="content")
        created = client.post(
            "/api/v1/feeds",
            json={
                "name": "Double 11 · design",
                "filter": {"event_ids": [event.id], "teams": ["design"], "include": ["milestones"]},
                "alarm_minutes": 60,
            },
            headers=planner,
        ).json()
        path = created["url"].removeprefix("http://127.0.0.1:8000")

        body = client.get(path).content
        for parser, seen in every_parser(body, tmp_path).items():
            assert set(seen) == {review.uid, handoff.uid}, parser
            assert seen[review.uid].start == review.starts_at, parser
            assert seen[handoff.uid].start == handoff.starts_at, parser
        js = {e["uid"]: e for e in icaljs_raw(body, tmp_path)["events"]}
        assert js[review.uid]["start_text"] == "2027-10-15T10:00:00"
        assert js[review.uid]["tzid"] == "Asia/Shanghai"
        assert js[review.uid]["alarms"] == [{"action": "DISPLAY", "trigger": "-PT1H"}]
        assert js[handoff.uid]["summary"] == "Double 11 双十一 · Page hand-off, v2; final"

        # The event moves by a day: the calendar follows.
        moved_to = review.starts_at + timedelta(days=1)
        touch(session, review, starts_at=moved_to, ends_at=moved_to)
        moved = every_parser(client.get(path).content, tmp_path)
        for parser, seen in moved.items():
            assert seen[review.uid].start == datetime(2027, 10, 16, 2, tzinfo=UTC), parser
        js_moved = {e["uid"]: e for e in icaljs_raw(client.get(path).content, tmp_path)["events"]}
        assert js_moved[review.uid]["sequence"] > js[review.uid]["sequence"]

        # It is cancelled: the calendar says so.
        calendar_service.transition_status(
            session, event_id=event.id, expected={"scheduled"}, new="cancelled", at=utcnow()
        )
        final = client.get(path).content
        for parser, seen in every_parser(final, tmp_path).items():
            assert {s.status for s in seen.values()} == {"CANCELLED"}, parser
        assert "STATUS:CANCELLED" in content_lines(final)


class TestConcurrentPolls:
    """Calendar apps poll at will: polls racing after a change must agree on
    one Last-Modified (the conditional UPDATE), on both databases."""

    def test_racing_polls_agree_on_last_modified(self, live_db: str):
        import threading

        from app.auth import SYSTEM
        from app.db import build_engine, session_scope
        from app.feeds import service
        from app.feeds.schemas import FeedCreate

        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                event = create_event(session)
                create_milestone(session, event=event)
                token = service.create(session, data=FeedCreate(name="race"), actor=SYSTEM).token
            results: list[tuple[str, datetime]] = []
            errors: list[BaseException] = []
            barrier = threading.Barrier(6)

            base = utcnow()

            def poll(n: int) -> None:
                # Each poller's clock reads differently: only the conditional
                # UPDATE makes them agree on the first one's time.
                now = base + timedelta(seconds=n)
                try:
                    barrier.wait(timeout=30)
                    with session_scope(engine) as session:
                        feed = service.get_by_token_or_raise(session, token=token)
                        snap = service.snapshot(session, feed=feed, now=now)
                        at = service.mark_served(session, feed=feed, snap=snap, now=now)
                        results.append((snap.etag, at))
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=poll, args=(n,)) for n in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not errors, errors
            assert len(results) == 6
            assert len({etag for etag, _ in results}) == 1
            assert len({at for _, at in results}) == 1
        finally:
            engine.dispose()


class TestThroughTheCalendarApi:
    """The same story driven by the calendar's own endpoints: shift, then cancel."""

    def test_shift_and_cancel_reach_the_feed(self, client, planner, session, tmp_path: Path):
        event = create_event(session, timezone="America/New_York", status="scheduled")
        milestone = create_milestone(
            session, event=event, starts_at=datetime(2027, 11, 1, 14, tzinfo=UTC)
        )
        _, token = create_feed(session, filter={"event_ids": [event.id]})
        before = ics(client, token)
        seen_before = with_icalendar(before.content)

        shifted = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "P7D"}, headers=planner
        )
        assert shifted.status_code == 200, shifted.text
        after = ics(client, token, **{"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200
        # A week later on New York's wall clock: 10:00 EDT becomes 10:00 EST,
        # an hour later in UTC, in every parser.
        for parser, seen in every_parser(after.content, tmp_path).items():
            assert seen[milestone.uid].start == datetime(2027, 11, 8, 15, tzinfo=UTC), parser
            assert seen[milestone.uid].sequence > seen_before[milestone.uid].sequence, parser
            assert set(seen) == set(seen_before), parser

        cancelled = client.post(f"/api/v1/events/{event.id}/cancel", headers=planner)
        assert cancelled.status_code == 200, cancelled.text
        for parser, seen in every_parser(ics(client, token).content, tmp_path).items():
            assert {s.status for s in seen.values()} == {"CANCELLED"}, parser
