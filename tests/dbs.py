"""Test databases: a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

POSTGRES_ENV = "PROMOPLAN_TEST_POSTGRES_URL"


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_postgres(name_hint: str) -> str:
    """A new, empty PostgreSQL database; returns its SQLAlchemy URL."""
    base = postgres_base_url()
    assert base, f"{POSTGRES_ENV} is not set"
    name = f"pp_{name_hint}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    base = postgres_base_url()
    assert base
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_sqlite(directory: Path, name_hint: str) -> str:
    return f"sqlite:///{directory / f'{name_hint}-{uuid.uuid4().hex[:6]}.db'}"


def fresh_database(backend: str, directory: Path, name_hint: str) -> str:
    if backend == "postgres":
        return fresh_postgres(name_hint)
    return fresh_sqlite(directory, name_hint)


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        drop_postgres(url)
    else:
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
