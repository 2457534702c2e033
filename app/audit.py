"""The audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index
from sqlmodel import Field, Session, SQLModel, select

from app.auth import Principal
from app.observability import current_request_id
from app.types import JSONColumn, utcnow


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_record_resource", "resource_type", "resource_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=300)
    action: str = Field(max_length=60)
    resource_type: str = Field(max_length=60)
    resource_id: str = Field(max_length=60)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn))
    request_id: str | None = Field(default=None, max_length=128)


def record(
    session: Session,
    *,
    actor: Principal | str,
    action: str,
    resource_type: str,
    resource_id: Any,
    before: Any = None,
    after: Any = None,
) -> AuditRecord:
    """Add one audit record to the current transaction."""
    entry = AuditRecord(
        actor=actor.actor if isinstance(actor, Principal) else actor,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        before=_as_json(before),
        after=_as_json(after),
        request_id=current_request_id(),
    )
    session.add(entry)
    return entry


def _as_json(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot audit {type(value).__name__}")


def list_for(session: Session, *, resource_type: str | None = None, resource_id: str | None = None):
    statement = select(AuditRecord)
    if resource_type:
        statement = statement.where(AuditRecord.resource_type == resource_type)
    if resource_id:
        statement = statement.where(AuditRecord.resource_id == resource_id)
    return statement
