"""Events, phases and tasks -> an RFC 5545 / RFC 7986 calendar, as bytes.

Pure: plain data in, bytes out, `now` an argument. Unchanged data gives
byte-identical output: DTSTAMP and LAST-MODIFIED come from the stored change
times, SEQUENCE from the stored versions, and items are sorted by start and
UID, so a calendar app polling an unchanged feed sees the same ETag.

The content lines are written here rather than through icalendar's component
tree: icalendar 7.3 takes about 2 s for 5,000 items on the 2-core sandbox
(bench/README.md), four times the budget, and its calendar factories
would need stable-UID, DTSTAMP, NAME and REFRESH-INTERVAL workarounds anyway
(standards.md A). The tests parse every shape back with icalendar, ical.js
and vobject, and check this module's escaping and folding against
icalendar's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from app.feeds.timezones import fits_rule, vtimezone_lines, zone_rule

PRODID = "-//promoplan//promoplan feeds 1.0//EN"
DEFAULT_REFRESH = timedelta(hours=1)
KINDS = ("phases", "milestones", "tasks")

# Lifecycle rank added to SEQUENCE: an item's own version does not move
# when its event is scheduled or cancelled, but its STATUS does (§3.8.7.4).
_STATUS_RANK = {"draft": 0, "scheduled": 1, "live": 1, "ended": 1, "cancelled": 2}
_ICAL_STATUS = {"draft": "TENTATIVE", "cancelled": "CANCELLED"}
_KIND_LABEL = {"phase": "Phase", "milestone": "Milestone", "task": "Task"}


@dataclass(frozen=True)
class FeedInfo:
    """The calendar-level properties."""

    name: str
    planner_url: str
    description: str | None = None
    source_url: str | None = None  # RFC 7986 SOURCE: where to refresh from
    refresh: timedelta = DEFAULT_REFRESH
    alarm_minutes: int | None = None


@dataclass(frozen=True)
class EventInfo:
    id: int
    uid: str
    name: str
    status: str
    timezone: str
    updated_at: datetime
    url: str
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class ItemInfo:
    """One phase, milestone or task of an event."""

    uid: str
    kind: str  # "phase" | "milestone" | "task"
    name: str
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    version: int
    event: EventInfo
    key: str | None = None  # a phase's key or a task's code
    team: str | None = None
    progress: int | None = None
    required: bool = False
    description: str | None = None


# --- what shows -------------------------------------------------------------


def shown_until(event: EventInfo, *, cancelled_grace: timedelta) -> datetime | None:
    """When a cancelled event's items leave feeds (None: never, for an event
    that is not cancelled). They stay, as CANCELLED, for the grace period,
    so that subscribed calendars say so instead of silently dropping them."""
    if event.status != "cancelled":
        return None
    return (event.cancelled_at or event.updated_at) + cancelled_grace


def is_shown(event: EventInfo, *, now: datetime, cancelled_grace: timedelta) -> bool:
    until = shown_until(event, cancelled_grace=cancelled_grace)
    return until is None or now < until


# --- text values (RFC 5545 §3.3.11, §3.1) -----------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon, comma and newline escaped; other
    control characters, which TEXT may not hold, dropped."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    # str.replace is several times faster than translate() here.
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 sequence
    or an escape pair (`\\,`: some clients unescape line by line);
    continuation lines start with one space."""
    if len(line) <= 75 and (line.isascii() or len(line.encode()) <= 75):
        return line
    data = line.encode()
    pieces: list[bytes] = []
    start, limit = 0, 75
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # inside a multi-byte character
            cut -= 1
        if _ends_in_escape(data, start, cut):
            cut -= 1
        pieces.append(data[start:cut])
        start, limit = cut, 74  # the leading space counts
    pieces.append(data[start:])
    return b"\r\n ".join(pieces).decode()


def _ends_in_escape(data: bytes, start: int, cut: int) -> bool:
    """True when data[start:cut] ends in the backslash of an escape pair."""
    count = 0
    while cut - 1 - count >= start and data[cut - 1 - count] == 0x5C:
        count += 1
    return count % 2 == 1


def _wall(value: datetime) -> str:
    """`value.strftime("%Y%m%dT%H%M%S")`, four times faster: this runs for
    nearly every value of every feed. (strftime does not pad years before
    1000, so neither does this.)"""
    if value.year < 1000:
        return value.strftime("%Y%m%dT%H%M%S")
    return "%04d%02d%02dT%02d%02d%02d" % (  # noqa: UP031 - faster than f-strings
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )


