"""`Idempotency-Key`: the same key replays the first answer.

The first request with a key inserts its record inside its own transaction
and stores its answer there before committing, so the record and the side
effect land together or not at all. A concurrent request with the same key
waits on the unique index (PostgreSQL) or on the write lock (SQLite) and
then replays what the first one stored. A key reused with another body is
refused: it is a client bug, not a retry.

A record lives `idempotency_retention_hours`: after that the key is
forgotten and a request reusing it is new. That holds from the moment the
record expires, whether or not the periodic purge has deleted it yet.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from app.auth import AnyRole
from app.config import get_settings
from app.db import SessionDep, delete_older_than
from app.errors import Conflict, ValidationProblem
from app.types import JSONColumn, utcnow

MAX_KEY_LENGTH = 200


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_record_scope_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=100)
    key: str = Field(max_length=MAX_KEY_LENGTH)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response_body: Any = Field(default=None, sa_column=Column(JSONColumn))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Idempotency:
    """One request's idempotency: `replay()` first, then `respond()`."""

    def __init__(
        self, session: Session, *, scope: str, key: str | None, method: str, path: str, body: bytes
    ) -> None:
        self.session = session
        self.scope = scope
        self.key = key
        self.method = method
        self.path = path
        self.request_hash = hashlib.sha256(
            method.encode() + b" " + path.encode() + b"\n" + body
        ).hexdigest()
        self._record: IdempotencyRecord | None = None

    def replay(self) -> JSONResponse | None:
        """The stored answer for this key, or None after claiming the key."""
        if self.key is None:
            return None
        existing = self._find()
        if existing is not None and existing.created_at < idempotency_cutoff():
            self._forget(existing)
            existing = None
        if existing is None:
            record = IdempotencyRecord(
                scope=self.scope,
                key=self.key,
                method=self.method,
                path=self.path,
                request_hash=self.request_hash,
            )
            try:
                with self.session.begin_nested():
                    self.session.add(record)
            except IntegrityError:
                existing = self._find()
                if existing is None:  # pragma: no cover - the winner rolled back
                    raise Conflict("a request with this Idempotency-Key failed; retry") from None
            else:
                self._record = record
                return None
        return self._stored_answer(existing)

    def respond(
        self, status_code: int, body: Any, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """Answer, and store the answer for later replays of the same key."""
        content = jsonable_encoder(body)
        if self._record is not None:
            self._record.status_code = status_code
            self._record.response_body = content
            self.session.add(self._record)
            self.session.flush()
        return JSONResponse(content, status_code=status_code, headers=headers)

    def _find(self) -> IdempotencyRecord | None:
        return self.session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == self.scope, IdempotencyRecord.key == self.key
            )
        ).first()

    def _forget(self, record: IdempotencyRecord) -> None:
        # Guarded by created_at: a concurrent request that already replaced
        # the expired record keeps its fresh one (our insert then conflicts
        # and replays it).
        self.session.execute(
            delete(IdempotencyRecord)
            .where(
                col(IdempotencyRecord.id) == record.id,
                col(IdempotencyRecord.created_at) == record.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        self.session.expunge(record)

    def _stored_answer(self, record: IdempotencyRecord) -> JSONResponse:
        if record.request_hash != self.request_hash:
            raise ValidationProblem(
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new request",
                loc=["header", "Idempotency-Key"],
            )
        if record.status_code is None:  # pragma: no cover - only visible mid-transaction
            raise Conflict("a request with this Idempotency-Key is still in progress")
        return JSONResponse(
            record.response_body,
            status_code=record.status_code,
            headers={"Idempotent-Replayed": "true"},
        )


def idempotency_cutoff(now: datetime | None = None) -> datetime:
    """Records created before this instant are expired."""
    hours = get_settings().idempotency_retention_hours
    return (now or utcnow()) - timedelta(hours=hours)


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired Idempotency-Key records; how many."""
    return delete_older_than(session, col(IdempotencyRecord.created_at), idempotency_cutoff(now))


async def idempotency(
    request: Request,
    session: SessionDep,
    principal: AnyRole,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=MAX_KEY_LENGTH,
            description="Replays the first answer for the same key",
        ),
    ] = None,
) -> Idempotency:
    body = await request.body()
    return Idempotency(
        session,
        scope=f"key:{principal.key_id}",
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=body,
    )


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
