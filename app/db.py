"""The engine, the session scope and the request's session dependency.

Services flush; the single commit or rollback happens here, at the edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import delete, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, col, create_engine, select

from app.config import get_settings


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE.

    pysqlite's own transaction handling is turned off so that SAVEPOINTs work
    and every transaction takes the write lock up front: a deferred
    transaction that reads and then writes can fail with SQLITE_BUSY at once
    when another writer committed in between, which no timeout cures.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def build_engine(url: str) -> Engine:
    settings = get_settings()
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size * 2,
        pool_pre_ping=True,
    )


@lru_cache
def engine_for(url: str) -> Engine:
    """One engine per process and URL."""
    return build_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


# scope="function": the commit happens before the response leaves, so a client never
# sees a success whose transaction then failed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Rows deleted per statement by a purge: short transactions, short locks.
PURGE_BATCH_SIZE = 1000


def delete_older_than(
    session: Session,
    created: InstrumentedAttribute[datetime],
    cutoff: datetime,
    *,
    batch_size: int = PURGE_BATCH_SIZE,
) -> int:
    """Delete the rows of `created`'s table older than `cutoff`; the count.

    One bounded `DELETE ... WHERE id IN (SELECT id ... LIMIT n)` per batch,
    each committed, so a large backlog never holds one long transaction or
    lock. The same statement works on SQLite and PostgreSQL.
    """
    table = created.class_
    id_column = col(table.id)
    total = 0
    while True:
        batch = select(id_column).where(created < cutoff).order_by(id_column).limit(batch_size)
        result = session.execute(
            delete(table).where(id_column.in_(batch)).execution_options(synchronize_session=False)
        )
        session.commit()
        total += result.rowcount
        if result.rowcount < batch_size:
            return total