def _utc(value: datetime) -> str:
    return _wall(value.astimezone(UTC)) + "Z"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes == 0:
        return "PT0S"
    sign = "-" if minutes < 0 else ""
    days, rest = divmod(abs(minutes), 1440)
    hours, mins = divmod(rest, 60)
    text = f"{sign}P" + (f"{days}D" if days else "")
    if hours or mins:
        text += "T" + (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return text


# --- times ------------------------------------------------------------------


class _Zone:
    """One event time zone, looked up once per feed rather than per value."""

    def __init__(self, tzid: str) -> None:
        self.tzid = tzid
        self.used = False  # some value was written with this TZID
        try:
            self.zone: ZoneInfo | None = ZoneInfo(tzid)
        except (ValueError, KeyError):
            self.zone = None
        rule = zone_rule(tzid)
        # UTC itself, and zones without a writable rule, are written in UTC.
        if rule is not None and not rule.has_dst and rule.std_offset == timedelta(0):
            rule = None
        self.rule = rule
        self.prefix = f";TZID={tzid}:"
        # Whether DTSTART/DTEND lines in this zone fit without folding.
        self.short = self.prefix.isascii() and len(f"DTSTART{self.prefix}YYYYMMDDTHHMMSS") <= 75

    def timed(self, name: str, instant: datetime, local: datetime | None) -> str:
        """`NAME;TZID=zone:local` when every client reads that back as the
        same instant, else `NAME:...Z`. `local` is `instant` in the zone."""
        rule = self.rule
        if rule is None or self.zone is None:
            return f"{name}:{_utc(instant)}"
        if local is None:
            local = instant.astimezone(self.zone)
        if not fits_rule(instant, rule, local):
            return f"{name}:{_utc(instant)}"
        self.used = True
        line = f"{name}{self.prefix}{_wall(local)}"
        return line if self.short else fold(line)


def _is_midnight(local: datetime) -> bool:
    return local.hour == 0 and local.minute == 0 and local.second == 0 and not local.microsecond


def _time_lines(item: ItemInfo, zone: _Zone) -> list[str]:
    """DATE values when the item covers whole local days of its event's
    zone; else date-times in that zone (or UTC)."""
    start = end = None
    if zone.zone is not None:
        start = item.starts_at.astimezone(zone.zone)
        end = item.ends_at.astimezone(zone.zone)
        if end > start and _is_midnight(start) and _is_midnight(end):
            return [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"]
    lines = [zone.timed("DTSTART", item.starts_at, start)]
    # A zero-length milestone has no DTEND: it then ends when it starts
    # (§3.6.1); a DTEND equal to DTSTART would break "later than".
    if item.ends_at > item.starts_at:
        lines.append(zone.timed("DTEND", item.ends_at, end))
    return lines


# --- components -------------------------------------------------------------


def summary(item: ItemInfo) -> str:
    text = f"{item.event.name} · {item.name}"
    if item.kind == "task" and item.team:
        text += f" ({item.team})"
    # Outlook ignores STATUS:CANCELLED; the word keeps it honest there.
    return f"Cancelled: {text}" if item.event.status == "cancelled" else text


def description(item: ItemInfo) -> str:
    lines = [f"{item.event.name} ({item.event.status})", f"{_KIND_LABEL[item.kind]}: {item.name}"]
    if item.team:
        lines.append(f"Team: {item.team}")
    if item.kind == "task" and item.progress is not None:
        lines.append(f"Progress: {item.progress}%")
    if item.required:
        lines.append("Required before launch")
    if item.description:
        lines += ["", item.description]
    lines += ["", item.event.url]
    return "\n".join(lines)


def categories(item: ItemInfo) -> list[str]:
    values = [item.event.name, _KIND_LABEL[item.kind]]
    if item.team:
        values.append(item.team)
    return values


class _EventParts(NamedTuple):
    """What every item of one event writes alike."""

    status: str  # STATUS
    url_line: str
    rank: int  # lifecycle rank, added to SEQUENCE
    changed_at: datetime  # the event's last change (or cancellation)
    zone: _Zone


class _Writer:
    """Writes the VEVENTs of one feed. What every item of an event, or every
    item of the feed, shares is worked out once: a year's feed has thousands
    of items and a handful of events and zones."""

    def __init__(self, feed: FeedInfo) -> None:
        self.alarm_trigger = (
            None
            if feed.alarm_minutes is None
            else f"TRIGGER:{_duration(-timedelta(minutes=feed.alarm_minutes))}"
        )
        self.zones: dict[str, _Zone] = {}
        self._events: dict[int, _EventParts] = {}
        self._stamps: dict[datetime, str] = {}
        self._labels: dict[tuple[str, str, str | None], str] = {}

    def _event(self, event: EventInfo) -> _EventParts:
        # Keyed by identity: the items of one event share its EventInfo (and
        # `sorted` keeps every item alive), and hashing the dataclass would
        # cost more than this saves.
        found = self._events.get(id(event))
        if found is None:
            zone = self.zones.get(event.timezone)
            if zone is None:
                zone = self.zones[event.timezone] = _Zone(event.timezone)
            changed = event.updated_at
            if event.cancelled_at is not None:
                changed = max(changed, event.cancelled_at)
            found = _EventParts(
                status=_ICAL_STATUS.get(event.status, "CONFIRMED"),
                url_line=fold(f"URL:{event.url}"),
                rank=_STATUS_RANK.get(event.status, 1),
                changed_at=changed,
                zone=zone,
            )
            self._events[id(event)] = found
        return found

    def _stamp(self, at: datetime) -> str:
        text = self._stamps.get(at)
        if text is None:
            text = self._stamps[at] = _utc(at)
        return text

    def _categories(self, item: ItemInfo) -> str:
        key = (item.kind, item.event.name, item.team)
        line = self._labels.get(key)
        if line is None:
            line = fold("CATEGORIES:" + ",".join(escape_text(c) for c in categories(item)))
            self._labels[key] = line
        return line

    def vevent(self, item: ItemInfo) -> str:
        """One VEVENT as folded content lines joined by CRLF."""
        status, url_line, rank, event_changed, zone = self._event(item.event)
        # DTSTAMP and LAST-MODIFIED: the item's or its event's last change,
        # never now, so unchanged data gives the same bytes.
        modified = self._stamp(max(item.updated_at, event_changed))
        title = escape_text(summary(item))
        lines = [
            "BEGIN:VEVENT",
            fold(f"UID:{item.uid}"),
            f"DTSTAMP:{modified}",
            *_time_lines(item, zone),
            fold(f"SUMMARY:{title}"),
            fold(f"DESCRIPTION:{escape_text(description(item))}"),
            self._categories(item),
            url_line,
            f"STATUS:{status}",
            # Starts at 0 (version 1, a draft) and grows with every change to
            # the item and every step of its event's lifecycle.
            f"SEQUENCE:{max(item.version - 1, 0) + rank}",
            f"LAST-MODIFIED:{modified}",
            "TRANSP:TRANSPARENT",
        ]
        if self.alarm_trigger is not None and item.kind == "milestone" and status != "CANCELLED":
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                self.alarm_trigger,
                fold(f"DESCRIPTION:{title}"),
                "END:VALARM",
            ]
        lines.append("END:VEVENT")
        return "\r\n".join(lines)


def calendar_head(feed: FeedInfo) -> list[str]:
    name = escape_text(feed.name)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"NAME:{name}",
        f"X-WR-CALNAME:{name}",
    ]
    if feed.description:
        text = escape_text(feed.description)
        lines += [f"DESCRIPTION:{text}", f"X-WR-CALDESC:{text}"]
    refresh = _duration(feed.refresh)
    lines += [f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}", f"X-PUBLISHED-TTL:{refresh}"]
    if feed.source_url:
        lines.append(f"SOURCE:{feed.source_url}")
    return [*lines, f"URL:{feed.planner_url}"]


def item_order(item: ItemInfo) -> tuple[datetime, str]:
    return (item.starts_at.astimezone(UTC), item.uid)


def render_feed(
    feed: FeedInfo,
    items: Iterable[ItemInfo],
    *,
    now: datetime,
    cancelled_grace: timedelta,
) -> bytes:
    """The feed as `text/calendar` bytes: CRLF line ends, lines folded at 75
    octets, UTF-8. Items of events cancelled longer than `cancelled_grace`
    before `now` are left out."""
    shown = sorted(
        (i for i in items if is_shown(i.event, now=now, cancelled_grace=cancelled_grace)),
        key=item_order,
    )
    writer = _Writer(feed)
    # Every line is folded where it is made; most are short and fixed.
    body = [writer.vevent(item) for item in shown]
    lines = [fold(line) for line in calendar_head(feed)]
    for tzid in sorted(tzid for tzid, zone in writer.zones.items() if zone.used):
        rule = writer.zones[tzid].rule
        assert rule is not None
        lines += (fold(line) for line in vtimezone_lines(rule))
    lines += body
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
