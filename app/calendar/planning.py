"""Critical path, slack, broken dependencies and forward scheduling.

Pure: no web or database imports. Times are integer seconds (UTC epoch
seconds in practice; they must fit in 64 bits) and a plan is worked on as
numpy arrays of them; the service converts datetimes at the edge.

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
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

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
# The same tables as arrays indexed by a link's type code, for whole plans.
_TYPE_CODE = {kind: code for code, kind in enumerate(DEPENDENCY_TYPES)}
_PRED_FACTOR = np.array([_PRED_DURATION[kind] for kind in DEPENDENCY_TYPES], dtype=np.int64)
_SUCC_FACTOR = np.array([_SUCC_DURATION[kind] for kind in DEPENDENCY_TYPES], dtype=np.int64)
_TYPE_NAME = np.array(DEPENDENCY_TYPES, dtype=object)
# A link whose successor's duration enters its weight constrains the finish.
_CONSTRAINED = np.array(["start", "finish"], dtype=object)
# An early start no predecessor has set yet (forward scheduling only).
_UNSET = np.iinfo(np.int64).min

Ints = NDArray[np.int64]
Flags = NDArray[np.bool_]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a big plan allocates some 10,000
    result tuples (more with many broken links) that cannot form cycles,
    and the collector would otherwise walk the whole heap while they are
    made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _bad_link(link: Link, known: set[int]) -> ValueError:
    for task_id in (link.depends_on, link.task_id):
        if task_id not in known:
            return UnknownTask(task_id)
    return ValueError(f"unknown dependency type {link.type!r}; use one of {DEPENDENCY_TYPES}")


def _as_ints(values: list[int]) -> Ints:
    return np.array(values, dtype=np.int64)


def _positions(ids: Ints, wanted: Ints) -> tuple[Ints, Flags]:
    """Where each wanted id is in `ids`, and whether it is there at all. A
    repeated id means its last task, as a dict built over the tasks would."""
    if ids.size and int(ids.max()) - int(ids.min()) <= 4 * ids.size + 1024:
        return _positions_by_table(ids, wanted)
    by_id = np.argsort(ids, kind="stable")  # equal ids keep task order: the last is last
    ordered = ids[by_id]
    at = np.searchsorted(ordered, wanted, side="right") - 1
    known = at >= 0
    at[~known] = 0
    if ids.size:
        known &= ordered[at] == wanted
        at = by_id[at]
    return at, known


def _positions_by_table(ids: Ints, wanted: Ints) -> tuple[Ints, Flags]:
    """`_positions` for ids packed into a narrow range (as a database's are,
    mostly): one table lookup per link, several times cheaper than a search."""
    low = int(ids.min())
    table = np.full(int(ids.max()) - low + 1, -1, dtype=np.int64)
    np.maximum.at(table, ids - low, np.arange(ids.size))  # the last of equal ids
    offset = wanted - low
    inside = (offset >= 0) & (offset < table.size)
    at = table[np.where(inside, offset, 0)]
    return at, inside & (at >= 0)


def _stable_order(keys: Ints, bound: int) -> Ints:
    """The positions that sort `keys` (each below `bound`), ties kept in
    place; as 16-bit keys when they fit, for numpy's radix sort (five times
    faster than its merge sort on 64-bit ones)."""
    return np.argsort(keys.astype(np.uint16) if bound <= 1 << 16 else keys, kind="stable")


class _Levels(NamedTuple):
    """The tasks in topological order, and the edges grouped by the level of
    their predecessor: edges `bounds[k]` to `bounds[k + 1]` of `src`, `dst`
    and `weight` leave level k. Every edge goes to a deeper level, so a
    level's dates depend only on the levels before it (after it, going
    backwards)."""

    order: list[int]
    src: Ints
    dst: Ints
    weight: Ints
    bounds: list[int]

    def slices(self) -> Iterator[slice]:
        return map(slice, self.bounds, self.bounds[1:])


class _Graph:
    """Tasks as indexes 0..n-1 and links as weighted edges, in numpy arrays.

    The order is Kahn's algorithm in plain Python (one cheap step per link,
    whatever the plan's shape); the date passes then work a level of the
    dependency graph at a time, a few array operations per level instead of
    Python steps per link: on a plan of 10,000 tasks and 50,000 links that
    is some 540 levels. Edges are kept in link order (broken links are
    reported in the caller's order) and sorted by predecessor (`out_*`)."""

    __slots__ = (
        "dst",
        "duration",
        "fixed",
        "id_array",
        "ids",
        "indegree",
        "kind",
        "lag",
        "links",
        "out_begin",
        "out_count",
        "out_dst",
        "out_src",
        "out_weight",
        "pinned",
        "src",
        "start",
        "weight",
    )

    def __init__(self, tasks: Sequence[PlanTask], links: Iterable[Link]) -> None:
        self.ids = [t.id for t in tasks]
        self.id_array = _as_ints(self.ids)
        self.start = _as_ints([t.start for t in tasks])
        self.duration = _as_ints([t.duration for t in tasks])
        self.pinned = np.array([t.pinned for t in tasks], dtype=bool)
        self.fixed = np.array([t.fixed for t in tasks], dtype=bool)
        self.links = links = list(links)
        self._index_links(links)
        n = len(self.ids)
        by_predecessor = _stable_order(self.src, n)  # keeps link order per task
        self.out_src = self.src[by_predecessor]
        self.out_dst = self.dst[by_predecessor]
        self.out_weight = self.weight[by_predecessor]
        self.out_count = np.bincount(self.src, minlength=n)
        self.out_begin = np.cumsum(self.out_count) - self.out_count
        self.indegree = np.bincount(self.dst, minlength=n)

    def _index_links(self, links: list[Link]) -> None:
        """Each link as indexes, type code, lag and weight; UnknownTask or
        ValueError for the first link that names no task or no type."""
        self.src, known_src = _positions(self.id_array, _as_ints([k.depends_on for k in links]))
        self.dst, known_dst = _positions(self.id_array, _as_ints([k.task_id for k in links]))
        self.kind = np.array([_TYPE_CODE.get(k.type, -1) for k in links], dtype=np.int64)
        bad = ~(known_src & known_dst & (self.kind >= 0))
        if bad.any():
            raise _bad_link(links[int(np.argmax(bad))], set(self.ids))
        self.lag = _as_ints([k.lag for k in links])
        duration = self.duration
        self.weight = (
            _PRED_FACTOR[self.kind] * duration[self.src]
            - _SUCC_FACTOR[self.kind] * duration[self.dst]
            + self.lag
        )

    def levels(self) -> _Levels:
        """Kahn's algorithm with a FIFO queue, and each task's level: one more
        than that of the predecessor that frees it (the deepest: the queue
        holds the levels in turn). CycleError naming one cycle if some
        tasks cannot be ordered."""
        indegree = self.indegree.tolist()
        successors = self.out_dst.tolist()
        begins = self.out_begin.tolist()
        ends = (self.out_begin + self.out_count).tolist()
        order = [i for i, d in enumerate(indegree) if not d]
        level = [0] * len(indegree)
        append = order.append
        for u in order:  # the list grows while we walk it
            deeper = level[u] + 1
            for s in successors[begins[u] : ends[u]]:
                left = indegree[s] - 1
                indegree[s] = left
                if not left:
                    level[s] = deeper
                    append(s)
        if len(order) != len(indegree):
            raise CycleError([self.ids[i] for i in self._one_cycle(np.array(indegree))])
        return self._edges_by_level(order, _as_ints(level))

    def _edges_by_level(self, order: list[int], level: Ints) -> _Levels:
        depth = int(level.max()) + 1 if level.size else 0
        of_edge = level[self.out_src]
        by_level = _stable_order(of_edge, depth)
        bounds = np.concatenate(([0], np.cumsum(np.bincount(of_edge, minlength=depth))))
        return _Levels(
            order,
            self.out_src[by_level],
            self.out_dst[by_level],
            self.out_weight[by_level],
            bounds.tolist(),
        )

    @staticmethod
    def early_starts(levels: _Levels, early: Ints, target: Ints) -> Ints:
        """The forward pass, a level at a time: `early` holds each task's
        start before its predecessors push it, and edge `e` (of `levels`)
        pushes task `target[e]` (an extra slot at the end of `early` takes
        the pushes to drop)."""
        src, weight = levels.src, levels.weight
        for edges in levels.slices():
            np.maximum.at(early, target[edges], early[src[edges]] + weight[edges])
        return early[:-1]

    def _one_cycle(self, indegree: Ints) -> list[int]:
        """A cycle among the tasks Kahn could not order: each of them still
        has a predecessor among them, so walking predecessors must repeat.
        Each task's first such predecessor (in predecessor order) is taken."""
        stuck = indegree > 0
        inside = stuck[self.out_src] & stuck[self.out_dst]
        successors, first = np.unique(self.out_dst[inside], return_index=True)
        pred_of = dict(zip(successors.tolist(), self.out_src[inside][first].tolist(), strict=True))
        seen: dict[int, int] = {}
        walk: list[int] = []
        node = int(np.argmax(stuck))
        while node not in seen:
            seen[node] = len(walk)
            walk.append(node)
            node = pred_of[node]
        cycle = walk[seen[node] :]
        cycle.reverse()  # predecessor first: each depends on the one before
        return cycle

    def late_starts(self, levels: _Levels, early: Ints, finish: int) -> Ints:
        """The mirror pass, a level at a time from the last: as late as the
        successors and `finish` allow, and a fixed task no later than it is
        planned (or pushed)."""
        late = finish - self.duration
        committed = np.maximum(self.start, early)
        late = np.where(self.fixed, np.minimum(late, committed), late)
        src, dst, weight = levels.src, levels.dst, levels.weight
        for edges in reversed(list(levels.slices())):
            np.minimum.at(late, src[edges], late[dst[edges]] - weight[edges])
        return late

    def broken(self) -> Ints:
        """Positions (in link order) of the links the planned dates break."""
        return np.flatnonzero(self.start[self.dst] < self.start[self.src] + self.weight)


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
    levels = graph.levels()
    early = graph.early_starts(levels, np.append(graph.start, 0), levels.dst)
    early_finish = early + graph.duration
    finish = int(early_finish.max()) if early.size else 0
    late = graph.late_starts(levels, early, finish)
    order = np.array(levels.order, dtype=np.int64)
    # tuple.__new__ makes the NamedTuples without a Python call each.
    times = map(
        tuple.__new__,
        repeat(TaskTimes),
        zip(
            early.tolist(),
            early_finish.tolist(),
            late.tolist(),
            (late + graph.duration).tolist(),
            strict=True,
        ),
    )
    on_path = order[late[order] == early[order]]
    return Schedule(
        times=dict(zip(graph.ids, times, strict=True)),
        order=graph.id_array[order].tolist(),
        critical_path=graph.id_array[on_path].tolist(),
        violations=_violations(graph),
        finish=finish,
    )


def violations(tasks: Sequence[PlanTask], links: Iterable[Link]) -> list[Violation]:
    """The links that the planned dates break (no cycle check needed)."""
    with _gc_paused():
        return _violations(_Graph(tasks, links))


def _violations(graph: _Graph) -> list[Violation]:
    broken = graph.broken()
    src, dst, kind = graph.src[broken], graph.dst[broken], graph.kind[broken]
    finish_side = _SUCC_FACTOR[kind]
    offset = finish_side * graph.duration[dst]
    fields = (
        graph.id_array[dst].tolist(),
        graph.id_array[src].tolist(),
        _TYPE_NAME[kind].tolist(),
        graph.lag[broken].tolist(),
        _CONSTRAINED[finish_side].tolist(),
        (graph.start[src] + graph.weight[broken] + offset).tolist(),
        (graph.start[dst] + offset).tolist(),
    )
    return list(map(tuple.__new__, repeat(Violation), zip(*fields, strict=True)))


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
        # Milestones are dates promised to merchants and shoppers: like work
        # begun, they stay where they are, and pushes into them are dropped
        # (into the extra slot at the end).
        anchored = graph.pinned | graph.fixed
        kept = anchored | (graph.indegree == 0)
        # Starting the others at `now` is the same as clamping them to it.
        floor = _UNSET if now is None else now
        levels = graph.levels()
        target = np.where(anchored[levels.dst], len(graph.ids), levels.dst)
        early = graph.early_starts(levels, np.append(np.where(kept, graph.start, floor), 0), target)
    start, order = graph.start, np.array(levels.order, dtype=np.int64)
    moved = order[early[order] != start[order]].tolist()
    ids = graph.ids
    starts = early.tolist()
    moves = [Move(ids[i], int(start[i]), starts[i]) for i in moved]
    return ForwardPlan(moves=moves, starts=dict(zip(ids, starts, strict=True)))


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
