"""Benchmarks of the calendar: the critical path on seeded plans, and the
Gantt endpoint end to end. Run by hand: `python -m bench.calendar`.

Plans are seeded and realistic: every task has up to 5 predecessors among
earlier tasks (all four types, with lags and leads), and the planned dates
mostly respect them (about 2 % of the links broken), as a real plan does.
A worst case with random dates (about half the links broken) is measured
too, since it builds one violation object per broken link, and so is a
single chain of tasks: the computation works a level of the dependency
graph at a time (some 540 levels in the 10,000-task plan), so a chain, with
one task per level, is its worst shape.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from app.calendar.planning import (
    DEPENDENCY_TYPES,
    Link,
    PlanTask,
    critical_path,
    schedule_forward,
)

DAY = 86_400
LAGS = [0, 0, 0, 3_600, DAY, 2 * DAY, -3_600]


def seeded_plan(
    tasks: int, links_per_task: int = 5, *, seed: int = 11, consistent: bool = True
) -> tuple[list[PlanTask], list[Link]]:
    """`tasks` tasks and `links_per_task * tasks` links (each task but the
    first few depends on `links_per_task` earlier tasks, so no cycle)."""
    rng = random.Random(seed)
    durations = [rng.choice([0, 0, DAY, 2 * DAY, 3 * DAY, 7 * DAY]) for _ in range(tasks)]
    links: list[Link] = []
    for s in range(tasks):
        if s == 0:
            continue
        k = min(links_per_task, s)
        for p in rng.sample(range(max(0, s - 200), s), k) if s > k else range(s):
            links.append(Link(s, p, rng.choice(DEPENDENCY_TYPES), rng.choice(LAGS)))
    links = links[: links_per_task * tasks]
    while len(links) < links_per_task * tasks:  # top up the first tasks' share
        s = rng.randrange(200, tasks)
        links.append(Link(s, rng.randrange(0, s - 199), "FS", 0))
    if consistent:
        starts = schedule_forward(
            [PlanTask(i, 0, durations[i]) for i in range(tasks)], links
        ).starts
        # Some slack everywhere, and a few tasks pulled too early: broken links.
        plan = [
            PlanTask(
                i,
                starts[i]
                + rng.choice([0, 0, 3_600, DAY])
                - (5 * DAY if rng.random() < 0.01 else 0),
                durations[i],
            )
            for i in range(tasks)
        ]
    else:
        plan = [PlanTask(i, rng.randrange(0, 90 * DAY), durations[i]) for i in range(tasks)]
    return plan, links


def chain_plan(tasks: int) -> tuple[list[PlanTask], list[Link]]:
    """`tasks` one-day tasks, each starting after the one before."""
    plan = [PlanTask(i, i * DAY, DAY) for i in range(tasks)]
    return plan, [Link(i, i - 1, "FS", 0) for i in range(1, tasks)]


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time of this process, in
    milliseconds. The sandbox's two cores are shared: when the load is high,
    wall time shows the wait for a core and CPU time what the work costs."""
    fn()  # warm up
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def bench_critical_path() -> None:
    plans = [
        ("realistic", seeded_plan(1_000)),
        ("realistic", seeded_plan(10_000)),
        ("random dates", seeded_plan(10_000, consistent=False)),
        ("one chain", chain_plan(1_000)),
        ("one chain", chain_plan(10_000)),
    ]
    for kind, (tasks, links) in plans:
        result = critical_path(tasks, links)
        median, best, cpu = measure(lambda t=tasks, lk=links: critical_path(t, lk), 15)
        print(
            f"critical_path {len(tasks):>6} tasks {len(links):>6} links ({kind}): "
            f"median {median:7.1f} ms, best {best:7.1f} ms, CPU median {cpu:7.1f} ms; "
            f"{len(result.critical_path)} critical, {len(result.violations)} broken links"
        )
        median, best, cpu = measure(lambda t=tasks, lk=links: schedule_forward(t, lk), 15)
        print(
            f"schedule_forward {len(tasks):>6} tasks ({kind}): median {median:7.1f} ms, "
            f"best {best:7.1f} ms, CPU median {cpu:7.1f} ms"
        )


def bench_gantt_endpoint(url: str, n: int = 500) -> None:
    """GET /events/{id}/gantt end to end (TestClient: routing, auth, queries,
    the computation, serialisation) for an event of `n` tasks with 5
    dependencies each, on the database at `url` (migrated here)."""
    import os

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from app import auth, migrate
    from app.calendar.models import Task, TaskDependency
    from app.db import build_engine
    from tests.factories import create_event

    os.environ["PROMOPLAN_DATABASE_URL"] = url
    os.environ["PROMOPLAN_SCHEDULER_ENABLED"] = "false"
    os.environ["PROMOPLAN_DELIVERIES_ENABLED"] = "false"
    os.environ["PROMOPLAN_LOG_LEVEL"] = "WARNING"
    from app.config import get_settings

    get_settings.cache_clear()
    migrate.upgrade(url)
    engine = build_engine(url)
    plan, links = seeded_plan(n)
    with Session(engine) as session:
        event = create_event(session, slug=f"bench-{time.time_ns()}")
        base = int(event.starts_at.timestamp()) - 40 * DAY
        rows = []
        for t in plan:
            starts = event.starts_at.fromtimestamp(base + t.start, event.starts_at.tzinfo)
            ends = event.starts_at.fromtimestamp(base + t.start + t.duration, starts.tzinfo)
            rows.append(
                Task(
                    event_id=event.id,
                    name=f"task {t.id}",
                    kind="milestone" if t.duration == 0 else "task",
                    starts_at=starts,
                    ends_at=ends,
                )
            )
        session.add_all(rows)
        session.flush()
        session.add_all(
            TaskDependency(
                event_id=event.id,
                task_id=rows[link.task_id].id,
                depends_on_id=rows[link.depends_on].id,
                type=link.type,
                lag_seconds=link.lag,
            )
            for link in links
        )
        _key, raw = auth.create_key(session, name="bench", role="viewer")
        event_id = event.id
        session.commit()
    from app.main import create_app

    with TestClient(create_app()) as client:
        headers = {"Authorization": f"Bearer {raw}"}
        path = f"/api/v1/events/{event_id}/gantt"
        assert client.get(path, headers=headers).status_code == 200
        median, best, cpu = measure(lambda: client.get(path, headers=headers), 20)
    dialect = url.split(":", 1)[0]
    print(
        f"GET /events/{{id}}/gantt, {n} tasks, {len(links)} links ({dialect}): "
        f"median {median:7.1f} ms, best {best:7.1f} ms, CPU median {cpu:7.1f} ms"
    )
    engine.dispose()


def main() -> None:
    """Pure benchmarks, then the endpoint on SQLite and, when
    PROMOPLAN_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database."""
    import os
    import tempfile

    from tests.dbs import drop_database, fresh_postgres, postgres_base_url

    print(f"load average before: {os.getloadavg()}")
    bench_critical_path()
    bench_gantt_endpoint("sqlite:///" + os.path.join(tempfile.mkdtemp(), "bench.db"))
    if postgres_base_url():
        url = fresh_postgres("bench_calendar")
        try:
            bench_gantt_endpoint(url)
        finally:
            from app.db import engine_for

            engine_for(url).dispose()
            drop_database(url)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
