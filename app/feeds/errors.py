"""Problem types of the feeds domain."""

from __future__ import annotations

from app.errors import NotFound


class FeedNotFound(NotFound):
    """An unknown or revoked feed. The public `.ics` answer says no more than
    that, so a guessed or old token learns nothing."""

    slug, title = "feed-not-found", "Feed not found"
