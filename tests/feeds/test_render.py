"""app.feeds.render on plain data: RFC 5545 text that every parser reads alike."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.feeds.render import (
    EventInfo,
    FeedInfo,
    ItemInfo,
    escape_text,
    fold,
    render_feed,
)
from tests.feeds.parsers import content_lines, every_parser, icaljs_raw, with_icalendar

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2027, 1, 15, tzinfo=UTC)
GRACE = timedelta(days=30)
STAMP = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
FEED = FeedInfo(
    name="Double 11, design; 双十一",
    planner_url="https://plan.example.com/",
    description="promoplan feed — milestones",
    alarm_minutes=60,
)


def event(**overrides) -> EventInfo:
    values = {
        "id": 1,
        "uid": "8d1c3d0e-0000-4000-8000-000000000001",
        "name": "Double 11",
        "status": "scheduled",
        "timezone": "Asia/Shanghai",
        "updated_at": STAMP,
        "url": "https://plan.example.com/#/events/1",
    }
    return EventInfo(**{**values, **overrides})


def item(uid: str, starts_at: datetime, **overrides) -> ItemInfo:
    values = {
        "uid": uid,
        "kind": "milestone",
        "name": "报名截止 sign-up closes",
        "starts_at": starts_at,
        "ends_at": starts_at,
        "updated_at": STAMP,
        "version": 1,
        "event": event(),
    }
    return ItemInfo(**{**values, **overrides})


def render(items, *, feed: FeedInfo = FEED, now: datetime = NOW) -> bytes:
    return render_feed(feed, items, now=now, cancelled_grace=GRACE)


def golden_items() -> list[ItemInfo]:
    """One of each shape: a whole-day phase, a timed task, milestones in
    three zones (two with daylight saving), a cancelled event's item."""
    berlin = event(id=2, uid="e-berlin", name="EU Week", timezone="Europe/Berlin")
    new_york = event(id=3, uid="e-ny", name="Prime, Day; \\US", timezone="America/New_York")
    cancelled = event(
        id=4,
        uid="e-cancelled",
        name="38 女王节",
        status="cancelled",
        cancelled_at=datetime(2027, 1, 10, tzinfo=UTC),
    )
    return [
        item(
            "phase-presale",
            datetime(2027, 11, 9, 16, tzinfo=UTC),
            kind="phase",
            name="预售 presale",
            ends_at=datetime(2027, 11, 10, 16, tzinfo=UTC),
            version=3,
        ),
        item(
            "task-page",
            datetime(2027, 10, 20, 1, tzinfo=UTC),
            kind="task",
            name="Build the landing page",
            ends_at=datetime(2027, 10, 22, 10, tzinfo=UTC),
            team="design",
            progress=40,
            required=True,
            description="Hero banner, floors 1–3.\nAsk 运营 for copy, by Friday; thanks!",
        ),
        item("ms-berlin-summer", datetime(2028, 3, 27, 8, tzinfo=UTC), event=berlin, team="design"),
        item("ms-berlin-winter", datetime(2027, 12, 1, 9, tzinfo=UTC), event=berlin),
        item("ms-ny-summer", datetime(2027, 7, 4, 14, tzinfo=UTC), event=new_york),
        item("ms-ny-winter", datetime(2027, 1, 20, 15, tzinfo=UTC), event=new_york),
        item("ms-cancelled", datetime(2027, 3, 7, 2, tzinfo=UTC), event=cancelled, version=2),
    ]


class TestGolden:
    def test_the_feed_matches_the_golden_file(self):
        body = render(golden_items())
        expected = (GOLDEN / "mixed.ics").read_bytes()
        assert body == expected, "render output changed; bump RENDER_FORMAT if intended"

    def test_unchanged_data_gives_identical_bytes_whatever_the_input_order(self):
        items = golden_items()
        first = render(items)
        for seed in range(5):
            shuffled = items[:]
            random.Random(seed).shuffle(shuffled)
            assert render(shuffled, now=NOW + timedelta(hours=seed)) == first


class TestStructure:
    def test_calendar_properties(self):
        lines = content_lines(render(golden_items()))
        assert lines[:4] == [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//promoplan//promoplan feeds 1.0//EN",
            "CALSCALE:GREGORIAN",
        ]
        assert "NAME:Double 11\\, design\\; 双十一" in lines
        assert "X-WR-CALNAME:Double 11\\, design\\; 双十一" in lines
        assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
        assert "X-PUBLISHED-TTL:PT1H" in lines
        assert not any(line.startswith("METHOD") for line in lines)
        assert lines[-1] == "END:VCALENDAR"

    def test_crlf_and_lines_of_at_most_75_octets(self):
        body = render(golden_items())
        assert b"\n" not in body.replace(b"\r\n", b"")
        for line in body.split(b"\r\n"):
            assert len(line) <= 75, line

    def test_every_event_has_the_required_properties_once(self):
        calendar = icalendar.Calendar.from_ical(render(golden_items()))
        events = calendar.walk("VEVENT")
        assert len(events) == 7
        for component in events:
            for name in ("UID", "DTSTAMP", "DTSTART", "SEQUENCE", "LAST-MODIFIED", "STATUS"):
                assert component.get(name) is not None, name
                assert not isinstance(component.get(name), list), name

    def test_every_tzid_has_its_vtimezone(self):
        calendar = icalendar.Calendar.from_ical(render(golden_items()))
        assert calendar.get_missing_tzids() == set()
        assert {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")} == {
            "America/New_York",
            "Asia/Shanghai",
            "Europe/Berlin",
        }

    def test_an_empty_feed_is_still_a_calendar(self):
        body = render([])
        assert icalendar.Calendar.from_ical(body).walk("VEVENT") == []
        assert "NAME:Double 11\\, design\\; 双十一" in content_lines(body)


