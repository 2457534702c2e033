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
the whole model, and branch only when there is time for it. `time_limit`
bounds the whole call: solving stops early enough to leave time for the
explanations (`EXPLAIN_SECONDS_PER_UNIT`).

Why not a dedicated min-cost-flow code for the nested case: measured at
100,000 applications, HiGHS' dual simplex without presolve solves the
network LP in 0.65 s (4 s with presolve), and OR-Tools' `SimpleMinCostFlow`
takes 0.83 s (plus 0.24 s to build the graph), needs integral costs (the
scores and the tie-breaking bonus would have to be scaled into int64) and
pulls in pandas and protobuf. The LP stays.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

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


@dataclass(frozen=True)
class Assignment:
    application_id: int
    merchant_id: int
    slot_type: str
    window: date
    position: int
    score: float
    locked: bool


@dataclass(frozen=True)
class Refusal:
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


@dataclass
class _Index:
    """Each requested unit (application, window) as a column, and the groups
    each column belongs to. The columns of one application are consecutive
    (`app_start`); the groups are also kept as an integer id per column
    (`cell_of`, `category_of`, `tier_of`, `merchant_of`: an index into the
    keys of the matching dict) so that counting is one numpy call."""

    plans: dict[str, Plan]
    apps: list[Application]
    unit_app: list[int]  # column -> index into apps
    unit_window: list[date]
    locked: np.ndarray  # bool per column
    by_cell: dict[Cell, list[int]]
    by_cell_category: dict[tuple[str, date, str], list[int]]
    by_cell_tier: dict[tuple[str, date, str], list[int]]
    by_merchant: dict[tuple[str, int], list[int]]
    by_app: list[list[int]]
    app_start: np.ndarray  # columns of app i: app_start[i]:app_start[i + 1]
    app_of: np.ndarray  # unit_app as an array
    score: np.ndarray  # per column
    cell_of: np.ndarray
    category_of: np.ndarray
    tier_of: np.ndarray
    merchant_of: np.ndarray

    @property
    def n(self) -> int:
        return len(self.unit_app)


