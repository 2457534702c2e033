"""app.feeds.timezones: VTIMEZONEs from the tz database's own rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.feeds.timezones import DateRule, fits_rule, parse_posix_tz, vtimezone_lines, zone_rule

# Northern and southern daylight saving, half- and quarter-hour offsets,
# a 30-minute DST shift, and zones without DST.
ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
]


class TestParsePosixTz:
    def test_central_european_time(self):
        rule = parse_posix_tz("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3")
        assert rule is not None
        assert rule.std_offset == timedelta(hours=1)
        assert rule.dst_offset == timedelta(hours=2)
        assert rule.dst_start == DateRule(3, 5, 0, timedelta(hours=2))
        assert rule.dst_end == DateRule(10, 5, 0, timedelta(hours=3))

    def test_bracketed_names_and_minutes(self):
        rule = parse_posix_tz("Asia/Kathmandu", "<+0545>-5:45")
        assert rule is not None and not rule.has_dst
        assert rule.std_offset == timedelta(hours=5, minutes=45)

    def test_onset_outside_the_day_is_not_written_as_a_rule(self):
        assert parse_posix_tz("America/Nuuk", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0") is None

    def test_julian_day_forms_are_not_written_as_a_rule(self):
        assert parse_posix_tz("X/Y", "XST5XDT,J60,J300") is None

    @pytest.mark.parametrize("tzid", ["America/Santiago", "Africa/Cairo"])
    def test_zones_switching_at_24_00_are_not_written_as_a_rule(self, tzid: str):
        # `M9.1.6/24` is midnight after a Saturday: no BYDAY says that.
        assert zone_rule(tzid) is None

    def test_unknown_zone_has_no_rule(self):
        assert zone_rule("Mars/Olympus_Mons") is None
        assert zone_rule("../../etc/passwd") is None


class TestDateRule:
    def test_last_sunday_of_march(self):
        assert DateRule(3, 5, 0, timedelta(hours=2)).local_onset(2028) == datetime(2028, 3, 26, 2)

    def test_second_sunday_of_march(self):
        assert DateRule(3, 2, 0, timedelta(hours=2)).local_onset(2027) == datetime(2027, 3, 14, 2)

    def test_first_sunday_of_november(self):
        assert DateRule(11, 1, 0, timedelta(hours=2)).local_onset(2026) == datetime(2026, 11, 1, 2)

    def test_rrule_text(self):
        assert DateRule(10, 5, 0, timedelta(hours=3)).rrule() == "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"


class TestRuleAgreesWithZoneinfo:
    @pytest.mark.parametrize("tzid", ZONES)
    def test_offsets_every_six_hours_2026_to_2029(self, tzid: str):
        rule = zone_rule(tzid)
        assert rule is not None, tzid
        real = ZoneInfo(tzid)
        instant = datetime(2026, 1, 1, tzinfo=UTC)
        while instant < datetime(2030, 1, 1, tzinfo=UTC):
            assert rule.offset_at(instant) == instant.astimezone(real).utcoffset(), instant
            instant += timedelta(hours=6)

    @pytest.mark.parametrize("tzid", ZONES)
    def test_every_hour_of_2027_fits_except_the_repeated_hour(self, tzid: str):
        rule = zone_rule(tzid)
        assert rule is not None
        instant = datetime(2027, 1, 1, tzinfo=UTC)
        misfits = []
        while instant < datetime(2028, 1, 1, tzinfo=UTC):
            if not fits_rule(instant, rule):
                misfits.append(instant)
            instant += timedelta(minutes=30)
        # Only the wall times that occur twice (fall back) may not fit:
        # at most one DST shift's worth of half hours.
        shift = (rule.dst_offset - rule.std_offset) if rule.dst_offset else timedelta(0)
        # Each repeated wall time stands for two instants, and both are refused.
        limit = 2 * int(shift / timedelta(minutes=30))
        assert len(misfits) <= limit, misfits

    @pytest.mark.parametrize(
        "tzid",
        ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"],
    )
    def test_the_fast_check_agrees_with_reading_the_wall_time_back(self, tzid: str):
        rule = zone_rule(tzid)
        assert rule is not None
        real = ZoneInfo(tzid)
        # Every quarter hour of the months in which clocks change.
        for month in (3, 4, 9, 10, 11):
            instant = datetime(2027, month, 1, tzinfo=UTC)
            while instant.month == month:
                wall = instant.astimezone(real).replace(tzinfo=None)
                assert fits_rule(instant, rule) == (rule.instants_for(wall) == [instant]), instant
                instant += timedelta(minutes=15)

    def test_the_second_130_am_in_new_york_does_not_fit(self):
        rule = zone_rule("America/New_York")
        assert rule is not None
        first = datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT
        second = datetime(2027, 11, 7, 6, 30, tzinfo=UTC)  # 01:30 EST
        assert not fits_rule(first, rule)  # ambiguous: ical.js takes the second
        assert not fits_rule(second, rule)
        assert fits_rule(datetime(2027, 11, 7, 7, 30, tzinfo=UTC), rule)


class TestVtimezoneLines:
    def test_berlin_uses_yearly_rules(self):
        rule = zone_rule("Europe/Berlin")
        assert rule is not None
        assert vtimezone_lines(rule) == [
            "BEGIN:VTIMEZONE",
            "TZID:Europe/Berlin",
            "X-LIC-LOCATION:Europe/Berlin",
            "BEGIN:DAYLIGHT",
            "DTSTART:19700329T020000",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "TZNAME:CEST",
            "END:DAYLIGHT",
            "BEGIN:STANDARD",
            "DTSTART:19701025T030000",
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "TZNAME:CET",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]

    def test_shanghai_has_one_standard_time(self):
        rule = zone_rule("Asia/Shanghai")
        assert rule is not None
        lines = vtimezone_lines(rule)
        assert "TZOFFSETTO:+0800" in lines
        assert not any(line.startswith("RRULE") for line in lines)