class TestItems:
    def test_a_phase_of_whole_local_days_is_an_all_day_item(self):
        seen = with_icalendar(render(golden_items()))["phase-presale"]
        # 2027-11-10 00:00 to 11-11 00:00 in Shanghai: DTEND is exclusive.
        assert (seen.start, seen.end) == (date(2027, 11, 10), date(2027, 11, 11))

    def test_a_zero_length_milestone_has_no_dtend(self):
        lines = content_lines(render([item("m", datetime(2027, 11, 1, 2, tzinfo=UTC))]))
        assert "DTSTART;TZID=Asia/Shanghai:20271101T100000" in lines
        assert not any(line.startswith("DTEND") for line in lines)

    def test_dtstamp_and_last_modified_come_from_the_stored_change(self):
        lines = content_lines(render([item("m", datetime(2027, 11, 1, tzinfo=UTC))]))
        assert "DTSTAMP:20261201T083000Z" in lines
        assert "LAST-MODIFIED:20261201T083000Z" in lines

    def test_alarm_before_each_milestone_only(self):
        items = golden_items()
        calendar = icalendar.Calendar.from_ical(render(items))
        by_uid = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
        alarms = by_uid["ms-berlin-summer"].walk("VALARM")
        assert len(alarms) == 1
        assert str(alarms[0]["ACTION"]) == "DISPLAY"
        assert alarms[0].decoded("TRIGGER") == timedelta(minutes=-60)
        assert by_uid["phase-presale"].walk("VALARM") == []
        assert by_uid["task-page"].walk("VALARM") == []
        # A cancelled milestone must not ring.
        assert by_uid["ms-cancelled"].walk("VALARM") == []

    def test_no_alarm_unless_asked(self):
        body = render(golden_items(), feed=replace(FEED, alarm_minutes=None))
        assert b"VALARM" not in body

    def test_description_categories_and_url(self):
        calendar = icalendar.Calendar.from_ical(render(golden_items()))
        task = next(e for e in calendar.walk("VEVENT") if str(e["UID"]) == "task-page")
        text = str(task["DESCRIPTION"])
        assert "Team: design" in text and "Progress: 40%" in text
        assert "Ask 运营 for copy, by Friday; thanks!" in text
        assert task["CATEGORIES"].cats == ["Double 11", "Task", "design"]
        assert str(task["URL"]) == "https://plan.example.com/#/events/1"

    def test_draft_items_are_tentative(self):
        body = render([item("m", datetime(2027, 11, 1, tzinfo=UTC), event=event(status="draft"))])
        assert "STATUS:TENTATIVE" in content_lines(body)


class TestSequence:
    def seq(self, one: ItemInfo) -> int:
        return with_icalendar(render([one]))[one.uid].sequence

    def test_starts_at_zero_for_a_new_draft_item(self):
        one = item("m", datetime(2027, 11, 1, tzinfo=UTC), event=event(status="draft"))
        assert self.seq(one) == 0

    def test_grows_with_each_change_and_each_lifecycle_step(self):
        start = datetime(2027, 11, 1, tzinfo=UTC)
        steps = [
            item("m", start, event=event(status="draft")),
            item("m", start + timedelta(days=1), event=event(status="draft"), version=2),
            item("m", start + timedelta(days=1), event=event(status="scheduled"), version=2),
            item("m", start + timedelta(days=2), event=event(status="live"), version=3),
            item(
                "m",
                start + timedelta(days=2),
                event=event(status="cancelled", cancelled_at=NOW),
                version=3,
            ),
        ]
        sequences = [self.seq(step) for step in steps]
        assert sequences == sorted(sequences)
        assert len(set(sequences)) == len(sequences), sequences


class TestCancelled:
    def cancelled(self, at: datetime) -> ItemInfo:
        return item(
            "m",
            datetime(2027, 11, 1, tzinfo=UTC),
            event=event(status="cancelled", cancelled_at=at),
        )

    def test_stays_as_cancelled_within_the_grace_period(self):
        seen = with_icalendar(render([self.cancelled(NOW - GRACE + timedelta(hours=1))]))
        assert seen["m"].status == "CANCELLED"
        assert seen["m"].summary.startswith("Cancelled: ")

    def test_dropped_after_the_grace_period(self):
        assert with_icalendar(render([self.cancelled(NOW - GRACE)])) == {}


