"""Optimal slot allocation: plain data in, assignments and reasons out.

`allocate()` maximises the total score of granted units under every rule of
the slot plans (capacity, category and tier `max` per window, `min` per
window as a reservation, the per-merchant cap, all-or-nothing applications
and hand-placed locks), proves optimality, and explains every refusal.

Why a MILP with HiGHS (`highspy`): all-or-nothing applications and
category/tier quotas that cut across each other make the general problem NP
hard, so a greedy or a flow cannot be exact there. HiGHS is an exact
branch-and-cut solver that reports the gap it proved. Where the rules nest
(no all-or-nothing over several windows, and per slot type only one quota
family: categories or tiers), the constraint matrix is that of a min-cost
flow — two laminar families (merchant caps on one side; windows and their
quota groups on the other) — so it is totally unimodular: the LP relaxation
is already integral and HiGHS finishes at the root LP without branching. The
result then reports `network: True`.

`min` per window is a reservation "honoured as far as eligible applications
allow". It is solved lexicographically, without a big-M weight that would
swamp the scores' precision: phase 1 minimises the total shortfall against
the minimums; phase 2 maximises the score with the shortfall held at that
optimum. Reserved units that nobody eligible can fill are thus released.

Determinism: the same input gives the same answer (HiGHS runs with a fixed
seed). Ties are broken by application time: each unit's objective gets a
bonus that falls with the application's rank and that sums, over any
allocation, to less than half of the step all scores are multiples of
(`_score_quantum`), so it decides only between allocations of equal score.

A time-limited run starts from a greedy solution (feasible by construction:
minimums are soft), so it always has an answer; it reports the gap it proved
and `optimal` only when that gap is zero. Big models (above
`RELAX_FIRST_UNITS`) solve the relaxation first — without HiGHS' presolve,
which costs several times the simplex on these sparse models — round it
down, repair it greedily and polish it (RINS, `_polish`) before branching on
the whole model, and branch only when there is time for it — with
minimums, also without presolve: HiGHS' MIP presolve then takes about 30 s
of CPU at 100,000 tiered applications (mostly its search for dominated
columns, which cannot be switched off alone), while the bare relaxation's
bound is 0.17 % above the optimum there and only the root cuts close it.
Phase 1 gets a quarter of the time on such models, phase 2 the rest, and a
callback stops HiGHS at the deadline (`_interrupt_at`). `time_limit` bounds the whole
call: solving stops early enough to leave time for the explanations
(`EXPLAIN_SECONDS_PER_UNIT`).

Why not a dedicated min-cost-flow code for the nested case: measured at
100,000 applications, HiGHS' dual simplex without presolve solves the
network LP in 0.27 s of CPU on a quiet machine (4 s with presolve), and
OR-Tools' `SimpleMinCostFlow` took 0.83 s (plus 0.24 s to build the graph),
needs integral costs (the scores and the tie-breaking bonus would have to
be scaled into int64) and pulls in pandas and protobuf. The LP stays; the
rest of a nested call (index, model, positions and ~97,000 explanations)
is numpy plus one Python pass per output object, with the cyclic garbage
collector paused while those objects are made: the results are named
tuples made from columns, and the model goes to HiGHS as arrays.

Where the rules nest and nothing is reserved (no minimums), most units
are settled before the LP (`_settled_units`: within a window, a greedy by
score over the units whose merchant cap cannot bind decides most of them
exactly) and HiGHS solves the rest (`_solve_nested`), which cuts the LP
step about sixfold at 100,000 applications. Where several allocations are
equally good (a merchant at its cap with room in more than one window),
that cut LP may return another of them than the whole LP would. At that
size the tie-breaking bonus (under 5e-8 in all) is also below HiGHS' dual
feasibility tolerance (1e-7): two equal scores in one window are not
always decided by application time, though the settled units are.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import math
import operator
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

import numpy as np

# Above this many requested units, a non-nested model is relaxed, rounded
# and repaired before branching (a cold MILP that big may find nothing good).
RELAX_FIRST_UNITS = 50_000

# Time kept back from the solver, per requested unit, for writing the
# refusals' explanations, so that `time_limit` bounds the whole call.
EXPLAIN_SECONDS_PER_UNIT = 15e-6
# Below this much time per requested unit, a big model's phase 1 also
# weighs the scores (see `allocate`).
TIGHT_SECONDS_PER_UNIT = 60e-6

REASONS = (
    "capacity",
    "category_quota",
    "tier_quota",
    "merchant_cap",
    "all_or_nothing",
    "outscored",
)

# --- inputs -----------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """Units of one category or tier per window: at least `min` reserved
    (as far as eligible applications allow), at most `max`."""

    min: int = 0
    max: int | None = None


@dataclass(frozen=True)
class Plan:
    """The rules of one slot type in one event."""

    slot_type: str
    windows: tuple[date, ...]
    capacity: int
    category_quotas: Mapping[str, Quota] = field(default_factory=dict)
    tier_quotas: Mapping[str, Quota] = field(default_factory=dict)
    per_merchant_max: int | None = None


@dataclass(frozen=True)
class Application:
    """One unit of `slot_type` asked for in each of `windows`. `rank` orders
    applications by time (earlier first) and breaks ties."""

    id: int
    merchant_id: int
    tier: str
    category: str
    slot_type: str
    windows: tuple[date, ...]
    score: float
    all_or_nothing: bool = False
    rank: int = 0


@dataclass(frozen=True)
class Lock:
    application_id: int
    window: date


# --- outputs ----------------------------------------------------------------


# The results are named tuples, not frozen dataclasses: a big run makes one
# per requested unit (~167,000 at 100,000 applications), and a tuple is made
# five times faster. They read, print and compare field by field the same way.


class Assignment(NamedTuple):
    application_id: int
    merchant_id: int
    slot_type: str
    window: date
    position: int
    score: float
    locked: bool


class Refusal(NamedTuple):
    application_id: int
    merchant_id: int
    slot_type: str
    window: date
    reason: str
    detail: str


@dataclass(frozen=True)
class Allocation:
    status: str  # "optimal" | "feasible"
    optimal: bool
    objective: float
    assignments: list[Assignment]
    refusals: list[Refusal]
    stats: dict[str, Any]


class AllocationInputError(ValueError):
    """The input cannot be allocated as given (for example, locks that
    break a limit). `problems` lists (where, message) pairs."""

    def __init__(self, problems: list[tuple[list[str | int], str]]):
        super().__init__("; ".join(msg for _loc, msg in problems))
        self.problems = problems


# --- the model's index ------------------------------------------------------

Cell = tuple[str, date]  # (slot type, window)
Record = TypeVar("Record", "Assignment", "Refusal")


@dataclass
class _Family:
    """One family of `sum(columns) <= limit` rules (capacity per window,
    a category's or a tier's `max` per window, the merchant cap): a group
    id per column, and per group one of its columns (any: they share the
    group's key) and its limit (-1: none). Groups are numbered in the order
    of their keys."""

    kind: str  # "capacity" | "category_quota" | "tier_quota" | "merchant_cap"
    group_of: np.ndarray
    member: np.ndarray
    limit: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return np.bincount(self.group_of, minlength=self.member.size)


@dataclass
class _Index:
    """Each requested unit (application, window) as a column, and the groups
    each column belongs to. The columns of one application are consecutive
    (`app_start`); the groups are kept as an integer id per column (see
    `_Family`), so that counting is one numpy call. The groups' column
    lists (`grouped`, `by_cell`, `by_app`) are built only when asked for: the
    network path never does."""

    plans: dict[str, Plan]
    apps: list[Application]
    windows: np.ndarray  # every window of the plans, in order (date objects)
    window_code: np.ndarray  # per column: its window's place in `windows`
    locked: np.ndarray  # bool per column
    # The locked columns and every other window of an all-or-nothing
    # application with a lock: all of them are kept whatever the scores.
    forced: np.ndarray
    app_start: np.ndarray  # columns of app i: app_start[i]:app_start[i + 1]
    app_of: np.ndarray  # per column: its application's index into `apps`
    app_score: np.ndarray  # per application
    app_aon: np.ndarray  # all-or-nothing, per application
    score: np.ndarray  # per column
    families: dict[str, _Family]
    # The fields results repeat from each application, as given (an int
    # score stays an int; see `_column`), gathered for many units at once.
    app_fields: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return self.app_of.size

    # Python lists for the loops that look at one column at a time.
    @functools.cached_property
    def unit_app(self) -> list[int]:
        return self.app_of.tolist()

    @functools.cached_property
    def unit_window(self) -> list[date]:
        return self.windows[self.window_code].tolist()

    @property
    def cell_of(self) -> np.ndarray:
        return self.families["capacity"].group_of

    @property
    def category_of(self) -> np.ndarray:
        return self.families["category_quota"].group_of

    @property
    def tier_of(self) -> np.ndarray:
        return self.families["tier_quota"].group_of

    @property
    def merchant_of(self) -> np.ndarray:
        return self.families["merchant_cap"].group_of

    def app_at(self, c: int) -> Application:
        """The application of column `c` (for code that looks at a few columns)."""
        return self.apps[int(self.app_of[c])]

    def window_at(self, c: int) -> date:
        return self.windows[int(self.window_code[c])]

    def key(self, kind: str, c: int) -> tuple:
        """The key of the group of `kind` that column `c` is in."""
        app = self.app_at(c)
        if kind == "merchant_cap":
            return (app.slot_type, app.merchant_id)
        cell = (app.slot_type, self.window_at(c))
        if kind == "category_quota":
            return (*cell, app.category)
        if kind == "tier_quota":
            return (*cell, app.tier)
        return cell

    def keys(self, kind: str) -> list[tuple]:
        return [self.key(kind, c) for c in self.families[kind].member.tolist()]

    def columns(self, kind: str) -> list[list[int]]:
        """Each group's columns, in ascending order."""
        family = self.families[kind]
        columns = np.argsort(family.group_of, kind="stable").tolist()
        bounds = [0, *np.cumsum(family.size).tolist()]
        return [columns[a:b] for a, b in itertools.pairwise(bounds)]

    def grouped(self, kind: str) -> dict[tuple, list[int]]:
        if kind not in self._grouped:
            self._grouped[kind] = dict(zip(self.keys(kind), self.columns(kind), strict=True))
        return self._grouped[kind]

    @functools.cached_property
    def _grouped(self) -> dict[str, dict[tuple, list[int]]]:
        return {}

    @property
    def by_cell(self) -> dict[Cell, list[int]]:
        return self.grouped("capacity")

    def per_unit(self, columns: np.ndarray) -> dict[str, list]:
        """`app_fields` and the window of each of `columns`."""
        apps = self.app_of[columns]
        fields = {name: values[apps].tolist() for name, values in self.app_fields.items()}
        fields["window"] = self.windows[self.window_code[columns]].tolist()
        return fields

    @functools.cached_property
    def by_app(self) -> list[list[int]]:
        starts = self.app_start.tolist()
        return [list(range(a, b)) for a, b in itertools.pairwise(starts)]


def _codes(values: list, column: np.ndarray | None = None) -> tuple[list, np.ndarray]:
    """Sorted distinct values and each value's position among them.
    `column`: the values as `_column` keeps them, when at hand (integers
    are then sorted by numpy, not as Python objects)."""
    if column is not None and column.dtype == np.int64:
        distinct_numbers, position = np.unique(column, return_inverse=True)
        return distinct_numbers.tolist(), position.reshape(-1)
    distinct = sorted(set(values))
    code = {v: k for k, v in enumerate(distinct)}
    return distinct, np.fromiter(map(code.__getitem__, values), dtype=np.int64, count=len(values))


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group positions by a non-negative integer key (groups numbered in
    the order of their keys): each position's group, and one position of
    each group."""
    if key.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    span = int(key.max()) + 1
    if span > 4 * key.size + 1024:  # sparse keys: sort them
        _uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return inverse.reshape(-1), first
    # Dense keys (the usual case): a lookup table, no sort.
    present = np.bincount(key, minlength=span) > 0
    group_of_key = np.cumsum(present) - 1
    group_of = group_of_key[key]
    member = np.empty(int(present.sum()), dtype=np.int64)
    member[group_of] = np.arange(key.size)
    return group_of, member


def _family(kind: str, key: np.ndarray, limit_of_column: np.ndarray) -> _Family:
    """Group columns by an integer key (groups ordered by key); each group's
    limit is that of its columns."""
    group_of, member = _groups(key)
    return _Family(kind, group_of, member, limit_of_column[member])


def _application_problems(
    apps: list[Application], window_sets: Mapping[str, frozenset[date]]
) -> list[tuple[list[str | int], str]]:
    """What is wrong with applications that ask for a slot type without a
    plan, or for windows outside its plan."""
    problems: list[tuple[list[str | int], str]] = []
    for app in apps:
        plan_windows = window_sets.get(app.slot_type)
        if plan_windows is None:
            problems.append(
                (["applications", app.id], f"no slot plan for slot type {app.slot_type!r}")
            )
            continue
        for window in sorted(set(app.windows)):
            if window not in plan_windows:
                problems.append(
                    (
                        ["applications", app.id],
                        f"window {window} is not in the plan of {app.slot_type}",
                    )
                )
    return problems


def _lock_problem(lock: tuple[int, date]) -> tuple[list[str | int], str]:
    return (
        ["locks", lock[0]],
        f"lock on application {lock[0]} for {lock[1]} matches no window it applied for",
    )


def _attribute(apps: list[Application], name: str, dtype: type) -> np.ndarray:
    """One attribute of every application, as an array."""
    return np.fromiter(map(operator.attrgetter(name), apps), dtype=dtype, count=len(apps))


def _objects(values: Iterable, n: int) -> np.ndarray:
    """`n` values as an object array, each kept as it is."""
    return np.fromiter(values, dtype=object, count=n)


def _column(values: list) -> np.ndarray:
    """A field results repeat from each application, as an array whose
    `tolist()` gives values equal to and of the type of those given: int64
    or float64 when every value is exactly an int (within int64) or a
    float, else the objects themselves. A numeric column makes fresh
    objects, one after another in memory, where gathering the given ones
    (ids and scores are one object per application, spread over the heap)
    missed the cache at every unit: at 100,000 nested applications the
    explanations took a tenth less time (0.33 s to 0.29 s, median)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    if kinds == {int}:
        with contextlib.suppress(OverflowError):
            return np.fromiter(values, dtype=np.int64, count=len(values))
    return _objects(values, len(values))


def _in_time_order(applications: Iterable[Application]) -> tuple[list[Application], np.ndarray]:
    """Applications by (rank, id): earlier first; and their ids, in that order."""
    given = list(applications)
    ids = _column(list(map(operator.attrgetter("id"), given)))
    numbers, rank = ids.astype(np.int64), _attribute(given, "rank", np.int64)
    later = (rank[1:] > rank[:-1]) | ((rank[1:] == rank[:-1]) & (numbers[1:] > numbers[:-1]))
    if later.all():  # given in time order (the usual case): no sort
        return given, ids
    order = np.lexsort((numbers, rank))
    return [given[i] for i in order.tolist()], ids[order]


def _quota_limits(plans: list[Plan], names: list[str], family: str) -> np.ndarray:
    """The `max` of each (plan, category or tier name), -1 where none."""
    table = np.full((len(plans), max(len(names), 1)), -1, dtype=np.int64)
    for p, plan in enumerate(plans):
        quotas = plan.category_quotas if family == "category" else plan.tier_quotas
        for k, name in enumerate(names):
            quota = quotas.get(name)
            if quota is not None and quota.max is not None:
                table[p, k] = quota.max
    return table


def _build_index(
    plans: Iterable[Plan], applications: Iterable[Application], locks: Iterable[Lock]
) -> _Index:
    plan_map = {p.slot_type: p for p in plans}
    apps, app_ids = _in_time_order(applications)
    lock_set = {(lock.application_id, lock.window) for lock in locks}
    all_windows = sorted({w for p in plan_map.values() for w in p.windows})
    window_code = {w: k for k, w in enumerate(all_windows)}
    window_sets = {code: frozenset(p.windows) for code, p in plan_map.items()}
    slot_names = sorted(plan_map)
    slot_plans = [plan_map[name] for name in slot_names]
    slot_code = {name: k for k, name in enumerate(slot_names)}
    n_windows = max(len(all_windows), 1)
    allowed = np.zeros((len(slot_names), n_windows), dtype=bool)
    for name, plan in plan_map.items():
        allowed[slot_code[name], [window_code[w] for w in plan.windows]] = True
    app_windows = list(map(operator.attrgetter("windows"), apps))
    app_slot_type = list(map(operator.attrgetter("slot_type"), apps))
    n_asked = np.fromiter(map(len, app_windows), np.int64, len(apps))
    raw_app = np.repeat(np.arange(len(apps), dtype=np.int64), n_asked)
    try:  # a slot type or window no plan has: a KeyError, reported below
        app_slot = np.fromiter(map(slot_code.__getitem__, app_slot_type), np.int64, len(apps))
        raw_windows = itertools.chain.from_iterable(app_windows)
        raw_code = np.fromiter(map(window_code.__getitem__, raw_windows), np.int64, raw_app.size)
        known = bool(allowed[app_slot[raw_app], raw_code].all())
    except KeyError:
        known = False
    if not known:
        problems = _application_problems(apps, window_sets)
        valid = {
            (app.id, w)
            for app in apps
            for w in app.windows
            if w in window_sets.get(app.slot_type, frozenset())
        }
        problems += [_lock_problem(lock) for lock in sorted(lock_set) if lock not in valid]
        raise AllocationInputError(problems)
    # One column per distinct (application, window), in that order.
    unit_key = raw_app * n_windows + raw_code
    if not (np.diff(unit_key) > 0).all():  # some windows out of order or repeated
        unit_key = np.unique(unit_key)
    ua = unit_key // n_windows
    uw = unit_key % n_windows
    app_start = np.zeros(len(apps) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ua, minlength=len(apps)), out=app_start[1:])
    locked = _locked_columns(apps, app_start, uw, window_code, lock_set)
    categories, app_category = _codes(list(map(operator.attrgetter("category"), apps)))
    tiers, app_tier = _codes(list(map(operator.attrgetter("tier"), apps)))
    merchant_ids = list(map(operator.attrgetter("merchant_id"), apps))
    merchant_column = _column(merchant_ids)
    merchants, app_merchant = _codes(merchant_ids, merchant_column)
    unit_slot = app_slot[ua]
    cell_key = unit_slot * n_windows + uw
    capacity = np.array([p.capacity for p in slot_plans], dtype=np.int64)
    merchant_cap = np.array(
        [-1 if p.per_merchant_max is None else p.per_merchant_max for p in slot_plans],
        dtype=np.int64,
    )
    category_max = _quota_limits(slot_plans, categories, "category")
    tier_max = _quota_limits(slot_plans, tiers, "tier")
    unit_category, unit_tier = app_category[ua], app_tier[ua]
    families = {
        "capacity": _family("capacity", cell_key, capacity[unit_slot]),
        "category_quota": _family(
            "category_quota",
            cell_key * len(categories) + unit_category,
            category_max[unit_slot, unit_category],
        ),
        "tier_quota": _family(
            "tier_quota", cell_key * len(tiers) + unit_tier, tier_max[unit_slot, unit_tier]
        ),
        "merchant_cap": _family(
            "merchant_cap",
            unit_slot * len(merchants) + app_merchant[ua],
            merchant_cap[unit_slot],
        ),
    }
    scores = list(map(operator.attrgetter("score"), apps))
    app_score = np.fromiter(scores, dtype=np.float64, count=len(apps))
    app_aon = _attribute(apps, "all_or_nothing", bool)
    return _Index(
        plans=plan_map,
        apps=apps,
        windows=np.fromiter(all_windows, object, len(all_windows)),
        window_code=uw,
        locked=locked,
        forced=_forced_columns(locked, ua, app_aon),
        app_start=app_start,
        app_of=ua,
        app_score=app_score,
        app_aon=app_aon,
        score=app_score[ua],
        families=families,
        app_fields={
            "id": app_ids,
            "merchant_id": merchant_column,
            "slot_type": _objects(app_slot_type, len(apps)),
            "score": _column(scores),
        },
    )


