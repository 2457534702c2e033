"""VTIMEZONEs that every calendar client reads the same way.

icalendar's own `add_missing_timezones()` writes a daylight-saving zone as
one multi-valued `RDATE`, which ical.js (Thunderbird) and vobject misread
(standards.md part E). Apple and Google publish zones as yearly `RRULE`s
instead, and every client understands those. So each zone is written from
the rule the tz database itself states for the present: the POSIX TZ string
at the end of the zone's TZif file (RFC 8536 §3.3), e.g.
`CET-1CEST,M3.5.0,M10.5.0/3`.

That rule can differ from history (the US changed its dates in 2007), so a
value is written with `TZID` only when reading it back through the rule gives
the same instant as zoneinfo; otherwise it is written in UTC. Either way every
parser lands on the right instant.

Pure: reads only the tz database files, never the web or the database.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

# The first onset written in each VTIMEZONE: early enough for any plan.
RULE_EPOCH_YEAR = 1970

_WEEKDAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]  # POSIX numbers Sunday 0


@dataclass(frozen=True)
class DateRule:
    """`Mm.w.d/time`: weekday d of week w (5 = last) of month m, at local `time`."""

    month: int
    week: int
    weekday: int  # POSIX: 0 = Sunday
    at: timedelta

    def local_onset(self, year: int) -> datetime:
        """The naive local wall time of the transition in `year`."""
        if self.week == 5:
            first_next = date(year + (self.month == 12), self.month % 12 + 1, 1)
            day = first_next - timedelta(days=1)
            # Python's weekday(): Monday 0; POSIX: Sunday 0.
            back = ((day.weekday() + 1) % 7 - self.weekday) % 7
            day -= timedelta(days=back)
        else:
            day = date(year, self.month, 1)
            ahead = (self.weekday - (day.weekday() + 1) % 7) % 7
            day += timedelta(days=ahead + 7 * (self.week - 1))
        return datetime(day.year, day.month, day.day) + self.at

    def rrule(self) -> str:
        nth = -1 if self.week == 5 else self.week
        return f"FREQ=YEARLY;BYMONTH={self.month};BYDAY={nth}{_WEEKDAYS[self.weekday]}"


@dataclass(frozen=True)
class ZoneRule:
    """A zone's present rule: standard time, and daylight time when it has one."""

    tzid: str
    std_name: str
    std_offset: timedelta
    dst_name: str | None = None
    dst_offset: timedelta | None = None
    dst_start: DateRule | None = None
    dst_end: DateRule | None = None

    def __hash__(self) -> int:
        # Equal rules share their tzid; hashing every field each time a
        # cache is asked cost more than the lookups it saves.
        return hash(self.tzid)

    @property
    def has_dst(self) -> bool:
        return self.dst_start is not None

    def transitions(self, year: int) -> list[tuple[datetime, timedelta]]:
        """The UTC instants in `year` where the offset changes, with the new offset."""
        if not self.has_dst:
            return []
        assert self.dst_start and self.dst_end and self.dst_offset is not None
        start = self.dst_start.local_onset(year) - self.std_offset
        end = self.dst_end.local_onset(year) - self.dst_offset
        return sorted(
            [
                (start.replace(tzinfo=UTC), self.dst_offset),
                (end.replace(tzinfo=UTC), self.std_offset),
            ]
        )

    def offset_at(self, instant: datetime) -> timedelta:
        """The UTC offset this rule gives at an aware instant."""
        return _year_facts(self, instant.year).offset_at(instant)

    def instants_for(self, wall: datetime) -> list[datetime]:
        """Every instant a naive wall time can mean under this rule: two when
        clocks fall back over it, none when they spring forward over it."""
        offsets = [self.std_offset] if not self.has_dst else [self.dst_offset, self.std_offset]
        found = []
        for offset in offsets:
            assert offset is not None
            instant = (wall - offset).replace(tzinfo=UTC)
            if self.offset_at(instant) == offset:
                found.append(instant)
        return sorted(found)


_OFFSET = r"[+-]?\d{1,3}(?::\d{2}){0,2}"
_NAME = r"<[^>]*>|[A-Za-z]{3,}"
_DATE_RULE = r"M\d{1,2}\.\d\.\d(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?"
_POSIX = re.compile(
    rf"^(?P<std>{_NAME})(?P<stdoff>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dstoff>{_OFFSET})?,(?P<start>{_DATE_RULE}),(?P<end>{_DATE_RULE}))?$"
)


