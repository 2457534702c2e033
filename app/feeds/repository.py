"""Every SQL statement of the feeds domain."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.feeds.models import Feed, FeedEventStamp


def add(session: Session, feed: Feed) -> Feed:
    session.add(feed)
    session.flush()
    return feed


def get(session: Session, feed_id: int) -> Feed | None:
    return session.get(Feed, feed_id)


def active_by_token_hash(session: Session, token_hash: str) -> Feed | None:
    statement = select(Feed).where(Feed.token_hash == token_hash, col(Feed.revoked_at).is_(None))
    return session.exec(statement).first()


def list_statement(*, include_revoked: bool) -> SelectOfScalar[Feed]:
    statement = select(Feed)
    if not include_revoked:
        statement = statement.where(col(Feed.revoked_at).is_(None))
    return statement


def record_content(session: Session, feed: Feed, content_hash: str, now: datetime) -> datetime:
    """Note that `feed` now serves `content_hash` and return since when it
    has served it: whole seconds, as HTTP dates are, and at least a second
    after the previous change, so an If-Modified-Since can never hide a
    change made within the same second.

    The UPDATE is conditional, so racing polls agree on one time; it leaves
    `version` alone: the feed's settings did not change."""
    if feed.content_hash == content_hash and feed.content_changed_at is not None:
        return feed.content_changed_at  # the usual poll: nothing to write
    at = now.replace(microsecond=0)
    if feed.content_changed_at is not None and at <= feed.content_changed_at:
        at = feed.content_changed_at + timedelta(seconds=1)
    session.execute(
        update(Feed)
        .where(
            col(Feed.id) == feed.id,
            or_(col(Feed.content_hash).is_(None), col(Feed.content_hash) != content_hash),
        )
        .values(content_hash=content_hash, content_changed_at=at)
        .execution_options(synchronize_session=False)
    )
    seen = select(Feed.content_hash, Feed.content_changed_at).where(col(Feed.id) == feed.id)
    stored_hash, stored_at = session.execute(seen).one()
    # Keep the loaded object true to the row without marking it dirty.
    set_committed_value(feed, "content_hash", stored_hash)
    set_committed_value(feed, "content_changed_at", stored_at)
    return stored_at


# Built once: this runs on every poll, and building and caching a statement
# cost more than running it. Through the connection, not the ORM session,
# for the same reason: it reads one number.
_EVERY_EVENTS_CHANGES = select(func.coalesce(func.sum(FeedEventStamp.changes), 0))
_SOME_EVENTS_CHANGES = _EVERY_EVENTS_CHANGES.where(
    col(FeedEventStamp.event_id).in_(bindparam("event_ids", expanding=True))
)


def plan_changes(session: Session, event_ids: list[int] | None) -> int:
    """How many changes the plan of these events (None: of every event
    there is or was) has seen: it grows with every committed change."""
    connection = session.connection()
    if event_ids is None:
        return int(connection.execute(_EVERY_EVENTS_CHANGES).scalar_one())
    found = connection.execute(_SOME_EVENTS_CHANGES, {"event_ids": event_ids})
    return int(found.scalar_one())
