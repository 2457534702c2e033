"""Use cases of the feeds domain: feed tokens, and serving them to calendar apps.

Serving is split so that the frequent case is cheap: calendar apps poll
often, and most polls find nothing new. `snapshot` summarises what the feed
shows (its events and one aggregate row per item table), which is enough for
the ETag; only a poll that needs the body calls `render`, and the bytes of
an unchanged feed come from a small in-process cache. The summary itself is
remembered in process against the plan's change count, which database
triggers keep (`FeedEventStamp`), so a poll of an unchanged feed is two small
indexed reads.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from urllib.parse import urlsplit, urlunsplit

from sqlmodel import Session

from app import audit
from app.auth import Principal, hash_key
from app.calendar import service as calendar_service
from app.calendar.models import Event
from app.config import get_settings
from app.errors import ValidationProblem
from app.feeds import render as renderer
from app.feeds import repository
from app.feeds.errors import FeedNotFound
from app.feeds.models import Feed
from app.feeds.schemas import FeedCreate, FeedCreated, FeedFilterRead, FeedRead
from app.pagination import Page, PageParams, paginate
from app.types import utcnow
from app.versioning import check_version

TOKEN_BYTES = 32  # 256 bits: unguessable, so the URL alone may be the secret
TOKEN_HINT_LENGTH = 6
# Anything else cannot be a token we gave out: answer 404 without a query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")
# Bump when render.py's output changes, so cached ETags stop matching.
RENDER_FORMAT = "1"
_CACHE_SIZE = 64  # feeds
_SNAPSHOTS_SIZE = 1024  # feeds
_CACHE_BYTES = 64 * 1024 * 1024  # a year's feed is about 3 MB


# --- tokens and URLs --------------------------------------------------------


def feed_url(token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/feeds/{token}.ics"


def webcal_url(url: str) -> str:
    """The webcal:// twin of an http(s) URL: only a link that opens the
    calendar app (the scheme is provisional; apps fetch over http(s))."""
    parts = urlsplit(url)
    return urlunsplit(("webcal", *parts[1:]))


def planner_url(event_id: int | None = None) -> str:
    base = get_settings().public_url.rstrip("/") + "/"
    return base if event_id is None else f"{base}#/events/{event_id}"


# --- management -------------------------------------------------------------


def to_read(feed: Feed) -> FeedRead:
    assert feed.id is not None
    return FeedRead(
        id=feed.id,
        name=feed.name,
        filter=FeedFilterRead(**feed.filter_dict()),
        alarm_minutes=feed.alarm_minutes,
        token_hint=feed.token_hint,
        created_by=feed.created_by,
        created_at=feed.created_at,
        revoked_at=feed.revoked_at,
        version=feed.version,
    )


def _check_events_exist(session: Session, event_ids: list[int] | None) -> None:
    if not event_ids:
        return
    found = {e.id for e in calendar_service.list_events(session, event_ids=event_ids)}
    missing = [
        (["body", "filter", "event_ids", index], f"no event {event_id}")
        for index, event_id in enumerate(event_ids)
        if event_id not in found
    ]
    if missing:
        raise ValidationProblem(missing)


def create(session: Session, *, data: FeedCreate, actor: Principal) -> FeedCreated:
    """A new feed and its token, shown in this answer only."""
    _check_events_exist(session, data.filter.event_ids)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = repository.add(
        session,
        Feed(
            name=data.name,
            token_hash=hash_key(token),
            token_hint=token[:TOKEN_HINT_LENGTH],
            event_ids=data.filter.event_ids,
            statuses=data.filter.statuses,
            teams=data.filter.teams,
            include=[*data.filter.include],
            alarm_minutes=data.alarm_minutes,
            created_by=actor.actor,
        ),
    )
    read = to_read(feed)
    audit.record(
        session, actor=actor, action="create", resource_type="feed", resource_id=feed.id, after=read
    )
    url = feed_url(token)
    return FeedCreated(**read.model_dump(), token=token, url=url, webcal_url=webcal_url(url))


def get(session: Session, *, feed_id: int) -> Feed | None:
    return repository.get(session, feed_id)


def get_or_raise(session: Session, *, feed_id: int) -> Feed:
    feed = repository.get(session, feed_id)
    if feed is None:
        raise FeedNotFound(f"no feed {feed_id}")
    return feed


def list(session: Session, *, page: PageParams, include_revoked: bool = False) -> Page[FeedRead]:
    return paginate(
        session,
        repository.list_statement(include_revoked=include_revoked),
        page,
        order_by=[Feed.id],
        key=lambda feed: [feed.id],
        to_item=to_read,
    )


def delete(session: Session, *, feed_id: int, if_match: str | None, actor: Principal) -> None:
    """Revoke: the token stops working at once. The row stays for the audit."""
    feed = get_or_raise(session, feed_id=feed_id)
    if feed.revoked_at is not None:
        raise FeedNotFound(f"feed {feed_id} is already revoked")
    check_version(feed.version, if_match)
    before = to_read(feed)
    now = utcnow()
    feed.revoked_at = now
    feed.updated_at = now
    session.add(feed)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="revoke",
        resource_type="feed",
        resource_id=feed_id,
        before=before,
        after=to_read(feed),
    )


# --- serving ----------------------------------------------------------------


def get_by_token_or_raise(session: Session, *, token: str) -> Feed:
    """The active feed of a token; one 404 for malformed, unknown and revoked
    tokens alike."""
    feed = None
    if _TOKEN_SHAPE.fullmatch(token):
        feed = repository.active_by_token_hash(session, hash_key(token))
    if feed is None:
        raise FeedNotFound("no such feed")
    return feed


@dataclass(frozen=True)
class Snapshot:
    """What a feed shows now, summarised: enough for its ETag."""

    feed_id: int
    events: tuple[renderer.EventInfo, ...]
    # None when the feed shows every event there is: the item queries then
    # need no list of ids.
    event_ids: list[int] | None
    etag: str
    # It holds from `taken_at` until `valid_until` (None: for ever) unless
    # the plan changes: a cancelled event's items leave the feed when its
    # grace period ends, with no write to say so.
    taken_at: datetime
    valid_until: datetime | None


def _grace() -> timedelta:
    return timedelta(days=get_settings().feed_cancelled_grace_days)


def _item_filters(feed: Feed, event_ids: list[int] | None) -> dict:
    return {
        "event_ids": event_ids,
        "phases": "phases" in feed.include,
        "milestones": "milestones" in feed.include,
        "tasks": "tasks" in feed.include,
        "teams": feed.teams,
    }


def _is_shown(feed: Feed, event: renderer.EventInfo, now: datetime, grace: timedelta) -> bool:
    # A cancelled event stays, marked so, whatever the status filter.
    wanted = feed.statuses is None or event.status in feed.statuses
    if not wanted and event.status != "cancelled":
        return False
    return renderer.is_shown(event, now=now, cancelled_grace=grace)


def _read_snapshot(session: Session, feed: Feed, now: datetime) -> Snapshot:
    assert feed.id is not None
    grace = _grace()
    candidates = calendar_service.list_events(session, event_ids=feed.event_ids)
    shown = [
        (e, info)
        for e, info in zip(candidates, map(_event_info, candidates), strict=True)
        if _is_shown(feed, info, now, grace)
    ]
    every_event = feed.event_ids is None and len(shown) == len(candidates)
    event_ids = None if every_event else [e.id for e, _info in shown if e.id is not None]
    stamp = calendar_service.feed_items_stamp(session, **_item_filters(feed, event_ids))
    parts = (
        RENDER_FORMAT,
        get_settings().public_url,
        feed.uid,
        feed.version,
        feed.name,
        feed.alarm_minutes,
        [
            (e.id, e.version, e.status, e.name, e.timezone, e.updated_at, e.cancelled_at)
            for e, _info in shown
        ],
        stamp,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
    ends = [renderer.shown_until(info, cancelled_grace=grace) for _e, info in shown]
    return Snapshot(
        feed_id=feed.id,
        events=tuple(info for _e, info in shown),
        event_ids=event_ids,
        etag=f'"{digest}"',
        taken_at=now,
        valid_until=min((end for end in ends if end is not None), default=None),
    )


# (feed uid, feed version, plan changes, settings) -> its snapshot. The feed's
# uid is random, so two databases served by one process never share a key.
_snapshots: OrderedDict[tuple, Snapshot] = OrderedDict()
_snapshots_lock = threading.Lock()


def _holds(snap: Snapshot, now: datetime) -> bool:
    return snap.taken_at <= now and (snap.valid_until is None or now < snap.valid_until)


def snapshot(session: Session, *, feed: Feed, now: datetime) -> Snapshot:
    """The feed's snapshot: remembered while the plan of its events has not
    changed, which the change count tells in one small query."""
    settings = get_settings()
    changes = repository.plan_changes(session, feed.event_ids)
    key = (feed.uid, feed.version, changes, settings.public_url, _grace())
    with _snapshots_lock:
        known = _snapshots.get(key)
        if known is not None and _holds(known, now):
            _snapshots.move_to_end(key)
            return known
    snap = _read_snapshot(session, feed, now)
    # Remembered only if nothing was committed while it was read (PostgreSQL
    # reads each statement at its own moment): then it is the plan at `changes`.
    if repository.plan_changes(session, feed.event_ids) == changes:
        with _snapshots_lock:
            _snapshots[key] = snap
            while len(_snapshots) > _SNAPSHOTS_SIZE:
                _snapshots.popitem(last=False)
    return snap


def mark_served(session: Session, *, feed: Feed, snap: Snapshot, now: datetime) -> datetime:
    """The feed's Last-Modified: when it first served this content. Item
    times alone cannot say it (a deleted item leaves no trace), so the feed
    remembers its last ETag."""
    assert feed.id is not None
    return repository.record_content(session, feed, snap.etag, now)


_cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
_cache_lock = threading.Lock()


def render(session: Session, *, feed: Feed, snap: Snapshot, now: datetime) -> bytes:
    """The feed's bytes; the same snapshot always gives the same bytes."""
    key = (snap.feed_id, snap.etag)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    body = renderer.render_feed(
        _feed_info(feed), _items(session, feed, snap), now=now, cancelled_grace=_grace()
    )
    with _cache_lock:
        _cache[key] = body
        while len(_cache) > 1 and (
            len(_cache) > _CACHE_SIZE or sum(map(len, _cache.values())) > _CACHE_BYTES
        ):
            _cache.popitem(last=False)
    return body


