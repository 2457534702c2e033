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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.feeds.timezones import ZoneRule, fits_rule, vtimezone_lines, zone_rule

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


def is_shown(event: EventInfo, *, now: datetime, cancelled_grace: timedelta) -> bool:
    """A cancelled event's items stay (as CANCELLED) for the grace period, so
    that subscribed calendars say so instead of silently dropping them."""
    if event.status != "cancelled":
        return True
    cancelled_at = event.cancelled_at or event.updated_at
    return now < cancelled_at + cancelled_grace


def sequence(item: ItemInfo) -> int:
    """Starts at 0 (version 1, a draft) and grows with every change to the
    item and every step of its event's lifecycle."""
    return max(item.version - 1, 0) + _STATUS_RANK.get(item.event.status, 1)


def last_modified(item: ItemInfo) -> datetime:
    stamps = [item.updated_at, item.event.updated_at]
    if item.event.cancelled_at is not None:
        stamps.append(item.event.cancelled_at)
    return max(stamps).astimezone(UTC)


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


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


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


class _Zones:
    """The zones the feed's values use, so each VTIMEZONE is written once."""

    def __init__(self) -> None:
        self.used: dict[str, ZoneRule] = {}

    def timed(self, name: str, instant: datetime, tzid: str) -> str:
        """`NAME;TZID=zone:local` when every client reads that back as the
        same instant, else `NAME:...Z` (also for UTC itself)."""
        rule = zone_rule(tzid)
        if rule is None or (not rule.has_dst and rule.std_offset == timedelta(0)):
            return f"{name}:{_utc(instant)}"
        local = instant.astimezone(ZoneInfo(tzid))
        if not fits_rule(instant, rule, local):
            return f"{name}:{_utc(instant)}"
        self.used[tzid] = rule
        return f"{name};TZID={tzid}:{local:%Y%m%dT%H%M%S}"


def _all_day_dates(item: ItemInfo) -> tuple[str, str] | None:
    """DATE values when the item covers whole local days of its event's zone."""
    try:
        tz = ZoneInfo(item.event.timezone)
    except (ValueError, KeyError):
        return None
    start = item.starts_at.astimezone(tz)
    end = item.ends_at.astimezone(tz)
    if end <= start or start.timetz().replace(tzinfo=None) != time(0):
        return None
    if end.timetz().replace(tzinfo=None) != time(0):
        return None
    return start.strftime("%Y%m%d"), end.strftime("%Y%m%d")


def _time_lines(item: ItemInfo, zones: _Zones) -> list[str]:
    dates = _all_day_dates(item)
    if dates is not None:
        return [f"DTSTART;VALUE=DATE:{dates[0]}", f"DTEND;VALUE=DATE:{dates[1]}"]
    tzid = item.event.timezone
    lines = [zones.timed("DTSTART", item.starts_at, tzid)]
    # A zero-length milestone has no DTEND: it then ends when it starts
    # (§3.6.1); a DTEND equal to DTSTART would break "later than".
    if item.ends_at > item.starts_at:
        lines.append(zones.timed("DTEND", item.ends_at, tzid))
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


def vevent_lines(item: ItemInfo, zones: _Zones, *, alarm_minutes: int | None) -> list[str]:
    modified = _utc(last_modified(item))
    status = _ICAL_STATUS.get(item.event.status, "CONFIRMED")
    title = escape_text(summary(item))
    lines = [
        "BEGIN:VEVENT",
        f"UID:{item.uid}",
        f"DTSTAMP:{modified}",
        *_time_lines(item, zones),
        f"SUMMARY:{title}",
        f"DESCRIPTION:{escape_text(description(item))}",
        "CATEGORIES:" + ",".join(escape_text(c) for c in categories(item)),
        f"URL:{item.event.url}",
        f"STATUS:{status}",
        f"SEQUENCE:{sequence(item)}",
        f"LAST-MODIFIED:{modified}",
        "TRANSP:TRANSPARENT",
    ]
    if alarm_minutes is not None and item.kind == "milestone" and status != "CANCELLED":
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"TRIGGER:{_duration(-timedelta(minutes=alarm_minutes))}",
            f"DESCRIPTION:{title}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


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
    shown: Sequence[ItemInfo] = sorted(
        (i for i in items if is_shown(i.event, now=now, cancelled_grace=cancelled_grace)),
        key=item_order,
    )
    zones = _Zones()
    body: list[str] = []
    for item in shown:
        body += vevent_lines(item, zones, alarm_minutes=feed.alarm_minutes)
    lines = calendar_head(feed)
    for tzid in sorted(zones.used):
        lines += vtimezone_lines(zones.used[tzid])
    lines += body
    lines.append("END:VCALENDAR")
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode()
