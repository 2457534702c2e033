"""Critical path, slack, broken dependencies and forward scheduling.

Pure: no web or database imports. Times are integer seconds (UTC epoch
seconds in practice) so that the hot loops do integer arithmetic only; the
service converts datetimes at the edge.

Every dependency type reduces to one inequality between the two starts.
With S the start, D the duration and L the lag of a link from
predecessor p to successor s:

    FS  S_s >= S_p + D_p + L
    SS  S_s >= S_p + L
    FF  S_s + D_s >= S_p + D_p + L   ->  S_s >= S_p + D_p + L - D_s
    SF  S_s + D_s >= S_p + L         ->  S_s >= S_p + L - D_s

so a plan is a longest-path problem over `S_s >= S_p + w` with one weight
`w` per link: the forward pass is a longest path in topological order, the
backward pass the mirror image, and a link is broken by the planned dates
when `S_s < S_p + w`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

DEPENDENCY_TYPES = ("FS", "SS", "FF", "SF")


@dataclass(frozen=True, slots=True)
class PlanTask:
    id: int
    start: int  # planned start, seconds
    duration: int  # seconds; 0 for a milestone
    # A pinned task keeps its planned start (work has begun, or it is done):
    # forward scheduling never moves it.
    pinned: bool = False
    # A fixed task is a commitment (a milestone on the marketplace's
    # calendar): it may not slip past its planned start, so its late start
    # is its planned start (or its early start, if a dependency already
    # pushes it later). Classic CPM when False.
    fixed: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    task_id: int  # the successor: the task that depends
    depends_on: int  # the predecessor
    type: str = "FS"
    lag: int = 0  # seconds; negative is a lead


class TaskTimes(NamedTuple):
    # NamedTuples, not frozen dataclasses: a big plan makes 10,000 of these,
    # and a frozen dataclass's __init__ costs several times a tuple's.
    early_start: int
    early_finish: int
    late_start: int
    late_finish: int

    @property
    def slack(self) -> int:
        return self.late_start - self.early_start

    @property
    def critical(self) -> bool:
        return self.slack == 0


class Violation(NamedTuple):
    """A link the planned dates break: the successor's constrained end
    (`start` for FS/SS, `finish` for FF/SF) is `by` seconds too early."""

    task_id: int
    depends_on: int
    type: str
    lag: int
    constrained: str  # "start" or "finish" of the successor
    required: int  # the earliest the constrained end may be
    planned: int  # where the plan has it

    @property
    def by(self) -> int:
        return self.required - self.planned


@dataclass(frozen=True)
class Schedule:
    times: dict[int, TaskTimes]
    order: list[int]  # topological order of task ids
    critical_path: list[int]  # zero-slack tasks, in topological order
    violations: list[Violation]
    finish: int  # the project finish: the latest early finish


@dataclass(frozen=True)
class Move:
    task_id: int
    old_start: int
    new_start: int


@dataclass(frozen=True)
class ForwardPlan:
    moves: list[Move]  # only tasks whose start changes
    starts: dict[int, int] = field(default_factory=dict)  # every task's new start


class CycleError(ValueError):
    """The links contain a cycle; `cycle` lists its task ids in link order
    (each depends on the one before it; the first depends on the last)."""

    def __init__(self, cycle: list[int]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(map(str, [*cycle, cycle[0]])))
        self.cycle = cycle


class UnknownTask(ValueError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"a link names task {task_id}, which is not in the plan")
        self.task_id = task_id


# `w = a * D_p - b * D_s + L` per type (see the module docstring).
_PRED_DURATION = {"FS": 1, "SS": 0, "FF": 1, "SF": 0}
_SUCC_DURATION = {"FS": 0, "SS": 0, "FF": 1, "SF": 1}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a big plan allocates some 100,000
    tuples that cannot form cycles, and the collector would otherwise walk
    the whole heap several times over while they are made (GC pauses were
    most of the time of a 10,000-task plan)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _bad_link(link: Link, index: dict[int, int]) -> ValueError:
    for task_id in (link.depends_on, link.task_id):
        if task_id not in index:
            return UnknownTask(task_id)
    return ValueError(f"unknown dependency type {link.type!r}; use one of {DEPENDENCY_TYPES}")


def link_weight(link_type: str, lag: int, pred_duration: int, succ_duration: int) -> int:
    """`w` in `S_s >= S_p + w` for one link (see the module docstring)."""
    if link_type not in _PRED_DURATION:
        raise ValueError(f"unknown dependency type {link_type!r}; use one of {DEPENDENCY_TYPES}")
    return (
        _PRED_DURATION[link_type] * pred_duration - _SUCC_DURATION[link_type] * succ_duration + lag
    )


class _Graph:
    """Tasks as indexes 0..n-1 and links as weighted edges, built once."""

    __slots__ = (
        "broken",
        "duration",
        "fixed",
        "ids",
        "indegree",
        "index",
        "links",
        "out",
        "pinned",
        "start",
    )

    def __init__(self, tasks: Sequence[PlanTask], links: Iterable[Link]) -> None:
        self.ids = [t.id for t in tasks]
        self.start = start = [t.start for t in tasks]
        self.duration = duration = [t.duration for t in tasks]
        self.pinned = [t.pinned for t in tasks]
        self.fixed = [t.fixed for t in tasks]
        self.links = links = list(links)
        self.index = index = {task_id: i for i, task_id in enumerate(self.ids)}
        n = len(self.ids)
        self.out = out = [[] for _ in range(n)]
        self.indegree = indegree = [0] * n
        # The links the planned dates break, by position in `links`: found
        # here, in the one pass over the links (the costliest step on big
        # plans), rather than in a pass of their own.
        self.broken = broken = []
        k = -1
        try:
            for k, link in enumerate(links):
                p = index[link.depends_on]
                s = index[link.task_id]
                kind = link.type
                # Spelled out rather than a table lookup: 15 % faster here.
                if kind == "FS":
                    w = duration[p] + link.lag
                elif kind == "SS":
                    w = link.lag
                elif kind == "FF":
                    w = duration[p] - duration[s] + link.lag
                elif kind == "SF":
                    w = link.lag - duration[s]
                else:
                    raise KeyError(kind)
                out[p].append((s, w))
                indegree[s] += 1
                if start[s] < start[p] + w:
                    broken.append(k)
        except KeyError:
            raise _bad_link(links[k], index) from None

    def edges(self) -> Iterator[tuple[int, int, int]]:
        """(predecessor, successor, weight) of every link, as indexes."""
        for p, successors in enumerate(self.out):
            for s, w in successors:
                yield p, s, w

    def topological_order(self) -> list[int]:
        """Kahn's algorithm in O(n + m); CycleError naming one cycle."""
        indegree = self.indegree[:]
        out = self.out
        order = [i for i, d in enumerate(indegree) if d == 0]
        append = order.append
        position = 0
        while position < len(order):
            for s, _w in out[order[position]]:
                indegree[s] -= 1
                if indegree[s] == 0:
                    append(s)
            position += 1
        if len(order) != len(indegree):
            raise CycleError([self.ids[i] for i in self._one_cycle(indegree)])
        return order

    def _one_cycle(self, indegree: list[int]) -> list[int]:
        """A cycle among the tasks Kahn could not order: each of them still
        has a predecessor among them, so walking predecessors must repeat."""
        stuck = {i for i, d in enumerate(indegree) if d > 0}
        pred_of: dict[int, int] = {}
        for p, s, _w in self.edges():
            if p in stuck and s in stuck:
                pred_of.setdefault(s, p)
        seen: dict[int, int] = {}
        walk: list[int] = []
        node = min(stuck)
        while node not in seen:
            seen[node] = len(walk)
            walk.append(node)
            node = pred_of[node]
        cycle = walk[seen[node] :]
        cycle.reverse()  # predecessor first: each depends on the one before
        return cycle

    def order_and_early_starts(self) -> tuple[list[int], list[int]]:
        """Kahn's algorithm and the Gantt view's forward pass in one sweep:
        each task starts no earlier than planned and than its predecessors
        allow (on the biggest plans every pass over 50,000 links counts)."""
        indegree = self.indegree[:]
        out = self.out
        es = self.start[:]
        order = [i for i, d in enumerate(indegree) if d == 0]
        append = order.append
        for u in order:  # the list grows while we walk it
            eu = es[u]
            for s, w in out[u]:
                if eu + w > es[s]:
                    es[s] = eu + w
                left = indegree[s] - 1
                indegree[s] = left
                if not left:
                    append(s)
        if len(order) != len(indegree):
            raise CycleError([self.ids[i] for i in self._one_cycle(indegree)])
        return order, es

    def early_starts(
        self, order: list[int], *, anchored: list[bool], not_before: int | None = None
    ) -> list[int]:
        """Forward scheduling's pass: anchored tasks and tasks without
        predecessors keep their planned start; every other task starts as
        early as its predecessors allow (earlier than planned, too), but not
        before `not_before` when given."""
        start = self.start
        out = self.out
        indegree = self.indegree
        free: list[int | None] = [
            start[i] if anchored[i] or indegree[i] == 0 else None for i in range(len(start))
        ]
        for u in order:
            eu = free[u]
            if eu is None:  # pragma: no cover - every predecessor came first
                raise AssertionError("topological order broken")
            if not_before is not None and not anchored[u] and indegree[u] and eu < not_before:
                eu = free[u] = not_before
            for s, w in out[u]:
                if anchored[s]:
                    continue
                current = free[s]
                if current is None or eu + w > current:
                    free[s] = eu + w
        return free  # type: ignore[return-value]

    def late_starts(self, order: list[int], finish: int, es: list[int]) -> list[int]:
        """The mirror pass: as late as the successors and `finish` allow, and
        a fixed task no later than it is planned (or pushed)."""
        duration = self.duration
        out = self.out
        fixed = self.fixed
        start = self.start
        ls = [0] * len(duration)
        for u in reversed(order):
            latest = finish - duration[u]
            if fixed[u]:
                committed = start[u] if start[u] > es[u] else es[u]
                if committed < latest:
                    latest = committed
            for s, w in out[u]:
                candidate = ls[s] - w
                if candidate < latest:
                    latest = candidate
            ls[u] = latest
        return ls