def clear_caches() -> None:
    """Forget every remembered snapshot and body (benchmarks measure cold
    polls with it; correctness never needs it)."""
    with _snapshots_lock:
        _snapshots.clear()
    with _cache_lock:
        _cache.clear()


# --- model -> plain data for the renderer -----------------------------------


def _event_info(event: Event) -> renderer.EventInfo:
    assert event.id is not None
    return renderer.EventInfo(
        id=event.id,
        uid=event.uid,
        name=event.name,
        status=event.status,
        timezone=event.timezone,
        updated_at=event.updated_at,
        cancelled_at=event.cancelled_at,
        url=planner_url(event.id),
    )


# The row values read, in the order they are unpacked below.
_PHASE_VALUES = ("event_id", "uid", "key", "name", "starts_at", "ends_at", "updated_at", "version")
_TASK_VALUES = (
    "event_id",
    "uid",
    "code",
    "name",
    "kind",
    "team",
    "starts_at",
    "ends_at",
    "progress",
    "required",
    "description",
    "updated_at",
    "version",
)


def _values(rows: list, names: tuple[str, ...]) -> Iterator[tuple]:
    """The named values of each row, as plain tuples: reading a SQLAlchemy
    row by attribute costs half a microsecond a value, by index next to
    nothing, and a year's feed reads 65,000 of them."""
    if not rows:
        return iter(())
    fields = rows[0]._fields
    return map(itemgetter(*(fields.index(name) for name in names)), rows)


