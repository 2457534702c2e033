"""Problem types of the launches domain."""

from __future__ import annotations

from app.errors import Conflict


class LaunchBlocked(Conflict):
    """409 with `readiness`: the gates that block the launch, each with why."""

    slug, title = "launch-blocked", "A readiness gate blocks the launch"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "The event's status does not allow this transition"


class OutsideLaunchWindow(Conflict):
    slug, title = "outside-launch-window", "Not within the event's launch window"


class LaunchModeMismatch(Conflict):
    slug, title = "launch-mode-mismatch", "The event's launch mode does not allow this trigger"