def critical_path(tasks: Sequence[PlanTask], links: Iterable[Link]) -> Schedule:
    """Early and late dates, slack, the critical path and the broken links.

    A task starts no earlier than its planned start (dates in a sales
    calendar are commitments, not estimates) and no earlier than its
    dependencies allow; the project finish is the latest early finish, and
    every task's late finish is bounded by it and by its successors' late
    dates (a fixed task's late start also by its planned start), so slack
    is never negative and the critical tasks are those with none. Raises
    CycleError (naming a cycle) or UnknownTask.
    """
    with _gc_paused():
        return _critical_path(tasks, links)


def _critical_path(tasks: Sequence[PlanTask], links: Iterable[Link]) -> Schedule:
    graph = _Graph(tasks, links)
    order, es = graph.order_and_early_starts()
    duration = graph.duration
    finish = max((es[i] + duration[i] for i in range(len(es))), default=0)
    ls = graph.late_starts(order, finish, es)
    ids = graph.ids
    times = {
        ids[i]: TaskTimes(es[i], es[i] + duration[i], ls[i], ls[i] + duration[i])
        for i in range(len(ids))
    }
    critical = [ids[i] for i in order if ls[i] == es[i]]
    return Schedule(
        times=times,
        order=[ids[i] for i in order],
        critical_path=critical,
        violations=_violations(graph),
        finish=finish,
    )


