"""Fixtures shared by every test.

Every database test runs on SQLite and, when PROMOPLAN_TEST_POSTGRES_URL is
set, on PostgreSQL: the schema is made once per backend by `alembic upgrade
head`, and each test runs inside a transaction rolled back at the end.
Tests that need committed data seen by other connections (concurrency,
crashes) use `live_db` / `LiveServer` on a database of their own instead.
"""

from __future__ import annotations

import os

os.environ.setdefault("PROMOPLAN_SCHEDULER_ENABLED", "false")
os.environ.setdefault("PROMOPLAN_DELIVERIES_ENABLED", "false")
# The app under test gets its session by override; a warm-up at start-up would
# read the default database instead (tests/promotions/test_cache.py warms by hand).
os.environ.setdefault("PROMOPLAN_WARM_QUOTE_CACHE", "false")
os.environ.setdefault("PROMOPLAN_LOG_LEVEL", "WARNING")
os.environ.setdefault("PROMOPLAN_DATABASE_URL", "sqlite:///./.pytest-default.db")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import auth, migrate
from app.db import build_engine, get_session
from app.main import create_app
from tests.dbs import drop_database, fresh_database, postgres_base_url

BACKENDS = ["sqlite", "postgres"]

# CI replays the same examples every run (a red build must be reproducible);
# runs elsewhere keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("PROMOPLAN_TEST_REQUIRE_POSTGRES") == "1":
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (live servers, big inputs)")


def _skip_without_postgres(backend: str) -> None:
    if backend == "postgres" and not postgres_base_url():
        pytest.skip("PROMOPLAN_TEST_POSTGRES_URL is not set")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    _skip_without_postgres(request.param)
    return request.param


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = fresh_database(backend, tmp_path_factory.mktemp("db"), "suite")
    migrate.upgrade(url)
    engine = build_engine(url)
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test;
    commits in the code under test only release savepoints."""
    connection = engine.connect()
    transaction = connection.begin()
    if connection.dialect.name == "postgresql":
        # The feeds' change-count triggers are deferred to COMMIT, which a test
        # that is rolled back never reaches: fire them at once instead.
        # (tests/feeds/test_freshness.py covers the deferred path with commits.)
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def app(session: Session) -> FastAPI:
    application = create_app()

    def test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    application.dependency_overrides[get_session] = test_session
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def headers_for(session: Session) -> Callable[..., dict[str, str]]:
    """`headers_for("planner")` → Authorization headers of a new key."""

    def make(role: str = "admin", merchant_id: int | None = None) -> dict[str, str]:
        _key, raw = auth.create_key(
            session, name=f"test {role}", role=role, merchant_id=merchant_id
        )
        session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return make


@pytest.fixture
def admin(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return headers_for("admin")


@pytest.fixture
def planner(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return headers_for("planner")


@pytest.fixture
def viewer(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return headers_for("viewer")


@pytest.fixture
def live_db(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, migrated to head, dropped afterwards."""
    url = fresh_database(backend, tmp_path, "live")
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(autouse=True)
def _forbid_skips_in_ci(request: pytest.FixtureRequest) -> None:
    """With PROMOPLAN_TEST_REQUIRE_POSTGRES=1 (as in CI), a PostgreSQL test
    that cannot run is a failure, not a skip."""
    if os.environ.get("PROMOPLAN_TEST_REQUIRE_POSTGRES") == "1" and not postgres_base_url():
        pytest.fail("PROMOPLAN_TEST_REQUIRE_POSTGRES=1 but PROMOPLAN_TEST_POSTGRES_URL is unset")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("PROMOPLAN_TEST_REQUIRE_POSTGRES") == "1" and reporter is not None:
        skipped = reporter.stats.get("skipped", [])
        if skipped:
            reporter.write_line(f"{len(skipped)} tests were skipped; CI allows none", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
