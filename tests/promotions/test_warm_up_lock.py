"""The quote cache's warm-up only reads: on SQLite it must not hold the
write lock through its load (seconds at 100,000 promotions), or every
writer at start-up waits that long."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app import migrate
from app.config import get_settings
from app.db import build_engine, engine_for, session_scope
from app.promotions import repository, service
from tests.dbs import drop_database, fresh_database
from tests.promotions.factories import create_promotion


def test_a_write_during_the_warm_up_does_not_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    url = fresh_database("sqlite", tmp_path, "warm")
    migrate.upgrade(url)
    engine = build_engine(url)
    with session_scope(engine) as session:
        create_promotion(session)
        token = repository.generation_token(session)
    monkeypatch.setattr(get_settings(), "database_url", url)
    # Hold the warm-up inside its transaction, after it has read, as a long
    # load would.
    loaded, release = threading.Event(), threading.Event()
    load = service.snapshot

    def slow_load(session):
        cache = load(session)
        loaded.set()
        release.wait(10)
        return cache

    monkeypatch.setattr(service, "snapshot", slow_load)
    warming = service.warm_quote_cache()
    writer = sqlite3.connect(make_url(url).database, timeout=0.5, isolation_level=None)
    try:
        assert loaded.wait(10)
        started = time.perf_counter()
        writer.execute("BEGIN IMMEDIATE")  # the write lock; "database is locked" if held
        writer.execute("CREATE TABLE written_meanwhile (x INTEGER)")
        writer.execute("COMMIT")
        assert time.perf_counter() - started < 0.5
    finally:
        release.set()
        warming.join(timeout=10)
        writer.close()
        engine.dispose()
        engine_for(url).dispose()
    with session_scope(engine) as session:
        assert service._snapshots[service._cache_key(session)].token == token
    engine.dispose()
    drop_database(url)