def _locked_columns(
    apps: list[Application],
    app_start: np.ndarray,
    unit_window_code: np.ndarray,
    window_code: Mapping[date, int],
    lock_set: set[tuple[int, date]],
) -> np.ndarray:
    """The columns the locks name; a lock that names none is an input error."""
    locked = np.zeros(unit_window_code.size, dtype=bool)
    if not lock_set:
        return locked
    position = {app.id: i for i, app in enumerate(apps)}
    problems: list[tuple[list[str | int], str]] = []
    for lock in sorted(lock_set):
        i = position.get(lock[0])
        code = window_code.get(lock[1])
        hit = []
        if i is not None and code is not None:
            begin, end = int(app_start[i]), int(app_start[i + 1])
            hit = (begin + np.nonzero(unit_window_code[begin:end] == code)[0]).tolist()
        if hit:
            locked[hit] = True
        else:
            problems.append(_lock_problem(lock))
    if problems:
        raise AllocationInputError(problems)
    return locked


def _forced_columns(locked: np.ndarray, app_of: np.ndarray, app_aon: np.ndarray) -> np.ndarray:
    """The locked columns, and all the columns of an all-or-nothing
    application with a lock (it is granted every window or none)."""
    if not locked.any():
        return locked
    locked_apps = np.zeros(app_aon.size, dtype=bool)
    locked_apps[app_of[locked]] = True
    return locked | (locked_apps & app_aon)[app_of]


