"""Benchmarks of the iCal feeds. Run by hand: `python -m bench.feeds`
(set PROMOPLAN_TEST_POSTGRES_URL to measure PostgreSQL too).

A seeded year: 20 events in three zones (Asia/Shanghai, Europe/Berlin,
America/New_York, so both daylight-saving rules are exercised), each with
4 whole-day phases and 246 milestones and tasks: 5,000 items in one feed.

Figures:
- `render_feed` alone on 5,000 items (pure, no database);
- a cold GET of the feed in process (TestClient): token lookup, snapshot,
  loading 5,000 rows, rendering, with the snapshot and render caches
  emptied each time;
- the 304 path in process: a GET with a matching If-None-Match through the
  whole app, called the way an ASGI server calls it (httpx's ASGITransport
  in one event loop: what issue #7's "in process" target is judged on) and
  through TestClient (whose thread portal adds its own milliseconds); and
  the service calls alone (no HTTP), with the remembered snapshot and with
  it forgotten each time (the first poll after a change);
- what the triggers that count plan changes (migration 0006) cost writers:
  one UPDATE of every task of the feed, with and without them.
Targets (issue #7): cold under 500 ms, 304 under 5 ms in process.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ITEMS = 5_000
EVENTS = 20
PHASES_PER_EVENT = 4
ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York"]
TEAMS = ["content", "activity", "product", "design", "service", "logistics"]


def measure(fn: Callable[[], Any], repeat: int) -> str:
    """Median and best wall time, and median CPU time of this process, in
    milliseconds, after one warm-up run. CPU time says what the code costs
    when the machine's other tenants crowd the wall clock."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return summarise(wall, cpu)


def summarise(wall: list[float], cpu: list[float]) -> str:
    return (
        f"median {statistics.median(wall):.2f} ms, best {min(wall):.2f} ms "
        f"(CPU median {statistics.median(cpu):.2f} ms; {len(wall)} runs)"
    )


def seeded_items(seed: int = 7):
    """5,000 renderer items, without a database."""
    from app.feeds.render import EventInfo, ItemInfo

    rng = random.Random(seed)
    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    per_event = ITEMS // EVENTS
    for e in range(EVENTS):
        start = datetime(2027, 1, 10, 16, tzinfo=UTC) + timedelta(days=18 * e)
        event = EventInfo(
            id=e + 1,
            uid=f"event-{e:04d}",
            name=f"大促 {e + 1}, wave; {e % 3}",
            status="scheduled",
            timezone=ZONES[e % 3],
            updated_at=stamp,
            url=f"https://plan.example.com/#/events/{e + 1}",
        )
        for p in range(PHASES_PER_EVENT):
            items.append(
                ItemInfo(
                    uid=f"phase-{e:04d}-{p}",
                    kind="phase",
                    name=["预热 warm-up", "预售 presale", "正式 peak", "返场 encore"][p],
                    starts_at=start + timedelta(days=p),
                    ends_at=start + timedelta(days=p + 1),
                    updated_at=stamp,
                    version=2,
                    event=event,
                )
            )
        for t in range(per_event - PHASES_PER_EVENT):
            begins = start - timedelta(days=rng.randrange(1, 40), hours=rng.randrange(0, 24))
            milestone = rng.random() < 0.4
            items.append(
                ItemInfo(
                    uid=f"task-{e:04d}-{t:04d}",
                    kind="milestone" if milestone else "task",
                    name=f"素材提交 creative batch {t}",
                    starts_at=begins,
                    ends_at=begins if milestone else begins + timedelta(hours=rng.randrange(1, 72)),
                    updated_at=stamp,
                    version=rng.randrange(1, 5),
                    event=event,
                    team=rng.choice(TEAMS),
                    progress=rng.randrange(0, 101),
                    description="Check the banner sizes, the copy and the price tags.",
                )
            )
    return items


def bench_render() -> None:
    from app.feeds.render import FeedInfo, render_feed

    items = seeded_items()
    feed = FeedInfo(
        name="The whole year", planner_url="https://plan.example.com/", alarm_minutes=60
    )
    now = datetime(2026, 11, 22, tzinfo=UTC)
    body = render_feed(feed, items, now=now, cancelled_grace=timedelta(days=30))
    figures = measure(
        lambda: render_feed(feed, items, now=now, cancelled_grace=timedelta(days=30)), 10
    )
    print(f"render_feed, {len(items)} items, {len(body) / 1e6:.2f} MB: {figures}")