class TestTextValues:
    def test_escapes_commas_semicolons_backslashes_and_newlines(self):
        assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"

    def test_colons_are_not_escaped(self):
        assert escape_text("10:00 launch") == "10:00 launch"

    def test_control_characters_are_dropped(self):
        assert escape_text("a\x00b\x1bc\td") == "abc\td"

    def test_fold_never_splits_a_chinese_character(self):
        line = "SUMMARY:" + "双十一预售" * 40
        folded = fold(line)
        for part in folded.encode().split(b"\r\n"):
            assert len(part) <= 75
            part.decode()  # each physical line is valid UTF-8 on its own
        assert folded.replace("\r\n ", "") == line

    def test_fold_keeps_escape_pairs_together(self):
        line = "SUMMARY:" + "x" * 66 + "\\,after"
        assert "\\\r\n ," not in fold(line)

    @settings(max_examples=150, deadline=None)
    @given(st.text(min_size=0, max_size=300))
    def test_any_text_survives_icalendar_round_trip(self, text: str):
        name = text or "x"
        expected = name.replace("\r\n", "\n").replace("\r", "\n")
        expected = "".join(c for c in expected if c in "\t\n" or not (ord(c) < 32 or ord(c) == 127))
        one = item("m", datetime(2027, 11, 1, tzinfo=UTC), name=name)
        calendar = icalendar.Calendar.from_ical(render([one]))
        (parsed,) = calendar.walk("VEVENT")
        assert str(parsed["SUMMARY"]) == f"Double 11 · {expected}"


class TestZonesWithoutAWritableRule:
    def test_are_written_in_utc(self, tmp_path: Path):
        instant = datetime(2027, 10, 1, 15, tzinfo=UTC)
        body = render([item("m", instant, event=event(timezone="America/Santiago"))])
        assert "DTSTART:20271001T150000Z" in content_lines(body)
        assert b"VTIMEZONE" not in body
        for parser, found in every_parser(body, tmp_path).items():
            assert found["m"].start == instant, parser


class TestTimeZonesInEveryParser:
    """The whole point: each item lands at the same instant in icalendar,
    ical.js (Thunderbird) and vobject, in DST zones too."""

    def test_every_item_lands_at_its_instant(self, tmp_path: Path):
        items = golden_items()
        seen = every_parser(render(items), tmp_path)
        for one in items:
            if one.kind == "phase":
                continue
            for parser, found in seen.items():
                assert found[one.uid].start == one.starts_at, (parser, one.uid)
                if one.ends_at > one.starts_at:
                    assert found[one.uid].end == one.ends_at, (parser, one.uid)

    @pytest.mark.parametrize(
        ("tzid", "local", "utc"),
        [
            ("Europe/Berlin", datetime(2028, 3, 27, 10), datetime(2028, 3, 27, 8)),
            ("Europe/Berlin", datetime(2028, 1, 27, 10), datetime(2028, 1, 27, 9)),
            ("America/New_York", datetime(2027, 7, 4, 10), datetime(2027, 7, 4, 14)),
            ("America/New_York", datetime(2027, 12, 4, 10), datetime(2027, 12, 4, 15)),
            # The day clocks spring forward and fall back.
            ("America/New_York", datetime(2027, 3, 14, 3, 30), datetime(2027, 3, 14, 7, 30)),
            ("America/New_York", datetime(2027, 11, 7, 1, 30), datetime(2027, 11, 7, 5, 30)),
            ("America/New_York", datetime(2027, 11, 7, 1, 30), datetime(2027, 11, 7, 6, 30)),
            ("Australia/Sydney", datetime(2027, 1, 10, 9), datetime(2027, 1, 9, 22)),
        ],
    )
    def test_local_times_in_dst_zones(self, tmp_path: Path, tzid, local, utc):
        instant = utc.replace(tzinfo=UTC)
        one = item("m", instant, event=event(timezone=tzid))
        body = render([one])
        for parser, found in every_parser(body, tmp_path).items():
            assert found["m"].start == instant, parser
        js = icaljs_raw(body, tmp_path)["events"][0]
        if js["tzid"] != "UTC":  # written with TZID: the wall time is the local one
            assert js["start_text"] == local.isoformat()

    def test_icalendar_own_vtimezone_is_what_ical_js_misreads(self, tmp_path: Path):
        """Why render writes its own VTIMEZONEs: the same summer item with
        icalendar 7.3's generated zone lands an hour off in ical.js."""
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//test//EN")
        calendar.add("version", "2.0")
        vevent = icalendar.Event()
        vevent.add("uid", "m")
        vevent.add("dtstamp", STAMP)
        from zoneinfo import ZoneInfo

        vevent.add("dtstart", datetime(2028, 3, 27, 10, tzinfo=ZoneInfo("Europe/Berlin")))
        calendar.add_component(vevent)
        calendar.add_missing_timezones()
        (js,) = icaljs_raw(calendar.to_ical(), tmp_path)["events"]
        assert js["start"] != datetime(2028, 3, 27, 8, tzinfo=UTC).timestamp()