@dataclass(frozen=True)
class _Limit:
    """A `sum(columns) <= limit` rule, with what to call it in a refusal."""

    kind: str  # "capacity" | "category_quota" | "tier_quota" | "merchant_cap"
    key: tuple
    columns: list[int]
    limit: int


@dataclass(frozen=True)
class _Minimum:
    kind: str  # "category" | "tier"
    key: tuple  # (slot type, window, name)
    columns: list[int]
    minimum: int


LIMIT_KINDS = ("capacity", "category_quota", "tier_quota", "merchant_cap")


def _limits(ix: _Index) -> list[_Limit]:
    """Every limit as a list of columns (capacity rows first), for the
    greedy; the model and the lock check count with `ix.families`."""
    limits: list[_Limit] = []
    for kind in LIMIT_KINDS:
        family = ix.families[kind]
        for (key, cols), limit in zip(ix.grouped(kind).items(), family.limit.tolist(), strict=True):
            if limit >= 0:
                limits.append(_Limit(kind, key, cols, limit))
    return limits


def _minimums(ix: _Index) -> list[_Minimum]:
    mins: list[_Minimum] = []
    for plan in ix.plans.values():
        for family, quotas in (("category", plan.category_quotas), ("tier", plan.tier_quotas)):
            for name, quota in quotas.items():
                if quota.min <= 0:
                    continue
                groups = ix.grouped(f"{family}_quota")  # built on first use
                for window in plan.windows:
                    cols = groups.get((plan.slot_type, window, name), [])
                    if cols:  # nobody eligible: the reservation is released at once
                        mins.append(
                            _Minimum(family, (plan.slot_type, window, name), cols, quota.min)
                        )
    return mins


def _where(kind: str, key: tuple) -> str:
    """A limit's group in words: the window, and the quota or merchant."""
    if kind == "merchant_cap":
        return f"merchant {key[1]} in {key[0]}"
    window = f"{key[0]} on {key[1]}"
    if kind == "category_quota":
        return f"category {key[2]!r} of {window}"
    if kind == "tier_quota":
        return f"tier {key[2]!r} of {window}"
    return window


def check_locks(
    plans: Sequence[Plan],
    applications: Sequence[Application],
    locks: Sequence[Lock],
    *,
    new: Lock | None = None,
) -> None:
    """Raise `AllocationInputError` if the locks cannot all be kept (the
    check `allocate` starts with). Only the locked applications matter.

    With `new` (one of `locks`, about to be made), only the limits the new
    lock's units are in count: a breach elsewhere (left by a plan change)
    is not the new lock's doing, and the next run reports it."""
    ix = _build_index(plans, applications, locks)
    _check_locks(ix, None if new is None else _units_of_lock(ix, new))


def _units_of_lock(ix: _Index, lock: Lock) -> np.ndarray:
    """The columns a lock keeps: its window, or every window of an
    all-or-nothing application."""
    i = next(k for k, app in enumerate(ix.apps) if app.id == lock.application_id)
    begin, end = int(ix.app_start[i]), int(ix.app_start[i + 1])
    units = np.zeros(ix.n, dtype=bool)
    if ix.app_aon[i]:
        units[begin:end] = True
    else:
        units[begin:end] = [w == lock.window for w in ix.windows[ix.window_code[begin:end]]]
    return units


def _check_locks(ix: _Index, only: np.ndarray | None = None) -> None:
    """Locks are kept whatever the score, so they must fit every limit;
    all-or-nothing applications with a lock are locked in every window.
    With `only`, just the groups of those columns are checked."""
    if not ix.locked.any():
        return
    forced = ix.forced
    problems: list[tuple[list[str | int], str]] = []
    for kind in LIMIT_KINDS:
        family = ix.families[kind]
        count = np.bincount(family.group_of[forced], minlength=family.member.size)
        over = (family.limit >= 0) & (count > family.limit)
        if only is not None:
            over &= np.isin(np.arange(family.member.size), family.group_of[only])
        for g in np.nonzero(over)[0].tolist():
            where = _where(kind, ix.key(kind, int(family.member[g])))
            problems.append(
                (
                    ["locks"],
                    f"{count[g]} locked units break the {kind} limit of {family.limit[g]} "
                    f"({where})",
                )
            )
    if problems:
        raise AllocationInputError(problems)


# --- greedy: the baseline and the warm start ----------------------------------