def seed_database(url: str) -> None:
    from app.calendar.models import Event, Phase, Task
    from app.db import build_engine, session_scope

    engine = build_engine(url)
    rng = random.Random(7)
    with session_scope(engine) as session:
        for e in range(EVENTS):
            start = datetime(2027, 1, 10, 16, tzinfo=UTC) + timedelta(days=18 * e)
            event = Event(
                name=f"大促 {e + 1}",
                slug=f"bench-{e}",
                timezone=ZONES[e % 3],
                status="scheduled",
                starts_at=start,
                ends_at=start + timedelta(days=PHASES_PER_EVENT),
            )
            session.add(event)
            session.flush()
            for p in range(PHASES_PER_EVENT):
                session.add(
                    Phase(
                        event_id=event.id,
                        key=f"p{p}",
                        name=f"phase {p}",
                        position=p,
                        starts_at=start + timedelta(days=p),
                        ends_at=start + timedelta(days=p + 1),
                    )
                )
            for t in range(ITEMS // EVENTS - PHASES_PER_EVENT):
                begins = start - timedelta(days=rng.randrange(1, 40), hours=rng.randrange(0, 24))
                milestone = rng.random() < 0.4
                session.add(
                    Task(
                        event_id=event.id,
                        name=f"素材提交 creative batch {t}",
                        kind="milestone" if milestone else "task",
                        team=rng.choice(TEAMS),
                        starts_at=begins,
                        ends_at=begins
                        if milestone
                        else begins + timedelta(hours=rng.randrange(1, 72)),
                        progress=rng.randrange(0, 101),
                    )
                )
    engine.dispose()


def bench_http(backend: str, url: str) -> None:
    from fastapi.testclient import TestClient

    from app.auth import SYSTEM
    from app.db import build_engine, session_scope
    from app.feeds import service
    from app.feeds.schemas import FeedCreate
    from app.main import create_app
    from app.types import utcnow

    seed_database(url)
    engine = build_engine(url)
    with session_scope(engine) as session:
        created = service.create(
            session,
            data=FeedCreate.model_validate(
                {"name": "The whole year", "filter": {"include": ["phases", "milestones", "tasks"]}}
            ),
            actor=SYSTEM,
        )
    path = f"/feeds/{created.token}.ics"
    app = create_app()
    with TestClient(app) as client:
        response = client.get(path)
        assert response.status_code == 200, response.text
        items = response.text.count("BEGIN:VEVENT")
        etag = response.headers["ETag"]

        def cold() -> None:
            service.clear_caches()
            assert client.get(path).status_code == 200

        def not_modified() -> None:
            assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

        print(f"{backend}: GET of a {items}-item feed in process:")
        print(f"  cold (caches emptied), TestClient: {measure(cold, 10)}")
        print(f"  304, ASGI in one event loop:       {asgi_not_modified(app, path, etag)}")
        print(f"  304, TestClient:                   {measure(not_modified, 50)}")

    def service_304() -> None:
        with session_scope(engine) as session:
            feed = service.get_by_token_or_raise(session, token=created.token)
            snap = service.snapshot(session, feed=feed, now=utcnow())
            service.mark_served(session, feed=feed, snap=snap, now=utcnow())
            assert snap.etag == etag

    def service_304_after_a_change() -> None:
        service.clear_caches()
        service_304()

    print(f"  304 path, service calls only:      {measure(service_304, 50)}")
    print(f"    ... snapshot forgotten each time: {measure(service_304_after_a_change, 50)}")
    engine.dispose()


def asgi_not_modified(app: Any, path: str, etag: str, repeat: int = 50) -> str:
    """The 304 as an ASGI server would serve it: the app called in a running
    event loop (its lifespan entered), no thread portal in between."""
    import httpx

    async def run() -> str:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"If-None-Match": etag}
                wall, cpu = [], []
                for attempt in range(repeat + 1):
                    began, began_cpu = time.perf_counter(), time.process_time()
                    response = await client.get(path, headers=headers)
                    if attempt:  # the first is the warm-up
                        wall.append((time.perf_counter() - began) * 1000)
                        cpu.append((time.process_time() - began_cpu) * 1000)
                    assert response.status_code == 304, response.status_code
        return summarise(wall, cpu)

    return asyncio.run(run())


def bench_trigger_cost(backend: str, url: str) -> None:
    """One UPDATE of every task, with the change-count triggers and after
    migrating down below them (the database is at head again afterwards)."""
    from alembic import command
    from sqlalchemy import text

    from app import migrate
    from app.db import build_engine

    engine = build_engine(url)
    config = migrate.alembic_config(url)

    def update_every_task() -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE task SET progress = progress"))

    with_triggers = measure(update_every_task, 5)
    engine.dispose()
    command.downgrade(config, "0005")
    try:
        without = measure(update_every_task, 5)
    finally:
        engine.dispose()
        command.upgrade(config, "head")
    tasks = ITEMS - EVENTS * PHASES_PER_EVENT
    print(f"  UPDATE of all {tasks} tasks, with the triggers: {with_triggers}")
    print(f"    ... without them (at 0005):       {without}")


def main() -> None:
    os.environ.setdefault("PROMOPLAN_SCHEDULER_ENABLED", "false")
    os.environ.setdefault("PROMOPLAN_DELIVERIES_ENABLED", "false")
    os.environ.setdefault("PROMOPLAN_LOG_LEVEL", "WARNING")
    bench_render()
    from app import migrate
    from tests.dbs import drop_database, fresh_database, postgres_base_url

    backends = ["sqlite"] + (["postgres"] if postgres_base_url() else [])
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            url = fresh_database(backend, Path(tmp), "bench_feeds")
            os.environ["PROMOPLAN_DATABASE_URL"] = url
            from app.config import get_settings
            from app.db import engine_for

            get_settings.cache_clear()
            engine_for.cache_clear()
            migrate.upgrade(url)
            try:
                bench_http(backend, url)
                bench_trigger_cost(backend, url)
            finally:
                drop_database(url)


if __name__ == "__main__":
    main()
