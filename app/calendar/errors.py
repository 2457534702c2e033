"""Problem types of the calendar domain."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class EventNotFound(NotFound):
    slug, title = "event-not-found", "Event not found"


class TaskNotFound(NotFound):
    slug, title = "task-not-found", "Task not found"


class LifecycleConflict(Conflict):
    slug, title = "lifecycle-conflict", "The event's status does not allow this"