def _items(session: Session, feed: Feed, snap: Snapshot) -> list[renderer.ItemInfo]:
    infos = {event.id: event for event in snap.events}
    filters = _item_filters(feed, snap.event_ids)
    phases, tasks = calendar_service.list_feed_items(session, **filters)
    ItemInfo = renderer.ItemInfo
    items = []
    # `infos.get`: an event committed by someone else between the two
    # reads has no snapshot entry; it shows at the next poll.
    for event_id, uid, key, name, starts_at, ends_at, updated_at, version in _values(
        phases, _PHASE_VALUES
    ):
        if (event := infos.get(event_id)) is not None:
            items.append(
                ItemInfo(
                    uid=uid,
                    kind="phase",
                    name=name,
                    key=key,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    updated_at=updated_at,
                    version=version,
                    event=event,
                )
            )
    for (
        event_id,
        uid,
        code,
        name,
        kind,
        team,
        starts_at,
        ends_at,
        progress,
        required,
        description,
        updated_at,
        version,
    ) in _values(tasks, _TASK_VALUES):
        if (event := infos.get(event_id)) is not None:
            items.append(
                ItemInfo(
                    uid=uid,
                    kind="milestone" if kind == "milestone" else "task",
                    name=name,
                    key=code,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    updated_at=updated_at,
                    version=version,
                    event=event,
                    team=team,
                    progress=progress,
                    required=required,
                    description=description,
                )
            )
    return items


def _describe(feed: Feed) -> str:
    parts = [", ".join(feed.include)]
    if feed.teams:
        parts.append(f"teams: {', '.join(feed.teams)}")
    if feed.statuses:
        parts.append(f"statuses: {', '.join(feed.statuses)}")
    parts.append(
        f"events: {', '.join(map(str, feed.event_ids))}" if feed.event_ids else "every event"
    )
    return "promoplan feed — " + "; ".join(parts)


def _feed_info(feed: Feed) -> renderer.FeedInfo:
    return renderer.FeedInfo(
        name=feed.name,
        description=_describe(feed),
        # No SOURCE: it would put the token in the body, and a copy of the
        # file must not be a subscription.
        planner_url=planner_url(),
        alarm_minutes=feed.alarm_minutes,
    )
