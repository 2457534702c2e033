"""The `promoplan` command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from app.db import build_engine
from tests.live import ROOT, LiveServer
from tests.test_retention import add_records


def promoplan(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROMOPLAN_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_idempotency_records(database_url: str, *, ages: list[timedelta]) -> None:
    engine = build_engine(database_url)
    with Session(engine) as session:
        add_records(session, *ages)
    engine.dispose()


@pytest.mark.slow
class TestCli:
    def test_db_upgrade_then_keys_create_gives_a_working_key(self, tmp_path: Path):
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        assert promoplan("db", "upgrade", database_url=url).returncode == 0
        current = promoplan("db", "current", database_url=url).stdout
        assert current.splitlines()[0].split()[-1] == current.splitlines()[1].split()[-1]

        created = promoplan(
            "keys", "create", "--role", "planner", "--name", "ops", database_url=url
        )
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        assert key.startswith("pp_")

        with LiveServer(url) as server:
            me = httpx.get(
                server.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {key}"}
            )
            assert me.status_code == 200 and me.json()["role"] == "planner"
            ready = httpx.get(server.base_url + "/readyz")
            assert ready.status_code == 200, ready.text

        listed = promoplan("keys", "list", database_url=url).stdout
        assert "planner" in listed and key not in listed
        key_id = listed.split()[0]
        assert promoplan("keys", "revoke", key_id, database_url=url).returncode == 0
        assert "revoked" in promoplan("keys", "list", database_url=url).stdout

    def test_a_bad_role_is_refused_with_a_message(self, tmp_path: Path):
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        promoplan("db", "upgrade", database_url=url)
        result = promoplan("keys", "create", "--role", "boss", "--name", "x", database_url=url)
        assert result.returncode == 2 and "role must be one of" in result.stderr

    def test_db_purge_deletes_expired_rows_and_prints_the_counts(self, live_db: str):
        url = live_db
        add_idempotency_records(url, ages=[timedelta(hours=25), timedelta(days=9), timedelta(0)])

        first = promoplan("db", "purge", database_url=url)
        second = promoplan("db", "purge", database_url=url)

        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "purged idempotency_records: 2, webhook_receipts: 0"
        assert second.stdout.strip() == "purged idempotency_records: 0, webhook_receipts: 0"

    def test_readyz_reports_a_schema_behind_head(self, tmp_path: Path):
        url = f"sqlite:///{tmp_path / 'behind.db'}"
        promoplan("db", "upgrade", "0001", database_url=url)
        with LiveServer(url, PROMOPLAN_AUTO_MIGRATE="false") as server:
            ready = httpx.get(server.base_url + "/readyz")
        assert ready.status_code == 503
        assert "promoplan db upgrade" in ready.json()["checks"]["migrations"]


@pytest.mark.slow
class TestDemo:
    def test_a_second_demo_adds_nothing_and_says_how_to_get_a_key(self, tmp_path: Path):
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        first = promoplan("demo", database_url=url)
        assert first.returncode == 0, first.stderr[-2000:]
        assert first.stdout.strip().splitlines()[-1].startswith("pp_")
        second = promoplan("demo", database_url=url)
        assert second.returncode == 0
        assert "already has events" in second.stdout and "keys create" in second.stdout
        key = first.stdout.strip().splitlines()[-1]
        with LiveServer(url) as server:
            events = httpx.get(
                server.base_url + "/api/v1/events", headers={"Authorization": f"Bearer {key}"}
            ).json()["items"]
        assert sorted(e["name"] for e in events).count("618 年中大促 2027") <= 1
        assert len(events) == len({e["name"] for e in events})