def _hms(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def _date_rule(text: str) -> DateRule:
    spec, _, at = text.partition("/")
    month, week, weekday = (int(p) for p in spec[1:].split("."))
    if not (1 <= month <= 12 and 1 <= week <= 5 and 0 <= weekday <= 6):
        raise ValueError(f"bad POSIX date rule {text!r}")
    onset = _hms(at) if at else timedelta(hours=2)
    # An onset outside the day (`/-1`, `/25`) falls on another weekday than
    # the RRULE's BYDAY would say; such zones are written in UTC instead.
    if not timedelta(0) <= onset < timedelta(days=1):
        raise ValueError(f"onset {at!r} is outside the day")
    return DateRule(month, week, weekday, onset)


def parse_posix_tz(tzid: str, text: str) -> ZoneRule | None:
    """The rule of a POSIX TZ string, or None for forms we do not write
    (`Jn`/`n` day numbers, which no current IANA zone uses)."""
    match = _POSIX.match(text.strip())
    if not match:
        return None
    # POSIX offsets count west of Greenwich: `CET-1` is UTC+1.
    std_offset = -_hms(match["stdoff"])
    if not match["dst"]:
        return ZoneRule(tzid, match["std"].strip("<>"), std_offset)
    dst_offset = -_hms(match["dstoff"]) if match["dstoff"] else std_offset + timedelta(hours=1)
    try:
        dst_start, dst_end = _date_rule(match["start"]), _date_rule(match["end"])
    except ValueError:
        return None
    return ZoneRule(
        tzid,
        match["std"].strip("<>"),
        std_offset,
        match["dst"].strip("<>"),
        dst_offset,
        dst_start,
        dst_end,
    )


def _tzif_bytes(tzid: str) -> bytes | None:
    if not re.fullmatch(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*", tzid):
        return None
    for root in zoneinfo.TZPATH:
        path = Path(root) / tzid
        if path.is_file():
            return path.read_bytes()
    try:
        package, _, leaf = f"tzdata.zoneinfo.{tzid.replace('/', '.')}".rpartition(".")
        return resources.files(package).joinpath(leaf).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


@lru_cache(maxsize=512)
def zone_rule(tzid: str) -> ZoneRule | None:
    """The present rule of an IANA zone, from its TZif footer; None when the
    zone is unknown or its rule cannot be written as a yearly RRULE."""
    data = _tzif_bytes(tzid)
    if not data or not data.startswith(b"TZif") or data[4:5] < b"2":
        return None
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        return parse_posix_tz(tzid, footer.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def fits_rule(instant: datetime, rule: ZoneRule, local: datetime | None = None) -> bool:
    """True when `instant`, written as wall time in the rule's zone with a
    TZID, can only be read back as the same instant: the rule gives the
    zone's real offset then, and the wall time does not occur twice. (RFC
    5545 §3.3.5 says a repeated time means the first; ical.js takes the
    second.) `local` is the instant in the real zone, when already known.

    Same answer as `rule.instants_for(wall) == [instant]`, without building
    candidates: this runs for every timed value of every feed, so what
    depends only on the year is worked out once per year."""
    facts = _year_facts(rule, instant.year)
    if facts.is_repeated(instant):
        return False
    if local is None:
        local = instant.astimezone(ZoneInfo(rule.tzid))
    return local.utcoffset() == facts.offset_at(instant)


@dataclass(frozen=True)
class _YearFacts:
    """What a rule says about one year, worked out once."""

    std_offset: timedelta
    # The offset changes from the year before on, in order: southern zones
    # are in daylight time on 1 January.
    changes: tuple[tuple[datetime, timedelta], ...]
    # [begins, ends) windows whose wall times also occur at another instant:
    # within `shift` on either side of a change that sets clocks back.
    repeated: tuple[tuple[datetime, datetime], ...]

    def offset_at(self, instant: datetime) -> timedelta:
        offset = self.std_offset
        for at, new in self.changes:
            if at <= instant:
                offset = new
        return offset

    def is_repeated(self, instant: datetime) -> bool:
        return any(begins <= instant < ends for begins, ends in self.repeated)


@lru_cache(maxsize=4096)
def _year_facts(rule: ZoneRule, year: int) -> _YearFacts:
    if not rule.has_dst:
        return _YearFacts(rule.std_offset, (), ())
    changes = rule.transitions(year - 1) + rule.transitions(year)
    repeated = []
    for at, new in changes + rule.transitions(year + 1):
        old = rule.std_offset if new == rule.dst_offset else rule.dst_offset
        assert old is not None
        shift = old - new
        if shift > timedelta(0):
            repeated.append((at - shift, at + shift))
    return _YearFacts(rule.std_offset, tuple(changes), tuple(repeated))


def _fmt_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def vtimezone_lines(rule: ZoneRule) -> list[str]:
    """The VTIMEZONE of a rule, as unfolded content lines (RFC 5545 §3.6.5)."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{rule.tzid}", f"X-LIC-LOCATION:{rule.tzid}"]
    if not rule.has_dst:
        offset = _fmt_offset(rule.std_offset)
        return [
            *lines,
            "BEGIN:STANDARD",
            f"DTSTART:{RULE_EPOCH_YEAR}0101T000000",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            f"TZNAME:{rule.std_name}",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    assert rule.dst_start and rule.dst_end and rule.dst_offset is not None
    std, dst = _fmt_offset(rule.std_offset), _fmt_offset(rule.dst_offset)
    parts = [
        ("DAYLIGHT", rule.dst_start, std, dst, rule.dst_name),
        ("STANDARD", rule.dst_end, dst, std, rule.std_name),
    ]
    for kind, when, offset_from, offset_to, name in parts:
        onset = when.local_onset(RULE_EPOCH_YEAR)
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{onset:%Y%m%dT%H%M%S}",
            f"RRULE:{when.rrule()}",
            f"TZOFFSETFROM:{offset_from}",
            f"TZOFFSETTO:{offset_to}",
            f"TZNAME:{name}",
            f"END:{kind}",
        ]
    return [*lines, "END:VTIMEZONE"]
