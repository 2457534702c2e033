"""The planning module against a plain reference on random plans.

`critical_path` and `schedule_forward` work a level of the dependency graph
at a time with numpy; the reference below is deliberately naive (a FIFO
queue for the order, Bellman-Ford rounds over the links for the dates, one
check per link for the broken ones), so that a slip in the vectorised code
(an edge dropped, a level processed twice, the wrong weight for one of the
four types, an id mapped to the wrong task) shows up as a difference.
Plans mix all four types, leads and lags, repeated links between the same
tasks, milestones, fixed and pinned tasks, and task ids both packed and
scattered (the two ways ids are looked up), in any task order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.calendar.planning import (
    CycleError,
    Link,
    PlanTask,
    UnknownTask,
    critical_path,
    schedule_forward,
    violations,
)

H = 3600
D = 86400
FINISH_SIDE = {"FS": False, "SS": False, "FF": True, "SF": True}


def weight(link: Link, by_id: dict[int, PlanTask]) -> int:
    """The earliest successor start relative to the predecessor's, by the
    book: FS after the finish, SS after the start, FF finish after finish,
    SF finish after start, plus the lag."""
    pred, succ = by_id[link.depends_on], by_id[link.task_id]
    anchor = pred.start if link.type in ("SS", "SF") else pred.start + pred.duration
    earliest = anchor + link.lag - (succ.duration if FINISH_SIDE[link.type] else 0)
    return earliest - pred.start


@dataclass
class Reference:
    order: list[int]
    early: dict[int, int]
    late: dict[int, int]
    finish: int
    critical: list[int]
    broken: list[tuple[int, int, str, int, str, int, int]]


def fifo_order(tasks: list[PlanTask], links: list[Link]) -> list[int] | None:
    """Kahn's algorithm with a queue: tasks without predecessors in task
    order, then each task when its last predecessor link is taken."""
    waiting = {t.id: 0 for t in tasks}
    for link in links:
        waiting[link.task_id] += 1
    queue = deque(t.id for t in tasks if waiting[t.id] == 0)
    order = []
    while queue:
        task_id = queue.popleft()
        order.append(task_id)
        for link in links:
            if link.depends_on == task_id:
                waiting[link.task_id] -= 1
                if waiting[link.task_id] == 0:
                    queue.append(link.task_id)
    return order if len(order) == len(tasks) else None


def reference(tasks: list[PlanTask], links: list[Link]) -> Reference:
    by_id = {t.id: t for t in tasks}
    order = fifo_order(tasks, links)
    assert order is not None
    early = {t.id: t.start for t in tasks}
    for _round in tasks:  # as many rounds as tasks: enough on any DAG
        for link in links:
            pushed = early[link.depends_on] + weight(link, by_id)
            early[link.task_id] = max(early[link.task_id], pushed)
    finish = max((early[t.id] + t.duration for t in tasks), default=0)
    late = {}
    for t in tasks:
        late[t.id] = finish - t.duration
        if t.fixed:
            late[t.id] = min(late[t.id], max(t.start, early[t.id]))
    for _round in tasks:
        for link in links:
            pulled = late[link.task_id] - weight(link, by_id)
            late[link.depends_on] = min(late[link.depends_on], pulled)
    broken = []
    for link in links:
        pred, succ = by_id[link.depends_on], by_id[link.task_id]
        offset = succ.duration if FINISH_SIDE[link.type] else 0
        required = pred.start + weight(link, by_id) + offset
        planned = succ.start + offset
        if planned < required:
            side = "finish" if FINISH_SIDE[link.type] else "start"
            broken.append(
                (link.task_id, link.depends_on, link.type, link.lag, side, required, planned)
            )
    critical = [i for i in order if late[i] == early[i]]
    return Reference(order, early, late, finish, critical, broken)


def reference_forward(tasks: list[PlanTask], links: list[Link], now: int | None) -> dict[int, int]:
    """Anchored tasks and tasks without predecessors stay; every other task
    starts when its last predecessor allows (not before `now`)."""
    by_id = {t.id: t for t in tasks}
    has_predecessor = {link.task_id for link in links}
    starts: dict[int, int | None] = {
        t.id: t.start if t.pinned or t.fixed or t.id not in has_predecessor else None for t in tasks
    }
    for _round in tasks:
        for t in tasks:
            if t.pinned or t.fixed or t.id not in has_predecessor:
                continue
            pushes = [(starts[k.depends_on], weight(k, by_id)) for k in links if k.task_id == t.id]
            if all(s is not None for s, _w in pushes):
                floor = [] if now is None else [now]
                starts[t.id] = max(floor + [s + w for s, w in pushes])  # type: ignore[operator]
    return starts  # type: ignore[return-value]


@st.composite
def plans(draw) -> tuple[list[PlanTask], list[Link]]:
    """Acyclic plans: a link always goes from an earlier to a later task of
    a hidden rank order, which the task list then shuffles."""
    n = draw(st.integers(min_value=0, max_value=14))
    # Packed ids (a table lookup) or scattered ones (a sorted search).
    stride = draw(st.sampled_from([1, 3, 10**9]))
    base = draw(st.integers(-50, 50))
    ids = [base + stride * i for i in draw(st.permutations(range(n)))]
    tasks = [
        PlanTask(
            task_id,
            draw(st.integers(0, 30)) * H,
            draw(st.sampled_from([0, H, 3 * H, D])),
            pinned=draw(st.booleans()),
            fixed=draw(st.booleans()),
        )
        for task_id in ids
    ]
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1]),
            max_size=4 * n,
        )
        if n > 1
        else st.just([])
    )
    links = [
        Link(
            ids[s],
            ids[p],
            draw(st.sampled_from(["FS", "SS", "FF", "SF"])),
            draw(st.integers(-6, 8)) * H,
        )
        for p, s in pairs
    ]
    tasks = draw(st.permutations(tasks))
    return list(tasks), links


class TestAgainstTheReference:
    @settings(max_examples=400, deadline=None)
    @given(plans())
    def test_critical_path_matches_the_reference(self, plan):
        tasks, links = plan
        expected = reference(tasks, links)
        result = critical_path(tasks, links)
        assert result.order == expected.order
        assert result.finish == expected.finish
        assert result.critical_path == expected.critical
        by_id = {t.id: t for t in tasks}
        assert set(result.times) == set(by_id)
        for task_id, times in result.times.items():
            duration = by_id[task_id].duration
            assert tuple(times) == (
                expected.early[task_id],
                expected.early[task_id] + duration,
                expected.late[task_id],
                expected.late[task_id] + duration,
            )
            assert all(type(value) is int for value in times)
        assert [tuple(v) for v in result.violations] == expected.broken
        assert violations(tasks, links) == result.violations
        assert all(type(value) is int for v in result.violations for value in v[-2:])
        assert type(result.finish) is int

    @settings(max_examples=300, deadline=None)
    @given(plans(), st.one_of(st.none(), st.integers(0, 40).map(lambda h: h * H)))
    def test_forward_scheduling_matches_the_reference(self, plan, now):
        tasks, links = plan
        expected = reference_forward(tasks, links, now)
        result = schedule_forward(tasks, links, now=now)
        assert result.starts == expected
        planned = {t.id: t.start for t in tasks}
        order = fifo_order(tasks, links)
        assert order is not None
        assert [(m.task_id, m.old_start, m.new_start) for m in result.moves] == [
            (i, planned[i], expected[i]) for i in order if expected[i] != planned[i]
        ]

    @settings(max_examples=200, deadline=None)
    @given(plans(), st.data())
    def test_a_cycle_is_found_and_is_a_real_one(self, plan, data):
        tasks, links = plan
        if not links:
            return
        # Close a loop: a path's last task made a predecessor of its first.
        closing = data.draw(st.sampled_from(links))
        kind = data.draw(st.sampled_from(["FS", "SS", "FF", "SF"]))
        looped = [*links, Link(closing.depends_on, closing.task_id, kind, 0)]
        assert fifo_order(tasks, looped) is None
        for compute in (critical_path, schedule_forward):
            with pytest.raises(CycleError) as raised:
                compute(tasks, looped)
            cycle = raised.value.cycle
            pairs = {(k.depends_on, k.task_id) for k in looped}
            assert len(set(cycle)) == len(cycle) >= 2
            for before, after in zip(cycle, cycle[1:] + cycle[:1], strict=True):
                assert (before, after) in pairs


class TestBadLinks:
    def test_the_first_bad_link_is_the_one_reported(self):
        tasks = [PlanTask(5, 0, H), PlanTask(10**12, 0, H)]
        good = Link(10**12, 5)
        with pytest.raises(UnknownTask) as raised:
            critical_path(tasks, [good, Link(10**12, 7), Link(8, 5, "XX")])
        assert raised.value.task_id == 7
        with pytest.raises(ValueError, match="unknown dependency type 'XX'"):
            critical_path(tasks, [good, Link(5, 10**12, "XX"), Link(10**12, 7)])

    def test_a_predecessor_is_checked_before_its_successor(self):
        with pytest.raises(UnknownTask) as raised:
            schedule_forward([PlanTask(1, 0, H)], [Link(3, 2)])
        assert raised.value.task_id == 2

    def test_a_self_link_is_a_cycle_of_one(self):
        with pytest.raises(CycleError) as raised:
            critical_path([PlanTask(1, 0, H), PlanTask(2, 0, H)], [Link(2, 1), Link(2, 2, "SS")])
        assert raised.value.cycle == [2]

    def test_an_empty_plan_has_no_dates(self):
        plan = critical_path([], [])
        assert (plan.times, plan.order, plan.critical_path, plan.finish) == ({}, [], [], 0)
        assert schedule_forward([], []).starts == {}