def _codes(values: list) -> tuple[list, np.ndarray]:
    """Sorted distinct values and each value's position among them."""
    distinct = sorted(set(values))
    code = {v: k for k, v in enumerate(distinct)}
    return distinct, np.fromiter((code[v] for v in values), dtype=np.int64, count=len(values))


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Group columns by an integer key: (group id per column, the first
    column of each group, each group's columns in ascending order); groups
    are ordered by key."""
    if key.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    _uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    columns = np.argsort(inverse, kind="stable").tolist()
    bounds = [0, *np.cumsum(np.bincount(inverse)).tolist()]
    return inverse, first, [columns[a:b] for a, b in itertools.pairwise(bounds)]


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


def _build_index(
    plans: Iterable[Plan], applications: Iterable[Application], locks: Iterable[Lock]
) -> _Index:
    plan_map = {p.slot_type: p for p in plans}
    apps = sorted(applications, key=lambda a: (a.rank, a.id))
    lock_set = {(lock.application_id, lock.window) for lock in locks}
    all_windows = sorted({w for p in plan_map.values() for w in p.windows})
    window_code = {w: k for k, w in enumerate(all_windows)}
    window_sets = {code: frozenset(p.windows) for code, p in plan_map.items()}
    slot_names = sorted(plan_map)
    slot_code = {name: k for k, name in enumerate(slot_names)}
    n_windows = max(len(all_windows), 1)
    allowed = np.zeros((len(slot_names), n_windows), dtype=bool)
    for name, plan in plan_map.items():
        allowed[slot_code[name], [window_code[w] for w in plan.windows]] = True
    sizes = [len(app.windows) for app in apps]
    raw_windows = [w for app in apps for w in app.windows]
    raw_app = np.repeat(np.arange(len(apps), dtype=np.int64), sizes)
    app_slot = np.fromiter(
        (slot_code.get(app.slot_type, -1) for app in apps), dtype=np.int64, count=len(apps)
    )
    raw_code = np.fromiter(
        (window_code.get(w, -1) for w in raw_windows), dtype=np.int64, count=len(raw_windows)
    )
    raw_slot = app_slot[raw_app]
    if (raw_slot < 0).any() or (raw_code < 0).any() or not allowed[raw_slot, raw_code].all():
        problems = _application_problems(apps, window_sets)
        valid = {
            (app.id, w)
            for app in apps
            for w in app.windows
            if w in window_sets.get(app.slot_type, frozenset())
        }
        for lock in sorted(lock_set, key=lambda x: (x[0], x[1])):
            if lock not in valid:
                problems.append(
                    (
                        ["locks", lock[0]],
                        f"lock on application {lock[0]} for {lock[1]} "
                        "matches no window it applied for",
                    )
                )
        raise AllocationInputError(problems)
    # One column per distinct (application, window), in that order.
    unit_key = np.unique(raw_app * n_windows + raw_code)
    ua = unit_key // n_windows
    uw = unit_key % n_windows
    unit_app: list[int] = ua.tolist()
    unit_window: list[date] = [all_windows[k] for k in uw.tolist()]
    app_start = [0, *np.cumsum(np.bincount(ua, minlength=len(apps))).tolist()]
    problems: list[tuple[list[str | int], str]] = []
    n = len(unit_app)
    locked = np.zeros(n, dtype=bool)
    if lock_set:
        known: dict[tuple[int, date], int] = {
            (apps[unit_app[c]].id, unit_window[c]): c for c in range(n)
        }
        for lock in sorted(lock_set, key=lambda x: (x[0], x[1])):
            c = known.get(lock)
            if c is None:
                problems.append(
                    (
                        ["locks", lock[0]],
                        f"lock on application {lock[0]} for {lock[1]} "
                        "matches no window it applied for",
                    )
                )
            else:
                locked[c] = True
    if problems:
        raise AllocationInputError(problems)
    categories, app_category = _codes([a.category for a in apps])
    tiers, app_tier = _codes([a.tier for a in apps])
    merchants, app_merchant = _codes([a.merchant_id for a in apps])
    cell_key = app_slot[ua] * n_windows + uw
    cell_of, cell_first, cell_cols = _groups(cell_key)
    category_of, cat_first, cat_cols = _groups(cell_key * len(categories) + app_category[ua])
    tier_of, tier_first, tier_cols = _groups(cell_key * len(tiers) + app_tier[ua])
    merchant_of, merch_first, merch_cols = _groups(app_slot[ua] * len(merchants) + app_merchant[ua])

    def cell(c: int) -> Cell:
        return (apps[unit_app[c]].slot_type, unit_window[c])

    return _Index(
        plans=plan_map,
        apps=apps,
        unit_app=unit_app,
        unit_window=unit_window,
        locked=locked,
        by_cell={cell(int(c)): g for c, g in zip(cell_first, cell_cols, strict=True)},
        by_cell_category={
            (*cell(int(c)), apps[unit_app[c]].category): g
            for c, g in zip(cat_first, cat_cols, strict=True)
        },
        by_cell_tier={
            (*cell(int(c)), apps[unit_app[c]].tier): g
            for c, g in zip(tier_first, tier_cols, strict=True)
        },
        by_merchant={
            (apps[unit_app[c]].slot_type, apps[unit_app[c]].merchant_id): g
            for c, g in zip(merch_first, merch_cols, strict=True)
        },
        by_app=[list(range(app_start[i], app_start[i + 1])) for i in range(len(apps))],
        app_start=np.asarray(app_start, dtype=np.int64),
        app_of=ua,
        score=np.fromiter((apps[i].score for i in unit_app), dtype=np.float64, count=n),
        cell_of=cell_of,
        category_of=category_of,
        tier_of=tier_of,
        merchant_of=merchant_of,
    )


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


def _limits(ix: _Index) -> list[_Limit]:
    limits: list[_Limit] = []
    for (slot_type, window), cols in ix.by_cell.items():
        plan = ix.plans[slot_type]
        limits.append(_Limit("capacity", (slot_type, window), cols, plan.capacity))
    for (slot_type, window, category), cols in ix.by_cell_category.items():
        quota = ix.plans[slot_type].category_quotas.get(category)
        if quota is not None and quota.max is not None:
            limits.append(_Limit("category_quota", (slot_type, window, category), cols, quota.max))
    for (slot_type, window, tier), cols in ix.by_cell_tier.items():
        quota = ix.plans[slot_type].tier_quotas.get(tier)
        if quota is not None and quota.max is not None:
            limits.append(_Limit("tier_quota", (slot_type, window, tier), cols, quota.max))
    for (slot_type, merchant_id), cols in ix.by_merchant.items():
        cap = ix.plans[slot_type].per_merchant_max
        if cap is not None:
            limits.append(_Limit("merchant_cap", (slot_type, merchant_id), cols, cap))
    return limits


def _minimums(ix: _Index) -> list[_Minimum]:
    mins: list[_Minimum] = []
    for plan in ix.plans.values():
        for family, quotas, groups in (
            ("category", plan.category_quotas, ix.by_cell_category),
            ("tier", plan.tier_quotas, ix.by_cell_tier),
        ):
            for name, quota in quotas.items():
                if quota.min <= 0:
                    continue
                for window in plan.windows:
                    cols = groups.get((plan.slot_type, window, name), [])
                    if cols:  # nobody eligible: the reservation is released at once
                        mins.append(
                            _Minimum(family, (plan.slot_type, window, name), cols, quota.min)
                        )
    return mins


def _check_locks(ix: _Index, limits: list[_Limit]) -> None:
    """Locks are kept whatever the score, so they must fit every limit;
    all-or-nothing applications with a lock are locked in every window."""
    if not ix.locked.any():
        return
    forced = ix.locked.copy()
    for cols in ix.by_app:
        if cols and ix.apps[ix.unit_app[cols[0]]].all_or_nothing and forced[cols].any():
            forced[cols] = True
    problems: list[tuple[list[str | int], str]] = []
    for limit in limits:
        count = int(forced[limit.columns].sum())
        if count > limit.limit:
            where = " ".join(str(k) for k in limit.key)
            problems.append(
                (
                    ["locks"],
                    f"{count} locked units break the {limit.kind} limit of {limit.limit} ({where})",
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


def _build_model(ix: _Index, limits: list[_Limit], mins: list[_Minimum]) -> _Model:
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    inf = math.inf
    n_units = ix.n
    for limit in limits:
        if len(limit.columns) <= limit.limit:
            continue  # cannot bind
        r = len(lower)
        rows += [r] * len(limit.columns)
        cols += limit.columns
        vals += [1.0] * len(limit.columns)
        lower.append(-inf)
        upper.append(float(limit.limit))
    for k, minimum in enumerate(mins):
        r = len(lower)
        rows += [r] * (len(minimum.columns) + 1)
        cols += [*minimum.columns, n_units + k]
        vals += [1.0] * (len(minimum.columns) + 1)
        lower.append(float(minimum.minimum))
        upper.append(inf)
    for app_cols in ix.by_app:
        if len(app_cols) > 1 and ix.apps[ix.unit_app[app_cols[0]]].all_or_nothing:
            first = app_cols[0]
            for c in app_cols[1:]:
                r = len(lower)
                rows += [r, r]
                cols += [first, c]
                vals += [1.0, -1.0]
                lower.append(0.0)
                upper.append(0.0)
    n_cols = n_units + len(mins)
    rows_a = np.asarray(rows, dtype=np.int32)
    cols_a = np.asarray(cols, dtype=np.int32)
    vals_a = np.asarray(vals, dtype=np.float64)
    order = np.lexsort((rows_a, cols_a))  # column-wise (CSC) for HiGHS
    counts = np.bincount(cols_a, minlength=n_cols)
    starts = np.zeros(n_cols + 1, dtype=np.int32)
    np.cumsum(counts, out=starts[1:])
    col_lower = np.zeros(n_cols)
    col_lower[:n_units] = ix.locked.astype(float)
    col_upper = np.ones(n_cols)
    col_upper[n_units:] = [float(m.minimum) for m in mins]
    return _Model(
        n_units=n_units,
        n_slack=len(mins),
        starts=starts,
        index=rows_a[order],
        value=vals_a[order],
        row_lower=np.asarray(lower),
        row_upper=np.asarray(upper),
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
    resolution = _score_quantum(np.fromiter((a.score for a in ix.apps), dtype=np.float64))
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

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", abs_gap)
    h.setOptionValue("time_limit", left())
    n_cols = len(costs)
    n_rows = len(model.row_lower)
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = costs
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model.starts
    lp.a_matrix_.index_ = model.index
    lp.a_matrix_.value_ = model.value
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    h.passModel(lp)
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
    sub_n_rows = int(rows_used.sum())
    starts = np.zeros(kept.size + 1, dtype=np.int32)
    np.cumsum(np.bincount(np.searchsorted(kept, col_of_nz[kept_nz]), minlength=kept.size),
              out=starts[1:])  # fmt: skip
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-9)
    h.setOptionValue("time_limit", budget)
    lp = highspy.HighsLp()
    lp.num_col_ = kept.size
    lp.num_row_ = sub_n_rows
    lp.col_cost_ = costs[kept]
    lp.col_lower_ = model.col_lower[kept]
    lp.col_upper_ = model.col_upper[kept]
    lp.row_lower_ = (model.row_lower - activity)[rows_used]
    lp.row_upper_ = (model.row_upper - activity)[rows_used]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = row_new[model.index[kept_nz]].astype(np.int32)
    lp.a_matrix_.value_ = model.value[kept_nz]
    lp.a_matrix_.num_col_ = kept.size
    lp.a_matrix_.num_row_ = sub_n_rows
    integer = kept < n_integer
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
        for k in integer.tolist()
    ]
    h.passModel(lp)
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
    aon = np.fromiter((a.all_or_nothing for a in ix.apps), dtype=bool, count=len(ix.apps))
    kept_aon = np.zeros(len(ix.apps), dtype=bool)
    kept_aon[ix.app_of[keep]] = True
    keep |= x & (kept_aon & aon)[ix.app_of]
    return keep.astype(np.float64)


def _shortfall(x_units: np.ndarray, mins: list[_Minimum]) -> np.ndarray:
    return np.array(
        [max(0, m.minimum - int(x_units[m.columns].sum())) for m in mins], dtype=np.float64
    )


def _is_network(ix: _Index) -> bool:
    """True when the rules nest (see the module docstring)."""
    for cols in ix.by_app:
        if len(cols) > 1 and ix.apps[ix.unit_app[cols[0]]].all_or_nothing:
            return False
    return not any(plan.category_quotas and plan.tier_quotas for plan in ix.plans.values())


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

    ix = _build_index(plans, applications, locks)
    limits = _limits(ix)
    mins = _minimums(ix)
    _check_locks(ix, limits)
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
        model = _build_model(ix, limits, mins)
        stats["rows"] = len(model.row_lower)
        mark = lap("model", mark)
        greedy_made: list[_Greedy] = []
        # Where each phase's time went: relax, start, polish, branch.
        phase_steps: list[dict[str, float]] = [{}, {}]
        stats["steps"] = {"shortfall": phase_steps[0], "score": phase_steps[1]}

        def greedy(preset: np.ndarray | None = None) -> np.ndarray:
            if not greedy_made:
                greedy_made.append(_Greedy(ix, limits, mins))
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
            halfway = time.perf_counter() + (deadline - time.perf_counter()) / 2
            phase1 = _solve(
                model,
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
        phase2 = _solve(
            model,
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
    objective = float(sum(ix.apps[ix.unit_app[c]].score for c in np.nonzero(granted)[0]))
    assignments = _positions(ix, granted)
    refusals = _Explainer(ix, granted, limits, mins).refusals()
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


def _positions(ix: _Index, granted: np.ndarray) -> list[Assignment]:
    """Granted units ordered within their slot type and window by score,
    then by application time: position 1 first."""
    won = np.nonzero(granted)[0]
    # Cell ids follow (slot type, window) order; apps are in time order.
    won = won[np.lexsort((ix.app_of[won], -ix.score[won], ix.cell_of[won]))]
    cells = ix.cell_of[won]
    new_cell = np.ones(won.size, dtype=bool)
    new_cell[1:] = cells[1:] != cells[:-1]
    firsts = np.nonzero(new_cell)[0]
    position = np.arange(won.size) - np.repeat(firsts, np.diff(np.append(firsts, won.size))) + 1
    result: list[Assignment] = []
    locked = ix.locked.tolist()
    windows, apps, unit_app = ix.unit_window, ix.apps, ix.unit_app
    for c, pos in zip(won.tolist(), position.tolist(), strict=True):
        app = apps[unit_app[c]]
        result.append(
            Assignment(
                app.id, app.merchant_id, app.slot_type, windows[c], pos, app.score, locked[c]
            )
        )
    return result


# --- explanations ---------------------------------------------------------------


def _fmt(score: float) -> str:
    return f"{score:g}"


class _Explainer:
    """Why each unit was refused. Everything a refusal looks at is computed
    once per window (or per quota group), so explaining a big run stays
    linear in its size."""

    def __init__(
        self, ix: _Index, granted: np.ndarray, limits: list[_Limit], mins: list[_Minimum]
    ) -> None:
        self.ix = ix
        self.granted_array = granted
        self.granted = granted.tolist()
        # Every group's granted units, counted at once.
        self._used: dict[tuple[str, tuple], int] = {}
        for kind, groups, group_of in (
            ("category_quota", ix.by_cell_category, ix.category_of),
            ("tier_quota", ix.by_cell_tier, ix.tier_of),
            ("merchant_cap", ix.by_merchant, ix.merchant_of),
        ):
            counts = np.bincount(group_of[granted], minlength=len(groups)).tolist()
            self._used.update(zip([(kind, key) for key in groups], counts, strict=True))
        self.score = ix.score.tolist()
        self.locked = ix.locked.tolist()
        self.mins_by_cell: dict[Cell, list[_Minimum]] = defaultdict(list)
        # The units each minimum holds: the lowest-scored of its winners, up
        # to the minimum (the rest of its winners won on score alone).
        self.held: dict[tuple[str, tuple], set[int]] = {}
        for m in mins:
            self.mins_by_cell[(m.key[0], m.key[1])].append(m)
            winners = sorted(
                (c for c in m.columns if granted[c]),
                key=lambda c: (self.score[c], -ix.unit_app[c]),
            )
            self.held[(m.kind, m.key)] = set(winners[: m.minimum])
        self._open_cache: dict[tuple, tuple[int, int, float | None, int]] = {}
        self._open_fast: dict[tuple, tuple[int, int, float | None, int]] = {}
        self._group_low: dict[tuple[str, tuple], float | None] = {}

    def _open(self, cell: Cell, category: str, tier: str) -> tuple[int, int, float | None, int]:
        """(units held for other groups, winners open to this kind of
        application, the lowest score among them, how many are locked)."""
        fast = (cell, category, tier)
        if fast in self._open_fast:
            return self._open_fast[fast]
        self._open_fast[fast] = self._open_uncached(cell, category, tier)
        return self._open_fast[fast]

    def _open_uncached(
        self, cell: Cell, category: str, tier: str
    ) -> tuple[int, int, float | None, int]:
        others = tuple(
            m.key
            for m in self.mins_by_cell.get(cell, ())
            if not (
                (m.kind == "category" and m.key[2] == category)
                or (m.kind == "tier" and m.key[2] == tier)
            )
        )
        key = (cell, others)
        if key not in self._open_cache:
            held: set[int] = set()
            for m in self.mins_by_cell.get(cell, ()):
                if m.key in others:
                    held |= self.held[(m.kind, m.key)]
            winners = [c for c in self.ix.by_cell[cell] if self.granted[c] and c not in held]
            lowest = min((self.score[c] for c in winners), default=None)
            locked = sum(1 for c in winners if self.locked[c])
            self._open_cache[key] = (len(held), len(winners), lowest, locked)
        return self._open_cache[key]

    def _lowest_in_group(self, kind: str, key: tuple) -> float | None:
        if (kind, key) not in self._group_low:
            groups = self.ix.by_cell_category if kind == "category_quota" else self.ix.by_cell_tier
            self._group_low[(kind, key)] = min(
                (self.score[c] for c in groups.get(key, []) if self.granted[c]), default=None
            )
        return self._group_low[(kind, key)]

    def refusals(self) -> list[Refusal]:
        ix = self.ix
        lost = np.nonzero(~self.granted_array)[0]
        if not lost.size:
            return []
        local = self._local_reasons(lost)
        lost_cols = lost.tolist()
        lost_apps = ix.app_of[lost].tolist()
        # All-or-nothing applications look at all their refused windows at once.
        aon = np.fromiter((a.all_or_nothing for a in ix.apps), dtype=bool, count=len(ix.apps))
        where = np.nonzero(aon[ix.app_of[lost]])[0].tolist()
        starts = ix.app_start.tolist()
        k = 0
        while k < len(where):
            i = lost_apps[where[k]]
            j = k + 1
            while j < len(where) and lost_apps[where[j]] == i:
                j += 1
            positions = where[k:j]
            k = j
            reasons = self._all_or_nothing(
                ix.apps[i],
                [lost_cols[p] for p in positions],
                [local[p] for p in positions],
                starts[i + 1] - starts[i],
            )
            for p, reason in zip(positions, reasons, strict=True):
                local[p] = reason
        unused = (
            "capacity",
            # Only a run stopped by its time limit leaves a free unit unused.
            "not granted in the best allocation found within the time limit; "
            "a longer run may grant it",
        )
        apps, windows = ix.apps, ix.unit_window
        result: list[Refusal] = []
        for c, i, (reason, detail) in zip(lost_cols, lost_apps, local, strict=True):
            if reason is None:
                reason, detail = unused
            app = apps[i]
            result.append(
                Refusal(app.id, app.merchant_id, app.slot_type, windows[c], reason, detail)
            )
        return result

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
                reason, detail = self._all_or_nothing_over_cap(app, n_cols)
            out.append((reason, detail))
        return out

    def _local_reasons(self, lost: np.ndarray) -> list[tuple[str | None, str]]:
        """`local_reason` of every unit in `lost`. What does not depend on
        the merchant or the score is worked out once per window, category
        and tier."""
        ix = self.ix
        combo = ix.category_of[lost] * (int(ix.tier_of.max()) + 1) + ix.tier_of[lost]
        combos, first = np.unique(combo, return_index=True)
        per_combo = {
            int(k): self._combo_reason(int(lost[f])) for k, f in zip(combos, first, strict=True)
        }
        merchant_full: dict[int, tuple[str, str] | None] = {}
        merchants = ix.merchant_of[lost].tolist()
        result: list[tuple[str | None, str]] = []
        score = self.score
        for c, k, g in zip(lost.tolist(), combo.tolist(), merchants, strict=True):
            before, after = per_combo[k]
            if before is not None:
                result.append(before)
                continue
            if g not in merchant_full:
                merchant_full[g] = self._merchant_full(c)
            full = merchant_full[g]
            if full is not None:
                result.append(full)
            elif after is None:
                result.append((None, ""))
            else:
                kind, head, tail = after
                result.append((kind, head if tail is None else head + _fmt(score[c]) + tail))
        return result

    def _merchant_full(self, c: int) -> tuple[str, str] | None:
        app = self.ix.apps[self.ix.unit_app[c]]
        cap = self.ix.plans[app.slot_type].per_merchant_max
        if cap is not None and self.used(("merchant_cap", (app.slot_type, app.merchant_id))) >= cap:
            return "merchant_cap", (
                f"merchant {app.merchant_id} already holds {cap} {app.slot_type} units in this "
                "event, the most one merchant may have"
            )
        return None

    def _combo_reason(
        self, c: int
    ) -> tuple[tuple[str, str] | None, tuple[str, str, str | None] | None]:
        """Why a unit like `c` (same window, category and tier) was not
        granted, looking at its own window only: the reason found before the
        merchant cap is looked at, or the one after it — as (reason, the
        detail before the unit's own score, the rest; None when the detail
        does not name it)."""
        ix = self.ix
        app = ix.apps[ix.unit_app[c]]
        window = ix.unit_window[c]
        plan = ix.plans[app.slot_type]
        cell = (app.slot_type, window)
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
        held, open_won, lowest, locked = self._open(cell, app.category, app.tier)
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
            key = (app.slot_type, window, name)
            if self.used((kind, key)) >= quota.max:
                low = self._lowest_in_group(kind, key)
                detail = f"{label} {name!r} may have at most {quota.max} {app.slot_type} units on "
                detail += f"{window}"
                if low is not None:
                    detail += f"; they went to scores of {_fmt(low)} or more"
                return None, (kind, detail, None)
        if open_won + held >= plan.capacity and lowest is not None:
            head = (
                f"the {open_won} {app.slot_type} units open to you on {window} went to higher "
                f"scores; the lowest winning score was {_fmt(lowest)} (yours: "
            )
            tail = ")"
            if locked:
                tail += f"; {locked} of them locked by a planner"
            if held:
                tail += f"; {held} more are reserved by minimum quotas of other groups"
            return None, ("outscored", head, tail)
        return None, None

    def used(self, key: tuple[str, tuple]) -> int:
        return self._used.get(key, 0)

    def _beats_lowest(self, app: Application, c: int) -> bool:
        cell = (app.slot_type, self.ix.unit_window[c])
        lowest = self._open(cell, app.category, app.tier)[2]
        return lowest is not None and app.score > lowest

    def _all_or_nothing_over_cap(self, app: Application, wanted: int) -> tuple[str | None, str]:
        """An all-or-nothing application that needs more units than the merchant
        may still hold can never be granted, whatever the scores."""
        cap = self.ix.plans[app.slot_type].per_merchant_max
        if cap is None:
            return None, ""
        held = self.used(("merchant_cap", (app.slot_type, app.merchant_id)))
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
    limits = _limits(ix)
    mins = _minimums(ix)
    _check_locks(ix, limits)
    x = _greedy(ix, limits, mins)
    return (
        float(sum(ix.apps[ix.unit_app[c]].score for c in np.nonzero(x)[0])),
        int(_shortfall(x, mins).sum()),
    )