def violations(tasks: Sequence[PlanTask], links: Iterable[Link]) -> list[Violation]:
    """The links that the planned dates break (no cycle check needed)."""
    return _violations(_Graph(tasks, links))


def _violations(graph: _Graph) -> list[Violation]:
    start = graph.start
    duration = graph.duration
    index = graph.index
    found = []
    for k in graph.broken:
        link = graph.links[k]
        p, s = index[link.depends_on], index[link.task_id]
        w = link_weight(link.type, link.lag, duration[p], duration[s])
        finish_side = link.type in ("FF", "SF")
        offset = duration[s] if finish_side else 0
        found.append(
            Violation(  # positional: measurably cheaper by the thousand
                link.task_id,
                link.depends_on,
                link.type,
                link.lag,
                "finish" if finish_side else "start",
                start[p] + w + offset,
                start[s] + offset,
            )
        )
    return found


def schedule_forward(
    tasks: Sequence[PlanTask], links: Iterable[Link], *, now: int | None = None
) -> ForwardPlan:
    """Move every task with predecessors as early as they allow.

    Tasks without predecessors, pinned tasks (work begun or done) and fixed
    tasks (milestones) keep their dates; nothing unpinned is moved to before `now` (work that has
    not started cannot start in the past). Durations are kept. The result
    breaks no link, except links into a pinned task, which the planner
    has to resolve by hand.
    """
    with _gc_paused():
        graph = _Graph(tasks, links)
        order = graph.topological_order()
        # Milestones are dates promised to merchants and shoppers: like work
        # begun, they stay where they are.
        anchored = [p or f for p, f in zip(graph.pinned, graph.fixed, strict=True)]
        es = graph.early_starts(order, anchored=anchored, not_before=now)
    ids = graph.ids
    moves = [Move(ids[i], graph.start[i], es[i]) for i in order if es[i] != graph.start[i]]
    return ForwardPlan(moves=moves, starts={ids[i]: es[i] for i in range(len(ids))})


