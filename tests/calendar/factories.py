"""Builders for calendar tests (events and tasks come from tests.factories)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.calendar.models import Task, TaskDependency


def create_dependency(
    session: Session, *, task: Task, on: Task, **overrides: Any
) -> TaskDependency:
    dependency = TaskDependency(
        event_id=task.event_id,
        task_id=task.id,
        depends_on_id=on.id,
        type=overrides.pop("type", "FS"),
        lag_seconds=overrides.pop("lag_seconds", 0),
    )
    session.add(dependency)
    session.flush()
    return dependency
