"""Problem types of the calendar domain."""

from __future__ import annotations

from app.errors import Conflict, NotFound, ValidationProblem


class EventNotFound(NotFound):
    slug, title = "event-not-found", "Event not found"


class TaskNotFound(NotFound):
    slug, title = "task-not-found", "Task not found"


class TemplateNotFound(NotFound):
    slug, title = "template-not-found", "Template not found"


class LifecycleConflict(Conflict):
    slug, title = "lifecycle-conflict", "The event's status does not allow this"


class CannotSchedule(Conflict):
    """409 with `reasons`: why a draft cannot be scheduled."""

    slug, title = "cannot-schedule", "The event cannot be scheduled"


class TaskHasDependents(Conflict):
    slug, title = "task-has-dependents", "Other tasks depend on this task"


class DuplicateTemplate(Conflict):
    slug, title = "duplicate-template", "A template with this key exists"


class DuplicateTaskCode(Conflict):
    slug, title = "duplicate-task-code", "Another task of this event has this code"


class DependencyCycle(ValidationProblem):
    """422 naming the tasks of the cycle (with `cycle`: their ids and names)."""

    slug, title = "dependency-cycle", "The dependencies form a cycle"