# --- the year view: conflicts between events --------------------------------


@dataclass(frozen=True, slots=True)
class Peak:
    event_id: int
    start: Any
    end: Any  # exclusive


@dataclass(frozen=True, slots=True)
class PeakOverlap:
    event_ids: tuple[int, int]
    start: Any
    end: Any


@dataclass(frozen=True, slots=True)
class DueMilestone:
    task_id: int
    event_id: int
    team: str
    day: date  # the local day it falls on


@dataclass(frozen=True, slots=True)
class TeamOverload:
    team: str
    day: date
    task_ids: tuple[int, ...]
    event_ids: tuple[int, ...]
    limit: int


def peak_overlaps(peaks: Sequence[Peak]) -> list[PeakOverlap]:
    """Every pair of peaks whose windows overlap (touching is not overlap),
    by a sweep over the peaks in start order."""
    ordered = sorted(peaks, key=lambda p: (p.start, p.event_id))
    found = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.start >= first.end:
                break
            found.append(
                PeakOverlap(
                    (first.event_id, second.event_id),
                    second.start,
                    min(first.end, second.end),
                )
            )
    return found


def team_overloads(milestones: Iterable[DueMilestone], *, limit: int) -> list[TeamOverload]:
    """Days where one team has more than `limit` milestones due, over all
    events: a team cannot sign off five launches on one day."""
    by_team_day: dict[tuple[str, date], list[DueMilestone]] = {}
    for milestone in milestones:
        by_team_day.setdefault((milestone.team, milestone.day), []).append(milestone)
    return [
        TeamOverload(
            team=team,
            day=day,
            task_ids=tuple(sorted(m.task_id for m in due)),
            event_ids=tuple(sorted({m.event_id for m in due})),
            limit=limit,
        )
        for (team, day), due in sorted(by_team_day.items())
        if len(due) > limit
    ]
