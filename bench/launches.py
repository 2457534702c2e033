"""Launch machinery benchmarks: run by hand, `python -m bench.launches`.

Figures printed:
1. signing: Standard Webhooks sign + verify per second (pure code);
2. clock throughput: a batch of events due at the same instant, applied by
   `run_due` in one process — transitions per second, SQLite and PostgreSQL;
3. lateness: real `promoplan serve` processes with the clock on (1 replica
   on SQLite, 3 replicas on PostgreSQL), a batch due at one second —
   applied_at - due_at, p50 / p95 / max, and job runs per transition;
4. deliveries: outbox rows drained to a loopback receiver by one worker.

Needs PROMOPLAN_TEST_POSTGRES_URL for the PostgreSQL parts (skipped without).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("PROMOPLAN_LOG_LEVEL", "WARNING")

from sqlmodel import select

from app import migrate
from app.db import build_engine, session_scope
from app.launches import service
from app.launches.models import JobRun, Transition
from app.types import utcnow
from app.webhooks import service as webhooks_service
from app.webhooks import signing, worker
from tests.dbs import drop_database, fresh_database, postgres_base_url
from tests.launches.factories import create_scheduled_event, create_subscription
from tests.live import LiveServer
from tests.webhooks.receiver import Receiver

SEED = 20261122


def bench_signing(n: int = 20_000) -> None:
    rng = random.Random(SEED)
    secret = signing.new_secret()
    body = bytes(rng.getrandbits(8) for _ in range(600))
    started = time.perf_counter()
    for i in range(n):
        header = signing.sign(secret, webhook_id=f"msg_{i}", timestamp=1_700_000_000, body=body)
        signing.verify(
            [secret],
            webhook_id=f"msg_{i}",
            timestamp="1700000000",
            signature=header,
            body=body,
            now=1_700_000_000,
        )
    elapsed = time.perf_counter() - started
    print(f"signing: {n} sign+verify of a 600-byte body in {elapsed:.2f} s = {n / elapsed:,.0f}/s")


def _database(backend: str) -> str:
    url = fresh_database(backend, Path(tempfile.mkdtemp()), "bench")
    migrate.upgrade(url)
    return url


def bench_clock(backend: str, events: int = 300) -> None:
    url = _database(backend)
    engine = build_engine(url)
    try:
        start = datetime(2030, 1, 1, tzinfo=UTC)
        with session_scope(engine) as session:
            create_subscription(session, url="http://127.0.0.1:9/none")
            for _ in range(events):
                create_scheduled_event(
                    session, starts_at=start, ends_at=start + timedelta(days=1), phases=[]
                )
        began = time.perf_counter()
        reports = service.run_due(engine=engine, now=start)
        elapsed = time.perf_counter() - began
        print(
            f"clock [{backend}]: {len(reports)} launches due at one instant applied in "
            f"{elapsed:.2f} s = {len(reports) / elapsed:,.0f}/s "
            "(each: claim, gates, status CAS, outbox row, job run, one transaction)"
        )
    finally:
        engine.dispose()
        drop_database(url)


def bench_lateness(backend: str, replicas: int, events: int = 30) -> None:
    url = _database(backend)
    engine = build_engine(url)
    env = {
        "PROMOPLAN_SCHEDULER_ENABLED": "true",
        "PROMOPLAN_DELIVERIES_ENABLED": "true",
        "PROMOPLAN_AUTO_MIGRATE": "false",
    }
    servers = [LiveServer(url, **env, PROMOPLAN_INSTANCE_ID=f"r{n}") for n in range(replicas)]
    try:
        with Receiver() as receiver:
            for server in servers:
                server.start()
            due = (utcnow() + timedelta(seconds=4)).replace(microsecond=0)
            with session_scope(engine) as session:
                create_subscription(session, url=receiver.url, types=["event.launched"])
                for _ in range(events):
                    create_scheduled_event(
                        session, starts_at=due, ends_at=due + timedelta(hours=1), phases=[]
                    )
            receiver.wait_for(events, timeout=30)
            time.sleep(1)
            delivered = len(receiver.received)
        with session_scope(engine) as session:
            runs = session.exec(select(JobRun)).all()
            rows = session.exec(select(Transition).where(Transition.action == "launch")).all()
        late = sorted((r.applied_at - r.due_at).total_seconds() for r in rows if r.applied_at)
        per_transition = Counter(r.transition_id for r in runs)
        by_instance = Counter(r.instance_id for r in runs)
        p95 = late[int(0.95 * (len(late) - 1))]
        print(
            f"lateness [{backend}, {replicas} replica(s), {events} launches due at one second]: "
            f"p50 {statistics.median(late) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {late[-1] * 1000:.0f} ms; job runs per transition "
            f"{sorted(set(per_transition.values()))}; runs by replica {dict(by_instance)}; "
            f"deliveries received {delivered}"
        )
    finally:
        for server in servers:
            server.stop()
        engine.dispose()
        drop_database(url)


def bench_deliveries(backend: str, count: int = 300) -> None:
    url = _database(backend)
    engine = build_engine(url)
    try:
        with Receiver() as receiver:
            with session_scope(engine) as session:
                create_subscription(session, url=receiver.url)
                for n in range(count):
                    webhooks_service.enqueue(
                        session, type="event.launched", data={"n": n}, at=utcnow(), event_id=None
                    )
            began = time.perf_counter()
            while worker.run_once(engine=engine):
                pass
            elapsed = time.perf_counter() - began
            print(
                f"deliveries [{backend}]: {len(receiver.received)} signed POSTs to loopback in "
                f"{elapsed:.2f} s = {len(receiver.received) / elapsed:,.0f}/s (one worker)"
            )
    finally:
        engine.dispose()
        drop_database(url)


def main() -> None:
    backends = ["sqlite"] + (["postgres"] if postgres_base_url() else [])
    bench_signing()
    for backend in backends:
        bench_clock(backend)
    bench_lateness("sqlite", 1)
    if "postgres" in backends:
        bench_lateness("postgres", 3)
    for backend in backends:
        bench_deliveries(backend)


if __name__ == "__main__":
    main()