def _memberships(n: int, groups: list[list[int]]) -> list[list[int]]:
    """For each of `n` columns, the groups it is in (in group order)."""
    sizes = [len(g) for g in groups]
    if not sum(sizes):
        return [[] for _ in range(n)]
    cols = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups if g])
    ids = np.repeat(np.arange(len(groups)), sizes)
    order = np.argsort(cols, kind="stable")
    cols, ids = cols[order], ids[order]
    counts = np.bincount(cols, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table = np.full((n, int(counts.max())), -1, dtype=np.int64)
    table[cols, np.arange(cols.size) - first[cols]] = ids
    return [[g for g in row if g >= 0] for row in table.tolist()]


class _Greedy:
    """Grant by score, highest first, holding back units reserved by the
    minimums of other groups; then release what is still reserved and go
    again. Feasible for the model by construction. Called with `preset` (a
    rounded LP solution), that is granted first, where it fits: the repair
    step. What does not depend on the start is computed once."""

    def __init__(self, ix: _Index, limits: list[_Limit], mins: list[_Minimum]) -> None:
        self.ix, self.limits, self.mins = ix, limits, mins
        self.limits_of = _memberships(ix.n, [limit.columns for limit in limits])
        self.member = _memberships(ix.n, [minimum.columns for minimum in mins])
        self.caps = [limit.limit for limit in limits]
        # Capacity rows come first in `limits`, so each column's first row is its window.
        self.cell_row = [rows[0] for rows in self.limits_of]
        cells = list(ix.by_cell)  # in cell id order
        mins_of_cell: dict[Cell, list[int]] = defaultdict(list)
        for mi, minimum in enumerate(mins):
            mins_of_cell[(minimum.key[0], minimum.key[1])].append(mi)
        per_cell_mins = [mins_of_cell.get(cell, ()) for cell in cells]
        per_cell_capacity = [ix.plans[cell[0]].capacity for cell in cells]
        cell_of = ix.cell_of.tolist()
        self.capacity_of = [per_cell_capacity[k] for k in cell_of]
        self.cell_mins = [per_cell_mins[k] for k in cell_of]
        self.order = sorted(range(len(ix.apps)), key=lambda i: (-ix.apps[i].score, ix.apps[i].rank))
        self.aon = [a.all_or_nothing for a in ix.apps]

    def __call__(self, preset: np.ndarray | None = None) -> np.ndarray:
        ix, limits, mins = self.ix, self.limits, self.mins
        limits_of, member, caps = self.limits_of, self.member, self.caps
        cell_row, capacity_of, cell_mins = self.cell_row, self.capacity_of, self.cell_mins
        used = [0] * len(limits)
        filled = [0] * len(mins)
        x = [False] * ix.n

        def fits(c: int, reserve: bool) -> bool:
            for li in limits_of[c]:
                if used[li] >= caps[li]:
                    return False
            if not reserve or not cell_mins[c]:
                return True
            held = 0
            for mi in cell_mins[c]:
                if mi not in member[c] and filled[mi] < mins[mi].minimum:
                    held += mins[mi].minimum - filled[mi]
            return capacity_of[c] - used[cell_row[c]] - 1 >= held

        def grant(c: int) -> None:
            x[c] = True
            for li in limits_of[c]:
                used[li] += 1
            for mi in member[c]:
                filled[mi] += 1

        def take(cols: list[int], reserve: bool, all_or_nothing: bool) -> None:
            cols = [c for c in cols if not x[c]]
            if all_or_nothing:
                if (
                    cols
                    and _fits_together(cols, limits_of, used, limits)
                    and all(fits(c, reserve) for c in cols)
                ):
                    for c in cols:
                        grant(c)
            else:
                for c in cols:
                    if fits(c, reserve):
                        grant(c)

        # Locks first (they fit: _check_locks said so).
        if ix.locked.any():
            for i, cols in enumerate(ix.by_app):
                if any(ix.locked[c] for c in cols):
                    for c in cols if self.aon[i] else [c for c in cols if ix.locked[c]]:
                        grant(c)
        if preset is not None:
            chosen_all = preset > 0.5
            for i in np.unique(ix.app_of[chosen_all]).tolist():
                cols = ix.by_app[i]
                chosen = [c for c in cols if chosen_all[c] and not x[c]]
                if self.aon[i] and len(chosen) != len(cols):
                    continue
                take(chosen, False, self.aon[i])
        for reserve in (True, False):
            for i in self.order:
                if self.aon[i] and any(x[c] for c in ix.by_app[i]):
                    continue
                take(ix.by_app[i], reserve, self.aon[i])
        return np.array(x, dtype=bool)


def _greedy(
    ix: _Index, limits: list[_Limit], mins: list[_Minimum], preset: np.ndarray | None = None
) -> np.ndarray:
    """The greedy by score (see `_Greedy`)."""
    return _Greedy(ix, limits, mins)(preset)


def _fits_together(
    cols: list[int], limits_of: list[list[int]], used: list[int], limits: list[_Limit]
) -> bool:
    """All of `cols` at once (they may share a merchant cap)."""
    extra: dict[int, int] = defaultdict(int)
    for c in cols:
        for li in limits_of[c]:
            extra[li] += 1
    return all(used[li] + k <= limits[li].limit for li, k in extra.items())


# --- the MILP -----------------------------------------------------------------


@dataclass
class _Model:
    """Columns: one binary per unit, then one shortfall per minimum."""

    n_units: int
    n_slack: int
    starts: np.ndarray
    index: np.ndarray
    value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_upper: np.ndarray
    col_lower: np.ndarray


def _binding_groups(
    family: _Family, size: np.ndarray | None = None, limit: np.ndarray | None = None
) -> np.ndarray:
    """The groups whose limit can bind: more units than it allows (by
    default the group's own size and limit)."""
    size = family.size if size is None else size
    limit = family.limit if limit is None else limit
    return (family.limit >= 0) & (size > limit)


def _limit_rows(
    ix: _Index, keep: np.ndarray | None = None, granted: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The limits that can bind, as rows numbered from 0 (family by family,
    groups in key order): each nonzero's row and unit, and each row's upper
    bound. With `keep`, only those units are columns, and each limit is
    lowered by the units of `granted` (outside `keep`) it already holds."""
    row_parts: list[np.ndarray] = []
    col_parts: list[np.ndarray] = []
    upper_parts: list[np.ndarray] = []
    n_rows = 0
    for kind in LIMIT_KINDS:
        family = ix.families[kind]
        size, limit = family.size, family.limit
        if keep is not None and granted is not None:
            n_groups = family.member.size
            size = np.bincount(family.group_of[keep], minlength=n_groups)
            limit = limit - np.bincount(family.group_of[granted], minlength=n_groups)
        binding = _binding_groups(family, size, limit)
        row_of_group = np.cumsum(binding) - 1 + n_rows
        in_row = binding[family.group_of]
        if keep is not None:
            in_row &= keep
        row_parts.append(row_of_group[family.group_of[in_row]])
        col_parts.append(np.nonzero(in_row)[0])
        upper_parts.append(limit[binding].astype(np.float64))
        n_rows += int(binding.sum())
    return np.concatenate(row_parts), np.concatenate(col_parts), np.concatenate(upper_parts)


def _column_wise(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sparse matrix as HiGHS takes it, column-wise (CSC): starts, row
    indices, values. Each column's rows must come in ascending order in
    the input (the models add their rows in order), so a stable sort by
    column alone does it."""
    rows_a, cols_a = rows.astype(np.int32), cols.astype(np.int32)
    order = np.argsort(cols_a, kind="stable")
    starts = np.zeros(n_cols + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols_a, minlength=n_cols), out=starts[1:])
    return starts, rows_a[order], values[order]


def _build_model(ix: _Index, mins: list[_Minimum]) -> _Model:
    """Rows: the limits that can bind (family by family, groups in key
    order), then one per minimum, then the all-or-nothing equalities; the
    matrix goes to HiGHS column-wise (CSC) in one call."""
    n_units = ix.n
    all_columns = np.arange(n_units, dtype=np.int64)
    limit_rows, limit_columns, limit_upper = _limit_rows(ix)
    n_rows = limit_upper.size
    row_parts: list[np.ndarray] = [limit_rows]
    col_parts: list[np.ndarray] = [limit_columns]
    val_parts: list[np.ndarray] = [np.ones(limit_rows.size)]
    lower_parts: list[np.ndarray] = [np.full(n_rows, -math.inf)]
    upper_parts: list[np.ndarray] = [limit_upper]
    for k, minimum in enumerate(mins):
        row_parts.append(np.full(len(minimum.columns) + 1, n_rows, dtype=np.int64))
        col_parts.append(np.asarray([*minimum.columns, n_units + k], dtype=np.int64))
        val_parts.append(np.ones(len(minimum.columns) + 1))
        n_rows += 1
    lower_parts.append(np.asarray([float(m.minimum) for m in mins]))
    upper_parts.append(np.full(len(mins), math.inf))
    # All-or-nothing: every later column of such an application equals its first.
    sizes = np.diff(ix.app_start)
    first_of = ix.app_start[ix.app_of]
    later = (ix.app_aon & (sizes > 1))[ix.app_of] & (all_columns != first_of)
    n_equal = int(later.sum())
    equal_rows = np.arange(n_rows, n_rows + n_equal, dtype=np.int64)
    row_parts += [equal_rows, equal_rows]
    col_parts += [first_of[later], all_columns[later]]
    val_parts += [np.ones(n_equal), -np.ones(n_equal)]
    lower_parts.append(np.zeros(n_equal))
    upper_parts.append(np.zeros(n_equal))
    n_cols = n_units + len(mins)
    starts, index, value = _column_wise(
        np.concatenate(row_parts), np.concatenate(col_parts), np.concatenate(val_parts), n_cols
    )
    col_lower = np.zeros(n_cols)
    col_lower[:n_units] = ix.locked.astype(float)
    col_upper = np.ones(n_cols)
    col_upper[n_units:] = [float(m.minimum) for m in mins]
    return _Model(
        n_units=n_units,
        n_slack=len(mins),
        starts=starts,
        index=index,
        value=value,
        row_lower=np.concatenate(lower_parts),
        row_upper=np.concatenate(upper_parts),
        col_upper=col_upper,
        col_lower=col_lower,
    )


def _score_quantum(scores: np.ndarray) -> float:
    """The step every score is a whole multiple of (1, 0.1, 0.01, ... 1e-6).

    Two allocations' totals then differ by a multiple of it, however the
    scores combine (3 + 3 against 7 differ by 1, less than the gap between
    any two scores): the tie-breaking bonus must stay below half of this
    step, not below half of the smallest gap between two scores.
    """
    for digits in range(7):
        scaled = scores * 10.0**digits
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-digits
    return 1e-6


def _objective(ix: _Index) -> np.ndarray:
    """Score per unit plus the tie-breaking bonus for earlier applications."""
    scores = ix.score
    resolution = _score_quantum(ix.app_score)
    total_units = sum(p.capacity * len(p.windows) for p in ix.plans.values()) or 1
    n_apps = max(len(ix.apps), 1)
    rank = ix.app_of.astype(np.float64)
    bonus = (0.5 * resolution / total_units) * (n_apps - rank) / n_apps
    return scores + bonus


@dataclass
class _Solved:
    x: np.ndarray
    status: str
    gap: float
    bound: float | None
    nodes: int
    method: str  # "lp": the relaxation was integral; "milp": branch-and-cut


def _solve(
    model: _Model,
    costs: np.ndarray,
    n_integer: int,
    starts: Callable[[], list[np.ndarray]],
    deadline: float,
    repair: Callable[[np.ndarray], np.ndarray],
    extra_row: tuple[np.ndarray, float] | None = None,
    relax_first: bool = True,
    abs_gap: float = 1e-9,
    steps: dict[str, float] | None = None,
    always_starts: bool = False,
    may_branch: bool = True,
) -> _Solved:
    """Relax, round and repair, polish, then branch — all before `deadline`
    (a `time.perf_counter()` instant).

    1. With `relax_first`, solve the LP relaxation. When its optimum is
       integral (always so where the rules nest: the matrix is then totally
       unimodular), it is the proven optimum and no branching is needed.
       (Small non-nested models skip this: HiGHS' own presolve and root LP
       do better there than a separate relaxation.)
    2. Otherwise round it down (rounding down keeps every `<=` rule and
       every all-or-nothing equality) and repair it greedily into a full
       solution; the best of that and `starts()` (computed only now) is the
       incumbent, so a time-limited run always has an answer.
    3. Polish (RINS): every unit on which the relaxation and the incumbent
       agree is fixed, and HiGHS solves the small MILP over the rest. This
       finds most of what branching on the whole model would, in a fraction
       of the time; it proves nothing by itself.
    4. Branch-and-cut with HiGHS on the whole model from the best solution
       held, until optimal (gap 0) or out of time. The gap is proven against
       the best lower bound held: that run's, or the relaxation's.
    """
    import highspy  # a compiled solver: imported where used

    def left() -> float:
        return max(0.05, deadline - time.perf_counter())

    clock = [time.perf_counter()]

    def step(name: str) -> None:
        now_ = time.perf_counter()
        if steps is not None:
            steps[name] = round(steps.get(name, 0.0) + now_ - clock[0], 3)
        clock[0] = now_

    h = _highs(model, costs, left(), abs_gap)
    n_cols = len(costs)
    rows = np.array([], dtype=np.float64)
    if extra_row is not None:
        coefs, bound = extra_row
        nz = np.nonzero(coefs)[0].astype(np.int32)
        h.addRow(-highspy.kHighsInf, bound, len(nz), nz, coefs[nz])
        rows = coefs
    ok = highspy.HighsModelStatus.kOptimal
    candidates: list[np.ndarray] = []
    lp_bound: float | None = None
    lp_seconds = 0.0
    relaxed: np.ndarray | None = None
    if relax_first:
        # HiGHS' presolve costs several times the simplex itself on these
        # sparse models (0.65 s against 4 s for the relaxation of 100,000
        # nested applications), so the relaxation runs without it.
        h.setOptionValue("presolve", "off")
        lp_began = time.perf_counter()
        h.run()
        lp_seconds = time.perf_counter() - lp_began
        h.setOptionValue("presolve", "choose")
        step("relax")
    if relax_first and h.getModelStatus() == ok:
        relaxed = np.asarray(h.getSolution().col_value, dtype=np.float64)
        lp_bound = float(h.getInfo().objective_function_value)
        if np.abs(relaxed[:n_integer] - np.rint(relaxed[:n_integer])).max(initial=0) < 1e-7:
            return _Solved(np.rint(relaxed), "optimal", 0.0, lp_bound, 0, "lp")
        candidates.append(repair(np.floor(relaxed[:n_integer] + 1e-7)))

    def feasible_of(candidates: list[np.ndarray]) -> list[np.ndarray]:
        return [
            x for x in candidates if extra_row is None or float(rows @ x) <= extra_row[1] + 1e-9
        ]

    # The other starts (a greedy pass: seconds on big models) only when the
    # repaired relaxation is not at hand.
    feasible = feasible_of(candidates + starts()) if always_starts else None
    feasible = feasible or feasible_of(candidates) or feasible_of(starts())
    step("start")
    best = min(feasible, key=lambda x: float(costs @ x))
    h.changeColsIntegrality(
        n_integer,
        np.arange(n_integer, dtype=np.int32),
        np.full(n_integer, highspy.HighsVarType.kInteger),
    )
    method = "milp"
    if relax_first and relaxed is None:
        # Out of time before the relaxation was solved: the start is all there is.
        return _gap(best, costs, None, False, 0, "greedy", abs_gap)
    if relaxed is not None:
        # Polishing may take all the time when none would be left to branch.
        branch = may_branch and (left() * (1 - POLISH_SHARE) >= BRANCH_AFTER_LP_FACTOR * lp_seconds)
        share = POLISH_SHARE if branch else 0.9
        polished = _polish(model, costs, best, relaxed, n_integer, extra_row, deadline, share)
        step("polish")
        if polished is not None and float(costs @ polished) < float(costs @ best) - 1e-9:
            best, method = polished, "rins"
        if not may_branch or left() < BRANCH_AFTER_LP_FACTOR * lp_seconds:
            # No time to branch on the whole model: the gap is against the relaxation.
            method = "rins" if method == "rins" else "repair"
            return _gap(best, costs, lp_bound, False, 0, method, abs_gap)
        method = "rins+milp" if method == "rins" else "milp"
    # On big models HiGHS notices its time limit only between costly steps
    # (it overran by 3–6 s at 100,000 applications): stop it early.
    h.setOptionValue("time_limit", max(0.05, left() - BRANCH_MARGIN_LP_FACTOR * lp_seconds))
    if relax_first and model.n_slack and BRANCH_PRESOLVE_OFF:
        # With minimums, HiGHS' MIP presolve spends 30 s of CPU on 100,000
        # tiered applications (most of it looking for dominated columns, a
        # rule that cannot be switched off alone) and leaves no time to
        # branch; without it, the root cuts alone bring the bound within
        # 0.03 % of the optimum (the bare relaxation is 0.17 % above it).
        # Without minimums presolve pays: 100,000 simple applications are
        # proven optimal in 14 s of CPU with it, 29 s without.
        h.setOptionValue("presolve", "off")
    _interrupt_at(h, deadline)
    solution = highspy.HighsSolution()
    solution.col_value = list(best.astype(float))
    solution.value_valid = True
    h.setSolution(solution)
    h.run()
    step("branch")
    status = h.getModelStatus()
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if values.size != n_cols or not h.getSolution().value_valid:
        values = best.astype(float)  # nothing better than the start
    if float(costs @ np.rint(values)) > float(costs @ best):
        values = best.astype(float)
    bounds = [b for b in (lp_bound, info.mip_dual_bound) if b is not None and math.isfinite(b)]
    bound = max(bounds) if bounds else None
    nodes = int(info.mip_node_count)
    return _gap(np.rint(values), costs, bound, status == ok, nodes, method, abs_gap)


def _highs(model: _Model, costs: np.ndarray, time_limit: float, abs_gap: float = 1e-9) -> Any:
    """A HiGHS instance holding `model` with `costs`, seeded (deterministic)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", abs_gap)
    h.setOptionValue("time_limit", time_limit)
    _pass_model(
        h,
        costs,
        (model.col_lower, model.col_upper),
        (model.row_lower, model.row_upper),
        (model.starts, model.index, model.value),
    )
    return h


def _pass_model(
    h: Any,
    costs: np.ndarray,
    col_bounds: tuple[np.ndarray, np.ndarray],
    row_bounds: tuple[np.ndarray, np.ndarray],
    matrix: tuple[np.ndarray, np.ndarray, np.ndarray],
    integer: np.ndarray | None = None,
) -> None:
    """Give HiGHS a model (to minimise) with its matrix column-wise (CSC:
    starts, row indices, values); `integer` marks the integral columns.
    The arrays go in as they are: filling a `HighsLp` converts them
    element by element (70 ms at 100,000 applications)."""
    import highspy

    starts, index, value = matrix
    integrality = np.zeros(len(costs), dtype=np.int32)
    if integer is not None:
        integrality[integer] = int(highspy.HighsVarType.kInteger)
    h.passModel(
        len(costs),
        len(row_bounds[0]),
        len(index),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.ascontiguousarray(costs, dtype=np.float64),
        np.ascontiguousarray(col_bounds[0], dtype=np.float64),
        np.ascontiguousarray(col_bounds[1], dtype=np.float64),
        np.ascontiguousarray(row_bounds[0], dtype=np.float64),
        np.ascontiguousarray(row_bounds[1], dtype=np.float64),
        np.ascontiguousarray(starts, dtype=np.int32),
        np.ascontiguousarray(index, dtype=np.int32),
        np.ascontiguousarray(value, dtype=np.float64),
        integrality,
    )


def _interrupt_at(h: Any, instant: float) -> None:
    """Stop HiGHS at `instant` (a `time.perf_counter()` value) wherever it
    is. Its own `time_limit` is read only between costly steps: on a busy
    machine branch-and-cut at 100,000 applications ran 6–12 s past it."""

    def stop_when_late(event: Any) -> None:
        if time.perf_counter() > instant:
            event.interrupt()

    h.cbMipInterrupt.subscribe(stop_when_late)
    h.cbSimplexInterrupt.subscribe(stop_when_late)


def _gap(
    x: np.ndarray,
    costs: np.ndarray,
    bound: float | None,
    proven: bool,
    nodes: int,
    method: str,
    abs_gap: float = 1e-9,
) -> _Solved:
    """The solution with the gap proven against `bound` (a lower bound on
    the cost); `proven` when the solver itself proved it optimal (to within
    `abs_gap`, which then counts as optimal)."""
    incumbent = float(costs @ x)
    tolerance = max(abs_gap, 1e-9 * max(1, abs(bound or 0)))
    if proven or (bound is not None and incumbent - bound <= tolerance):
        gap = 0.0
    elif bound is None:
        gap = 1.0  # nothing proven
    else:
        gap = min(1.0, (incumbent - bound) / max(abs(incumbent), abs(bound), 1e-9))
    return _Solved(
        x=x,
        status="optimal" if gap == 0.0 else "feasible",
        gap=gap,
        bound=bound,
        nodes=nodes,
        method=method,
    )


# Share of the time left that polishing may use when branching follows.
POLISH_SHARE = 0.5
# Branching on the whole model is tried only with at least this many times
# the relaxation's own time left (HiGHS' presolve and root alone take several).
BRANCH_AFTER_LP_FACTOR = 8.0
# ... and told to stop this many times the relaxation's time before the deadline.
# Big models with minimums branch without HiGHS' presolve (see `_solve`).
BRANCH_PRESOLVE_OFF = True
# Share of the time that phase 1 (the shortfall) gets on big models.
PHASE1_SHARE_BIG = 0.25
BRANCH_MARGIN_LP_FACTOR = 8.0


def _polish(
    model: _Model,
    costs: np.ndarray,
    incumbent: np.ndarray,
    relaxed: np.ndarray,
    n_integer: int,
    extra_row: tuple[np.ndarray, float] | None,
    deadline: float,
    share: float,
) -> np.ndarray | None:
    """RINS: fix the units where the relaxation and the incumbent agree and
    solve the small MILP over the others (and the shortfall columns), from
    the incumbent. The small model is built explicitly — fixed columns moved
    into the row bounds, rows left without free columns dropped — so HiGHS
    never presolves the whole model. Returns the better solution (or None)."""
    import highspy

    budget = (deadline - time.perf_counter()) * share
    if budget < 0.2:
        return None
    n_cols = len(costs)
    free = np.ones(n_cols, dtype=bool)
    free[:n_integer] = np.abs(relaxed[:n_integer] - incumbent[:n_integer]) > 1e-6
    if not free[:n_integer].any():
        return None
    col_of_nz = np.repeat(np.arange(n_cols), np.diff(model.starts))
    n_rows = len(model.row_lower)
    fixed_nz = ~free[col_of_nz]
    activity = np.bincount(
        model.index[fixed_nz],
        weights=model.value[fixed_nz] * incumbent[col_of_nz[fixed_nz]],
        minlength=n_rows,
    )
    kept_nz = ~fixed_nz
    rows_used = np.zeros(n_rows, dtype=bool)
    rows_used[model.index[kept_nz]] = True
    row_new = np.cumsum(rows_used) - 1
    kept = np.nonzero(free)[0]
    starts = np.zeros(kept.size + 1, dtype=np.int32)
    np.cumsum(np.bincount(np.searchsorted(kept, col_of_nz[kept_nz]), minlength=kept.size),
              out=starts[1:])  # fmt: skip
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-9)
    h.setOptionValue("time_limit", budget)
    _interrupt_at(h, time.perf_counter() + budget)
    integer = kept < n_integer
    _pass_model(
        h,
        costs[kept],
        (model.col_lower[kept], model.col_upper[kept]),
        ((model.row_lower - activity)[rows_used], (model.row_upper - activity)[rows_used]),
        (starts, row_new[model.index[kept_nz]].astype(np.int32), model.value[kept_nz]),
        integer,
    )
    if extra_row is not None:
        coefs, bound = extra_row
        sub = coefs[kept]
        nz = np.nonzero(sub)[0].astype(np.int32)
        rest = float(coefs[~free] @ incumbent[~free])
        h.addRow(-highspy.kHighsInf, bound - rest, len(nz), nz, sub[nz])
    start = highspy.HighsSolution()
    start.col_value = list(incumbent[kept].astype(float))
    start.value_valid = True
    h.setSolution(start)
    h.run()
    found = h.getSolution()
    if not found.value_valid or len(found.col_value) != kept.size:
        return None
    result = incumbent.astype(float).copy()
    values = np.asarray(found.col_value, dtype=np.float64)
    values[integer] = np.rint(values[integer])
    result[kept] = values
    return result


def _fillers(ix: _Index, mins: list[_Minimum], x: np.ndarray) -> np.ndarray:
    """Of the units granted in `x`, the best-scored that fill each minimum
    (up to it), with the other windows of their all-or-nothing
    applications: a subset of `x`, so feasible, and short of no minimum
    more than `x` is."""
    keep = np.zeros(ix.n, dtype=bool)
    for m in mins:
        cols = np.asarray(m.columns, dtype=np.int64)
        chosen = cols[x[cols]]
        best = chosen[np.lexsort((ix.app_of[chosen], -ix.score[chosen]))][: m.minimum]
        keep[best] = True
    kept_aon = np.zeros(len(ix.apps), dtype=bool)
    kept_aon[ix.app_of[keep]] = True
    keep |= x & (kept_aon & ix.app_aon)[ix.app_of]
    return keep.astype(np.float64)


def _shortfall(x_units: np.ndarray, mins: list[_Minimum]) -> np.ndarray:
    return np.array(
        [max(0, m.minimum - int(x_units[m.columns].sum())) for m in mins], dtype=np.float64
    )


def _is_network(ix: _Index) -> bool:
    """True when the rules nest (see the module docstring)."""
    if (ix.app_aon & (np.diff(ix.app_start) > 1)).any():
        return False
    return not any(plan.category_quotas and plan.tier_quotas for plan in ix.plans.values())


# --- where the rules nest: settling most units before the LP -----------------


def _rank_in_group(group_of: np.ndarray, order: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """For each unit, how many `counted` units come before it in its group,
    `order` listing the units group by group."""
    counts = counted[order].astype(np.int64)
    before = np.cumsum(counts) - counts
    groups = group_of[order]
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = groups[1:] != groups[:-1]
    # Each group's running count starts at the count before its first unit.
    base = np.maximum.accumulate(np.where(new_group, before, 0))
    result = np.empty_like(before)
    result[order] = before - base
    return result


def _laminar_greedy(
    ix: _Index, orders: dict[str, np.ndarray], eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy by priority over the `eligible` units within each window:
    a unit is taken while its quota group and its window have room (no
    merchant cap). Returns the units taken, and the units (eligible or not)
    that the ones taken before them leave no room for — "spanned", in
    matroid terms: a window's capacity and its quota groups nested in it
    make a laminar matroid, on which this greedy finds the best set."""
    within_quota = eligible.copy()
    spanned = np.zeros(ix.n, dtype=bool)
    for kind in ("category_quota", "tier_quota"):
        if kind in orders:
            family = ix.families[kind]
            rank = _rank_in_group(family.group_of, orders[kind], eligible)
            limit = family.limit[family.group_of]
            full = (limit >= 0) & (rank >= limit)
            within_quota &= ~full
            spanned |= full
    cells = ix.families["capacity"]
    rank = _rank_in_group(cells.group_of, orders["capacity"], within_quota)
    room = rank < cells.limit[cells.group_of]
    return within_quota & room, spanned | ~room


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """`np.argsort(keys, kind="stable")` of non-negative integer keys, by
    numpy's radix sort where they fit in 16 bits (window and quota group
    ids, usually): a third faster than its merge sort on int64."""
    if keys.size and int(keys.max()) < 1 << 16:
        keys = keys.astype(np.uint16)
    return np.argsort(keys, kind="stable")


def _by_group_then_highest(group_of: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`np.lexsort((-values, group_of))`: positions ordered by group, within
    a group by value, highest first, ties in their given order. Two stable
    sorts, the second a radix sort, are faster than lexsort's two passes."""
    order = np.argsort(-values, kind="stable")
    return order[_stable_order(group_of[order])]


def _settled_units(ix: _Index, objective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the rules nest and there are no minimums: the units that every
    optimal allocation refuses, and those it grants (locks included).

    Call a unit free when its merchant cap cannot bind (the merchant asked
    for no more units than the cap) or it is locked. Within a window, run
    the greedy by objective (locks first) over the free units: a unit they
    leave no room for is refused by every optimum — were it granted, one of
    those better free units could take its place. Then the greedy over
    every unit not refused: a free unit it takes is granted by every
    optimum — were it refused, granting it and dropping a worse winner of
    its window would do better. What is left (units of merchants whose cap
    binds, and what competes with them) goes to the LP. Units whose
    objective equals another's in the window are left to the LP too: the
    exchanges above need strictly better units."""
    merchants = ix.families["merchant_cap"]
    free = ~_binding_groups(merchants)[merchants.group_of] | ix.locked
    priority = np.where(ix.locked, np.inf, objective)
    cells = ix.families["capacity"].group_of
    by_cell = _by_group_then_highest(cells, priority)
    orders = {"capacity": by_cell}
    for kind in ("category_quota", "tier_quota"):
        family = ix.families[kind]
        if (family.limit >= 0).any():
            # Quota groups lie within windows: sorting the window order by
            # group keeps each group's units by priority.
            orders[kind] = by_cell[_stable_order(family.group_of[by_cell])]
    ranked = priority[by_cell]
    same = (ranked[1:] == ranked[:-1]) & (cells[by_cell][1:] == cells[by_cell][:-1])
    tied = np.zeros(ix.n, dtype=bool)
    tied[by_cell[1:][same]] = True
    tied[by_cell[:-1][same]] = True
    tied &= ~ix.locked
    _taken, outranked = _laminar_greedy(ix, orders, free)
    refused = outranked & ~ix.locked & ~tied
    taken, _spanned = _laminar_greedy(ix, orders, ~refused)
    granted = (taken & free & (objective > 0) & ~tied) | ix.locked
    return refused, granted


def _settled_model(ix: _Index, keep: np.ndarray, granted: np.ndarray) -> _Model:
    """The model over the units of `keep` only, the limits lowered by the
    units `granted` already hold (no minimums: see `_settled_units`)."""
    rows, cols, upper = _limit_rows(ix, keep, granted)
    n_cols = int(keep.sum())
    column_of_unit = np.cumsum(keep) - 1
    starts, index, value = _column_wise(rows, column_of_unit[cols], np.ones(rows.size), n_cols)
    return _Model(
        n_units=n_cols,
        n_slack=0,
        starts=starts,
        index=index,
        value=value,
        row_lower=np.full(upper.size, -math.inf),
        row_upper=upper,
        col_upper=np.ones(n_cols),
        col_lower=np.zeros(n_cols),
    )


def _solve_nested(
    ix: _Index, costs: np.ndarray, deadline: float, steps: dict[str, float]
) -> _Solved | None:
    """The optimum where the rules nest and there are no minimums: most
    units settled by `_settled_units`, the rest by the LP (a network
    matrix with its rows and columns cut: still totally unimodular, so the
    LP's optimum is integral). None if the LP did not finish in time."""
    import highspy

    began = time.perf_counter()
    refused, granted = _settled_units(ix, -costs)
    steps["settle"] = round(time.perf_counter() - began, 3)
    keep = ~(refused | granted)
    x = granted.astype(np.float64)
    if keep.any():
        model = _settled_model(ix, keep, granted)
        h = _highs(model, costs[keep], max(0.05, deadline - time.perf_counter()))
        h.setOptionValue("presolve", "off")  # see `_solve`
        h.run()
        steps["relax"] = round(time.perf_counter() - began - steps["settle"], 3)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        values = np.asarray(h.getSolution().col_value, dtype=np.float64)
        if np.abs(values - np.rint(values)).max(initial=0) >= 1e-7:
            return None
        x[keep] = np.rint(values)
    return _Solved(x, "optimal", 0.0, float(costs @ x), 0, "lp")


# --- the entry point ----------------------------------------------------------


def allocate(
    plans: Sequence[Plan],
    applications: Sequence[Application],
    locks: Sequence[Lock] = (),
    *,
    now: datetime,
    time_limit: float = 60.0,
) -> Allocation:
    """The allocation of highest total score; see the module docstring."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now_ = time.perf_counter()
        timings[name] = round(now_ - since, 4)
        return now_

    with _collector_paused():
        ix = _build_index(plans, applications, locks)
        mins = _minimums(ix)
        _check_locks(ix)
    mark = lap("index", started)
    stats: dict[str, Any] = {
        "solved_at": now.isoformat(),
        "applications": len(ix.apps),
        "units_requested": ix.n,
        "locks": int(ix.locked.sum()),
        "minimums": len(mins),
        "network": _is_network(ix),
    }
    x = np.zeros(ix.n)
    status, gap, bound, nodes, methods = "optimal", 0.0, None, 0, []
    # The time limit bounds the whole call: solving stops early enough to
    # leave time for the explanations.
    deadline = started + time_limit - EXPLAIN_SECONDS_PER_UNIT * ix.n
    if ix.n:
        # Where the rules nest and nothing is reserved, most units are
        # settled before the LP (`_solve_nested`): the whole model is built
        # only if that fails.
        nested = bool(stats["network"]) and not mins
        models = [] if nested else [_build_model(ix, mins)]

        def whole_model() -> _Model:
            if not models:
                models.append(_build_model(ix, mins))
            return models[0]

        stats["rows"] = (
            sum(int(_binding_groups(f).sum()) for f in ix.families.values())
            if nested
            else len(models[0].row_lower)
        )
        mark = lap("model", mark)
        greedy_made: list[_Greedy] = []
        # Where each phase's time went: relax, start, polish, branch.
        phase_steps: list[dict[str, float]] = [{}, {}]
        stats["steps"] = {"shortfall": phase_steps[0], "score": phase_steps[1]}

        def greedy(preset: np.ndarray | None = None) -> np.ndarray:
            if not greedy_made:
                greedy_made.append(_Greedy(ix, _limits(ix), mins))
            return greedy_made[0](preset)

        def as_columns(units: np.ndarray) -> np.ndarray:
            return np.concatenate([units.astype(float), _shortfall(units, mins)])

        def repair(rounded: np.ndarray) -> np.ndarray:
            return as_columns(greedy(rounded))

        greedy_x: list[np.ndarray] = []

        def greedy_start() -> list[np.ndarray]:
            if not greedy_x:
                greedy_x.append(as_columns(greedy()))
            return greedy_x

        shortfall_cost = np.concatenate([np.zeros(ix.n), np.ones(len(mins))])
        # Where the rules nest the relaxation is the answer; on big models a
        # rounded and repaired relaxation is a far better start than greedy.
        relax_first = bool(stats["network"]) or ix.n > RELAX_FIRST_UNITS
        extra_row = None
        phase1_optimal = True
        starts = greedy_start
        score_cost = np.concatenate([-_objective(ix), np.zeros(len(mins))])
        if mins:
            # Phase 1 minimises the shortfall. On models solved by branching
            # from the start it also prefers higher scores among allocations
            # of least shortfall (weight 1 against `heavy` per unit of
            # shortfall, more than any allocation's total score), so that its
            # answer is a good start for phase 2. The shortfall is integral,
            # so a solution within heavy / 2 (or, unweighted, within less
            # than 1) of the bound has the least shortfall. On big models the
            # weight makes the relaxation far less integral, so there phase 1
            # minimises the shortfall alone and phase 2 starts from its
            # answer trimmed to the best-scored units that fill each minimum,
            # topped up greedily by score.
            # With little time (under TIGHT_SECONDS_PER_UNIT for the rest of
            # the call), big models are weighted too: that relaxation solves
            # faster than the degenerate shortfall-only one (1.6 s against
            # 2.1-2.9 s at 100,000 applications) and phase 2 then starts from
            # a solution good in score.
            tight = deadline - time.perf_counter() < TIGHT_SECONDS_PER_UNIT * ix.n
            weighted = not relax_first or tight
            heavy = 4.0 * (float(np.abs(ix.score).sum()) + 1.0)
            # Big models keep most of the time for phase 2: branching on the
            # degenerate shortfall-only model rarely closes its gap (it ran
            # past its share by 10 s and more at 100,000 applications), and
            # without phase 2's branching its bound stays that of the bare
            # relaxation, 0.17 % above the optimum.
            share = PHASE1_SHARE_BIG if relax_first else 0.5
            halfway = time.perf_counter() + (deadline - time.perf_counter()) * share
            phase1 = _solve(
                whole_model(),
                heavy * shortfall_cost + score_cost if weighted else shortfall_cost,
                ix.n,
                greedy_start,
                halfway,
                repair,
                None,
                relax_first,
                abs_gap=heavy / 2 if weighted else 1 - 1e-6,
                steps=phase_steps[0],
            )
            methods.append(phase1.method)
            mark = lap("shortfall", mark)
            best_shortfall = float(phase1.x[ix.n :].sum())
            stats["shortfall"] = round(best_shortfall)
            phase1_optimal = phase1.status == "optimal"
            extra_row = (shortfall_cost, best_shortfall + 1e-6)

            def starts() -> list[np.ndarray]:
                if weighted:
                    return [phase1.x]
                return [phase1.x, repair(_fillers(ix, mins, phase1.x[: ix.n] > 0.5))]

        else:
            stats["shortfall"] = 0
        phase2 = _solve_nested(ix, score_cost, deadline, phase_steps[1]) if nested else None
        if phase2 is None:
            phase2 = _solve(
                whole_model(),
                score_cost,
                ix.n,
                starts,
                deadline,
                repair,
                extra_row,
                relax_first,
                steps=phase_steps[1],
                always_starts=extra_row is not None,
            )
        methods.append(phase2.method)
        x = phase2.x[: ix.n]
        status = "optimal" if phase2.status == "optimal" and phase1_optimal else "feasible"
        gap = phase2.gap if phase1_optimal else max(phase2.gap, 1e-9)
        bound = -phase2.bound if phase2.bound is not None else None
        nodes = phase2.nodes
        mark = lap("score", mark)
    stats["methods"] = methods
    granted = x > 0.5
    objective = float(sum(ix.score[granted].tolist()))
    with _collector_paused():
        assignments = _positions(ix, granted)
        refusals = _Explainer(ix, granted, mins).refusals()
    lap("explain", mark)
    stats.update(
        {
            "units_granted": int(granted.sum()),
            "units_refused": len(refusals),
            "gap": gap,
            "bound": bound,
            "nodes": nodes,
            "seconds": round(time.perf_counter() - started, 4),
            "timings": timings,
        }
    )
    return Allocation(
        status=status,
        optimal=status == "optimal",
        objective=round(objective, 6),
        assignments=assignments,
        refusals=refusals,
        stats=stats,
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a stretch that makes many
    small objects, none of them in a cycle (index lists, assignments,
    refusals): it would walk them over and over while they are made — half
    the explanations' time at 100,000 applications. The pause is
    process-wide, so it covers these stretches only, never the solve, which
    may last the whole time limit while other requests run."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _positions(ix: _Index, granted: np.ndarray) -> list[Assignment]:
    """Granted units ordered within their slot type and window by score,
    then by application time: position 1 first."""
    won = np.nonzero(granted)[0]
    # Cell ids follow (slot type, window) order. Columns follow the
    # applications' time order, which the stable sort keeps among equal scores.
    won = won[_by_group_then_highest(ix.cell_of[won], ix.score[won])]
    cells = ix.cell_of[won]
    new_cell = np.ones(won.size, dtype=bool)
    new_cell[1:] = cells[1:] != cells[:-1]
    firsts = np.nonzero(new_cell)[0]
    position = np.arange(won.size) - np.repeat(firsts, np.diff(np.append(firsts, won.size))) + 1
    of_app = ix.per_unit(won)
    return _records(
        Assignment,
        of_app["id"],
        of_app["merchant_id"],
        of_app["slot_type"],
        of_app["window"],
        position.tolist(),
        of_app["score"],
        ix.forced[won].tolist(),
    )


def _records(kind: Callable[..., Record], *columns: list) -> list[Record]:
    """Result records (named tuples) made row by row from columns, through
    `tuple.__new__`: a named tuple's own constructor adds a Python call."""
    rows = zip(*columns, strict=True)
    return list(map(tuple.__new__, itertools.repeat(kind), rows))  # type: ignore[arg-type]


# --- explanations ---------------------------------------------------------------


def _fmt(score: float) -> str:
    """A score as a person writes it: every digit it was given (the
    shortest that reads back the same), never an exponent."""
    if score.is_integer():
        return str(int(score))
    text = str(score)  # the common case, several times faster than numpy's
    return text if "e" not in text else np.format_float_positional(score, trim="-")


def _lowest_per_group(group_of: np.ndarray, n_groups: int, scores: np.ndarray) -> np.ndarray:
    """The lowest of `scores` in each group (inf where the group has none)."""
    lowest = np.full(n_groups, np.inf)
    np.minimum.at(lowest, group_of, scores)
    return lowest


class _Explainer:
    """Why each unit was refused. Everything a refusal looks at is computed
    once per window (or per quota group) with numpy, so explaining a big
    run stays linear in its size and the per-unit Python is one loop."""

    def __init__(self, ix: _Index, granted: np.ndarray, mins: list[_Minimum]) -> None:
        self.ix = ix
        self.granted_array = granted
        # Every group's granted units, counted at once.
        self.used = {
            kind: np.bincount(family.group_of[granted], minlength=family.member.size)
            for kind, family in ix.families.items()
        }
        cells = ix.families["capacity"]
        n_cells = cells.member.size
        # Per window, with nothing held for other groups (the common case):
        # the lowest score among the winners a planner did not lock, and
        # how many winners are locked (a lock forcing an all-or-nothing
        # application's other windows locks those too).
        free = granted & ~ix.forced
        self.cell_lowest = _lowest_per_group(cells.group_of[free], n_cells, ix.score[free])
        self.cell_locked = np.bincount(cells.group_of[granted & ix.forced], minlength=n_cells)
        self._group_low: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.mins_by_cell: dict[Cell, list[_Minimum]] = defaultdict(list)
        # The units each minimum holds: the lowest-scored of its winners, up
        # to the minimum (the rest of its winners won on score alone).
        self.held: dict[tuple[str, tuple], set[int]] = {}
        score, unit_app = (ix.score.tolist(), ix.unit_app) if mins else ([], [])
        for m in mins:
            self.mins_by_cell[(m.key[0], m.key[1])].append(m)
            winners = sorted(
                (c for c in m.columns if granted[c]), key=lambda c: (score[c], -unit_app[c])
            )
            self.held[(m.kind, m.key)] = set(winners[: m.minimum])
        self._open_cache: dict[tuple, tuple[int, int, float | None, int]] = {}

    def _open(self, c: int) -> tuple[int, int, float | None, int]:
        """For units like `c` (same window, category and tier): (units held
        for other groups, winners open to them, the lowest score among those
        a planner did not lock (None if every one is locked), how many are
        locked)."""
        ix = self.ix
        app = ix.app_at(c)
        cell = (app.slot_type, ix.window_at(c))
        # With their kind: a category may be named like a tier.
        others = tuple(
            (m.kind, m.key)
            for m in self.mins_by_cell.get(cell, ())
            if not (
                (m.kind == "category" and m.key[2] == app.category)
                or (m.kind == "tier" and m.key[2] == app.tier)
            )
        )
        if not others:
            g = int(ix.cell_of[c])
            lowest = float(self.cell_lowest[g])
            return (
                0,
                int(self.used["capacity"][g]),
                lowest if math.isfinite(lowest) else None,
                int(self.cell_locked[g]),
            )
        key = (cell, others)
        if key not in self._open_cache:
            held: set[int] = set()
            for m in self.mins_by_cell[cell]:
                if (m.kind, m.key) in others:
                    held |= self.held[(m.kind, m.key)]
            winners = [d for d in ix.by_cell[cell] if self.granted_array[d] and d not in held]
            lowest = min((ix.score[d] for d in winners if not ix.forced[d]), default=None)
            locked = sum(1 for d in winners if ix.forced[d])
            self._open_cache[key] = (
                len(held),
                len(winners),
                None if lowest is None else float(lowest),
                locked,
            )
        return self._open_cache[key]

    def _quota_winners(self, kind: str, c: int) -> tuple[float | None, int]:
        """In the quota group of `kind` of `c`: the lowest score among the
        winners a planner did not lock (None if every one is locked), and
        how many winners are locked — as `_open` counts them for a window."""
        ix = self.ix
        family = ix.families[kind]
        if kind not in self._group_low:
            free = self.granted_array & ~ix.forced
            self._group_low[kind] = (
                _lowest_per_group(family.group_of[free], family.member.size, ix.score[free]),
                np.bincount(
                    family.group_of[self.granted_array & ix.forced], minlength=family.member.size
                ),
            )
        lowest_of, locked_of = self._group_low[kind]
        g = family.group_of[c]
        lowest = float(lowest_of[g])
        return (lowest if math.isfinite(lowest) else None), int(locked_of[g])

    def refusals(self) -> list[Refusal]:
        ix = self.ix
        lost = np.nonzero(~self.granted_array)[0]
        if not lost.size:
            return []
        reasons, details = self._local_reasons(lost)
        lost_cols = lost.tolist()
        lost_apps = ix.app_of[lost].tolist()
        # All-or-nothing applications look at all their refused windows at once.
        where = np.nonzero(ix.app_aon[ix.app_of[lost]])[0].tolist()
        starts = ix.app_start.tolist()
        k = 0
        while k < len(where):
            i = lost_apps[where[k]]
            j = k + 1
            while j < len(where) and lost_apps[where[j]] == i:
                j += 1
            positions = where[k:j]
            k = j
            found = self._all_or_nothing(
                ix.apps[i],
                [lost_cols[p] for p in positions],
                [(reasons[p], details[p]) for p in positions],
                starts[i + 1] - starts[i],
            )
            for p, (reason, detail) in zip(positions, found, strict=True):
                reasons[p], details[p] = reason, detail
        unexplained = map(operator.is_, reasons, itertools.repeat(None))
        for p in list(itertools.compress(itertools.count(), unexplained)):
            # Only a run stopped by its time limit leaves a free unit unused.
            reasons[p] = "capacity"
            details[p] = (
                "not granted in the best allocation found within the time limit; "
                "a longer run may grant it"
            )
        of_app = ix.per_unit(lost)
        return _records(
            Refusal,
            of_app["id"],
            of_app["merchant_id"],
            of_app["slot_type"],
            of_app["window"],
            reasons,
            details,
        )

    def _all_or_nothing(
        self,
        app: Application,
        lost: list[int],
        local_list: list[tuple[str | None, str]],
        n_cols: int,
    ) -> list[tuple[str | None, str]]:
        """The reasons of an all-or-nothing application's refused windows: a
        window it lost only for another one says so."""
        ix = self.ix
        local = dict(zip(lost, local_list, strict=True))
        if n_cols > 1:
            for c in lost:
                if local[c][0] == "outscored" and self._beats_lowest(app, c):
                    local[c] = (None, "")  # it lost this window for another one
        out: list[tuple[str | None, str]] = []
        for c in lost:
            reason, detail = local[c]
            if n_cols > 1 and reason is None:
                blockers = [
                    f"{ix.unit_window[o]} ({local[o][0]})"
                    for o in lost
                    if o != c and local[o][0] is not None
                ]
                if blockers:
                    reason = "all_or_nothing"
                    detail = (
                        "this application is all-or-nothing and could not get every "
                        "window: " + ", ".join(blockers)
                    )
            if reason is None:
                reason, detail = self._all_or_nothing_over_cap(app, c, n_cols)
            out.append((reason, detail))
        return out

    def _local_reasons(self, lost: np.ndarray) -> tuple[list[str | None], list[str]]:
        """`_combo_reason` of every unit in `lost`, with the merchant cap
        looked at between its two halves: each unit's reason (None: none
        found) and detail. What does not depend on the merchant or the
        score is worked out once per window (and category or tier, where
        they matter: `_alike`); the merchant caps once per merchant; each
        score is written out once."""
        ix = self.ix
        inverse, first = _groups(self._alike(lost))
        n_combos = first.size
        reason_of = np.full(n_combos, None, dtype=object)
        detail_of = np.full(n_combos, "", dtype=object)
        tail_of = np.full(n_combos, "", dtype=object)
        decided = np.zeros(n_combos, dtype=bool)  # before the merchant cap
        scored = np.zeros(n_combos, dtype=bool)  # the detail names the unit's score
        for k, f in enumerate(first.tolist()):
            before, after = self._combo_reason(int(lost[f]))
            if before is not None:
                reason_of[k], detail_of[k] = before
                decided[k] = True
            elif after is not None:
                reason_of[k], detail_of[k], tail = after
                if tail is not None:
                    tail_of[k] = tail
                    scored[k] = True
        # Object arrays until the end: filling them by mask is one call.
        reasons, details = reason_of[inverse], detail_of[inverse]
        merchant = ix.merchant_of[lost]
        full, full_detail = self._full_merchants(merchant)
        capped = full[merchant] & ~decided[inverse]
        reasons[capped] = "merchant_cap"
        details[capped] = full_detail[merchant[capped]]
        named = scored[inverse] & ~capped
        if named.any():
            values, which = np.unique(ix.score[lost[named]], return_inverse=True)
            shown = [_fmt(value) for value in values.tolist()]
            combos = inverse[named]
            texts = [
                f"{head}{shown[w]}{tail}"
                for head, w, tail in zip(
                    detail_of[combos].tolist(),
                    which.reshape(-1).tolist(),
                    tail_of[combos].tolist(),
                    strict=True,
                )
            ]
            details[named] = _objects(texts, len(texts))
        return reasons.tolist(), details.tolist()

    def _alike(self, lost: np.ndarray) -> np.ndarray:
        """A key per unit of `lost`, the same for units `_combo_reason`
        cannot tell apart: same window, and same category (tier) where that
        matters — its quota is full (or has a `max` of 0), or minimums are
        in play (`_open` then looks at both). At 100,000 nested
        applications that is 196 calls where one per window, category and
        tier made 3,555."""
        ix = self.ix
        key = ix.cell_of[lost]
        for kind in ("category_quota", "tier_quota"):
            family = ix.families[kind]
            group = family.group_of[lost]
            limit = family.limit[group]
            matters = (limit >= 0) & (self.used[kind][group] >= limit)
            if self.mins_by_cell:
                matters[:] = True
            # The group's place among its window's groups (numbered window
            # by window) keeps the key small: grouping it needs no sort.
            cell_of_group = ix.cell_of[family.member]
            place = group - np.searchsorted(cell_of_group, cell_of_group)[group]
            key = key * (int(place.max()) + 2) + np.where(matters, place + 1, 0)
        return key

    def _full_merchants(self, merchant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per merchant group: whether it is among `merchant` and holds as
        many units as its cap allows, and if so its merchant-cap detail."""
        ix = self.ix
        family = ix.families["merchant_cap"]
        full = (family.limit >= 0) & (self.used["merchant_cap"] >= family.limit)
        full &= np.bincount(merchant, minlength=full.size) > 0
        detail = np.full(full.size, None, dtype=object)
        for g in np.nonzero(full)[0].tolist():
            slot_type, merchant_id = ix.key("merchant_cap", int(family.member[g]))
            detail[g] = (
                f"merchant {merchant_id} already holds {int(family.limit[g])} {slot_type} "
                "units in this event, the most one merchant may have"
            )
        return full, detail

    def _combo_reason(
        self, c: int
    ) -> tuple[tuple[str, str] | None, tuple[str, str, str | None] | None]:
        """Why a unit like `c` (same window, category and tier) was not
        granted, looking at its own window only: the reason found before the
        merchant cap is looked at, or the one after it — as (reason, the
        detail before the unit's own score, the rest; None when the detail
        does not name it)."""
        ix = self.ix
        app = ix.app_at(c)
        window = ix.window_at(c)
        plan = ix.plans[app.slot_type]
        if plan.capacity == 0:
            return ("capacity", f"{app.slot_type} has no units on {window}"), None
        cat_quota = plan.category_quotas.get(app.category)
        tier_quota = plan.tier_quotas.get(app.tier)
        if cat_quota is not None and cat_quota.max == 0:
            return (
                "category_quota",
                f"category {app.category!r} gets no {app.slot_type} units on {window} (max 0)",
            ), None
        if tier_quota is not None and tier_quota.max == 0:
            return (
                "tier_quota",
                f"merchants of tier {app.tier!r} get no {app.slot_type} units on {window} (max 0)",
            ), None
        held, open_won, lowest, locked = self._open(c)
        if plan.capacity - held <= 0:
            return (
                "capacity",
                f"all {plan.capacity} {app.slot_type} units on {window} are reserved by the "
                "minimum quotas of other categories or tiers",
            ), None
        for kind, label, name, quota in (
            ("category_quota", "category", app.category, cat_quota),
            ("tier_quota", "tier", app.tier, tier_quota),
        ):
            if quota is None or quota.max is None:
                continue
            used = int(self.used[kind][ix.families[kind].group_of[c]])
            if used >= quota.max:
                low, locked_here = self._quota_winners(kind, c)
                detail = f"{label} {name!r} may have at most {quota.max} {app.slot_type} units on "
                detail += f"{window}"
                if low is None:
                    if locked_here:  # no score could have won one of them
                        detail += f"; all {locked_here} are locked by a planner"
                elif locked_here:
                    # The lowest score that won is that of a unit won on score, not of a lock.
                    detail += (
                        f"; the {used - locked_here} that a planner did not lock went to scores "
                        f"of {_fmt(low)} or more; the other {locked_here} are locked by a planner"
                    )
                else:
                    detail += f"; they went to scores of {_fmt(low)} or more"
                return None, (kind, detail, None)
        if open_won + held < plan.capacity or open_won == 0:
            return None, None
        reserved = f"; {held} more are reserved by minimum quotas of other groups" if held else ""
        if lowest is None:
            # Every unit open to it is locked: no score could have won one.
            return None, (
                "capacity",
                f"all {open_won} {app.slot_type} units open to you on {window} are locked by a "
                f"planner{reserved}",
                None,
            )
        if locked:
            # The lowest winning score is that of a unit won on score, not of a lock.
            head = (
                f"the {open_won - locked} {app.slot_type} units open to you on {window} that "
                "a planner did not lock went to higher scores; the lowest winning score was "
                f"{_fmt(lowest)} (yours: "
            )
            tail = f"); the other {locked} are locked by a planner{reserved}"
            return None, ("outscored", head, tail)
        head = (
            f"the {open_won} {app.slot_type} units open to you on {window} went to higher "
            f"scores; the lowest winning score was {_fmt(lowest)} (yours: "
        )
        return None, ("outscored", head, f"){reserved}")

    def _beats_lowest(self, app: Application, c: int) -> bool:
        lowest = self._open(c)[2]
        return lowest is not None and app.score > lowest

    def _all_or_nothing_over_cap(
        self, app: Application, c: int, wanted: int
    ) -> tuple[str | None, str]:
        """An all-or-nothing application that needs more units than the merchant
        may still hold can never be granted, whatever the scores."""
        cap = self.ix.plans[app.slot_type].per_merchant_max
        if cap is None:
            return None, ""
        held = int(self.used["merchant_cap"][self.ix.merchant_of[c]])
        if held + wanted <= cap:
            return None, ""
        detail = (
            f"this all-or-nothing application needs {wanted} {app.slot_type} units, but "
            f"merchant {app.merchant_id} may hold at most {cap} in this event"
        )
        if held:
            detail += f" and already holds {held}"
        return "merchant_cap", detail


def greedy_objective(
    plans: Sequence[Plan], applications: Sequence[Application], locks: Sequence[Lock] = ()
) -> tuple[float, int]:
    """The greedy baseline's (score, shortfall against minimums), for benchmarks."""
    ix = _build_index(plans, applications, locks)
    mins = _minimums(ix)
    _check_locks(ix)
    x = _greedy(ix, _limits(ix), mins)
    return (
        float(sum(ix.apps[ix.unit_app[c]].score for c in np.nonzero(x)[0])),
        int(_shortfall(x, mins).sum()),
    )


def plain_greedy(plans: Sequence[Plan], applications: Sequence[Application]) -> dict[str, float]:
    """The greedy a planner would write, for benchmarks: applications by
    score (ties by time), each granted where it fits every `max`, the
    capacity and the merchant cap — minimums ignored. Then the minimums
    repaired by hand: for each short group, its best refused units are
    granted, evicting the lowest-scored winners of the window (never a
    unit another minimum needs). Scores and shortfalls before and after."""
    ix = _build_index(plans, applications, ())
    mins = _minimums(ix)
    taken = _Greedy(ix, _limits(ix), [])()
    repaired = _evict_for_minimums(ix, mins, taken)
    return {
        "score": float(sum(ix.score[taken].tolist())),
        "shortfall": int(_shortfall(taken, mins).sum()),
        "repaired_score": float(sum(ix.score[repaired].tolist())),
        "repaired_shortfall": int(_shortfall(repaired, mins).sum()),
    }


def _evict_for_minimums(ix: _Index, mins: list[_Minimum], granted: np.ndarray) -> np.ndarray:
    """`plain_greedy`'s repair: fill each short minimum with its best
    refused units (single-window or not all-or-nothing), making room in
    the window by evicting its lowest-scored winners outside the group
    (a whole all-or-nothing application at a time, never a unit a lock
    forces — a lock, or another window of its all-or-nothing application —
    never a unit whose own minimum would fall short)."""
    x = granted.copy()
    used = {
        kind: np.bincount(family.group_of[x], minlength=family.member.size)
        for kind, family in ix.families.items()
    }
    member = _memberships(ix.n, [m.columns for m in mins])
    filled = [int(x[m.columns].sum()) for m in mins]
    score, app_of = ix.score.tolist(), ix.app_of.tolist()
    whole = ix.app_aon & (np.diff(ix.app_start) > 1)  # all-or-nothing over windows

    def set_unit(c: int, on: bool) -> None:
        x[c] = on
        for kind, family in ix.families.items():
            used[kind][family.group_of[c]] += 1 if on else -1
        for k in member[c]:
            filled[k] += 1 if on else -1

    def fits_but_capacity(c: int) -> bool:
        for kind in ("category_quota", "tier_quota", "merchant_cap"):
            family = ix.families[kind]
            g = family.group_of[c]
            if 0 <= family.limit[g] <= used[kind][g]:
                return False
        return True

    cells = ix.families["capacity"]
    for k, m in enumerate(mins):
        group = set(m.columns)
        candidates = sorted(
            (c for c in m.columns if not x[c] and not whole[app_of[c]]),
            key=lambda c: (-score[c], app_of[c]),
        )
        victims = sorted(
            (
                c
                for c in ix.by_cell[(m.key[0], m.key[1])]
                if x[c] and c not in group and not ix.forced[c]
            ),
            key=lambda c: (score[c], -app_of[c]),
        )
        next_victim = 0
        for c in candidates:
            if filled[k] >= m.minimum:
                break
            if not fits_but_capacity(c):
                continue
            cell = cells.group_of[c]
            if used["capacity"][cell] >= cells.limit[cell]:
                while next_victim < len(victims) and (
                    not x[victims[next_victim]]
                    or any(filled[j] <= mins[j].minimum for j in member[victims[next_victim]])
                ):
                    next_victim += 1
                if next_victim == len(victims):
                    break
                victim = victims[next_victim]
                next_victim += 1
                i = app_of[victim]
                evicted = ix.by_app[i] if whole[i] else [victim]
                for u in evicted:
                    if x[u]:
                        set_unit(u, False)
            set_unit(c, True)
    return x
