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
allocation, to less than half of the smallest difference between two
distinct scores, so it decides only between allocations of equal score.

A time-limited run starts from a greedy solution (feasible by construction:
minimums are soft), so it always has an answer; it reports the gap it proved
and `optimal` only when that gap is zero.
"""

from __future__ import annotations

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
    each column belongs to."""

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

    @property
    def n(self) -> int:
        return len(self.unit_app)


def _build_index(
    plans: Iterable[Plan], applications: Iterable[Application], locks: Iterable[Lock]
) -> _Index:
    plan_map = {p.slot_type: p for p in plans}
    apps = sorted(applications, key=lambda a: (a.rank, a.id))
    lock_set = {(lock.application_id, lock.window) for lock in locks}
    unit_app: list[int] = []
    unit_window: list[date] = []
    locked: list[bool] = []
    by_cell: dict[Cell, list[int]] = defaultdict(list)
    by_cat: dict[tuple[str, date, str], list[int]] = defaultdict(list)
    by_tier: dict[tuple[str, date, str], list[int]] = defaultdict(list)
    by_merchant: dict[tuple[str, int], list[int]] = defaultdict(list)
    by_app: list[list[int]] = []
    problems: list[tuple[list[str | int], str]] = []
    window_sets = {code: frozenset(p.windows) for code, p in plan_map.items()}
    for i, app in enumerate(apps):
        plan = plan_map.get(app.slot_type)
        if plan is None:
            problems.append(
                (["applications", app.id], f"no slot plan for slot type {app.slot_type!r}")
            )
            by_app.append([])
            continue
        plan_windows = window_sets[app.slot_type]
        cols = []
        for window in sorted(set(app.windows)):
            if window not in plan_windows:
                problems.append(
                    (
                        ["applications", app.id],
                        f"window {window} is not in the plan of {app.slot_type}",
                    )
                )
                continue
            col = len(unit_app)
            unit_app.append(i)
            unit_window.append(window)
            locked.append((app.id, window) in lock_set)
            by_cell[(app.slot_type, window)].append(col)
            by_cat[(app.slot_type, window, app.category)].append(col)
            by_tier[(app.slot_type, window, app.tier)].append(col)
            by_merchant[(app.slot_type, app.merchant_id)].append(col)
            cols.append(col)
        by_app.append(cols)
    known = {(unit_window[c], apps[unit_app[c]].id) for c in range(len(unit_app))}
    for lock in sorted(lock_set, key=lambda x: (x[0], x[1])):
        if (lock[1], lock[0]) not in known:
            problems.append(
                (
                    ["locks", lock[0]],
                    f"lock on application {lock[0]} for {lock[1]} matches no window it applied for",
                )
            )
    if problems:
        raise AllocationInputError(problems)
    return _Index(
        plans=plan_map,
        apps=apps,
        unit_app=unit_app,
        unit_window=unit_window,
        locked=np.array(locked, dtype=bool),
        by_cell=dict(by_cell),
        by_cell_category=dict(by_cat),
        by_cell_tier=dict(by_tier),
        by_merchant=dict(by_merchant),
        by_app=by_app,
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


def _greedy(
    ix: _Index, limits: list[_Limit], mins: list[_Minimum], preset: np.ndarray | None = None
) -> np.ndarray:
    """Grant by score, highest first, holding back units reserved by the
    minimums of other groups; then release what is still reserved and go
    again. Feasible for the model by construction. `preset` (a rounded LP
    solution) is granted first, where it fits: the repair step."""
    limits_of: list[list[int]] = [[] for _ in range(ix.n)]
    for li, limit in enumerate(limits):
        for c in limit.columns:
            limits_of[c].append(li)
    mins_of_cell: dict[Cell, list[int]] = defaultdict(list)
    member: list[set[int]] = [set() for _ in range(ix.n)]
    for mi, minimum in enumerate(mins):
        mins_of_cell[(minimum.key[0], minimum.key[1])].append(mi)
        for c in minimum.columns:
            member[c].add(mi)
    used = [0] * len(limits)
    caps = [limit.limit for limit in limits]
    filled = [0] * len(mins)
    x = [False] * ix.n
    # Capacity rows come first in `limits`, so each column's first row is its window.
    cell_row = [rows[0] for rows in limits_of]
    capacity_of = [ix.plans[ix.apps[i].slot_type].capacity for i in ix.unit_app]
    cell_mins = [
        mins_of_cell.get((ix.apps[ix.unit_app[c]].slot_type, ix.unit_window[c]), ())
        for c in range(ix.n)
    ]

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
    for cols in ix.by_app:
        if not cols:
            continue
        app = ix.apps[ix.unit_app[cols[0]]]
        if any(ix.locked[c] for c in cols):
            for c in cols if app.all_or_nothing else [c for c in cols if ix.locked[c]]:
                grant(c)
    if preset is not None:
        for i, cols in enumerate(ix.by_app):
            chosen = [c for c in cols if preset[c] > 0.5 and not x[c]]
            if ix.apps[i].all_or_nothing and len(chosen) != len(cols):
                continue
            take(chosen, False, ix.apps[i].all_or_nothing)
    order = sorted(range(len(ix.apps)), key=lambda i: (-ix.apps[i].score, ix.apps[i].rank))
    for reserve in (True, False):
        for i in order:
            app = ix.apps[i]
            if app.all_or_nothing and any(x[c] for c in ix.by_app[i]):
                continue
            take(ix.by_app[i], reserve, app.all_or_nothing)
    return np.array(x, dtype=bool)


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


def _objective(ix: _Index) -> np.ndarray:
    """Score per unit plus the tie-breaking bonus for earlier applications."""
    scores = np.array([ix.apps[i].score for i in ix.unit_app], dtype=np.float64)
    distinct = np.unique(np.array([a.score for a in ix.apps], dtype=np.float64))
    gaps = np.diff(distinct)
    gaps = gaps[gaps > 1e-9]
    resolution = float(gaps.min()) if gaps.size else 1.0
    total_units = sum(p.capacity * len(p.windows) for p in ix.plans.values()) or 1
    n_apps = max(len(ix.apps), 1)
    rank = np.array([ix.unit_app[c] for c in range(ix.n)], dtype=np.float64)
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
    time_limit: float,
    repair: Callable[[np.ndarray], np.ndarray],
    extra_row: tuple[np.ndarray, float] | None = None,
    relax_first: bool = True,
) -> _Solved:
    """Relax, round and repair, then branch.

    1. With `relax_first`, solve the LP relaxation. When its optimum is
       integral (always so where the rules nest: the matrix is then totally
       unimodular), it is the proven optimum and no branching is needed.
       (Small non-nested models skip this: HiGHS' own presolve and root LP
       do better there than a separate relaxation.)
    2. Otherwise round it down (rounding down keeps every `<=` rule and
       every all-or-nothing equality) and repair it greedily into a full
       solution; the best of that and `starts()` (computed only now) seeds the MILP,
       so a time-limited run always has an answer.
    3. Branch-and-cut with HiGHS until optimal (gap 0) or out of time.
    """
    import highspy  # a compiled solver: imported where used

    began = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-9)
    h.setOptionValue("time_limit", max(0.05, float(time_limit)))
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
    if relax_first:
        h.run()
    if relax_first and h.getModelStatus() == ok:
        relaxed = np.asarray(h.getSolution().col_value, dtype=np.float64)
        lp_bound = float(h.getInfo().objective_function_value)
        if np.abs(relaxed[:n_integer] - np.rint(relaxed[:n_integer])).max(initial=0) < 1e-7:
            return _Solved(np.rint(relaxed), "optimal", 0.0, lp_bound, 0, "lp")
        candidates.append(repair(np.floor(relaxed[:n_integer] + 1e-7)))
    candidates += starts()
    feasible = [
        x for x in candidates if extra_row is None or float(rows @ x) <= extra_row[1] + 1e-9
    ]
    best = min(feasible, key=lambda x: float(costs @ x))
    h.setOptionValue("time_limit", max(0.05, time_limit - (time.perf_counter() - began)))
    h.changeColsIntegrality(
        n_integer,
        np.arange(n_integer, dtype=np.int32),
        np.full(n_integer, highspy.HighsVarType.kInteger),
    )
    solution = highspy.HighsSolution()
    solution.col_value = list(best.astype(float))
    solution.value_valid = True
    h.setSolution(solution)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if values.size != n_cols or not h.getSolution().value_valid:
        values = best.astype(float)  # nothing better than the start
    if float(costs @ np.rint(values)) > float(costs @ best):
        values = best.astype(float)
    final = np.rint(values)
    # The proven gap: against the best lower bound we hold — branch-and-cut's,
    # or the relaxation's when branching had no time to give one.
    bounds = [b for b in (lp_bound, info.mip_dual_bound) if b is not None and math.isfinite(b)]
    bound = max(bounds) if bounds else None
    incumbent = float(costs @ final)
    if status == ok or (bound is not None and incumbent - bound <= 1e-9 * max(1, abs(bound))):
        gap = 0.0
    elif bound is None:
        gap = 1.0  # nothing proven
    else:
        gap = min(1.0, (incumbent - bound) / max(abs(incumbent), abs(bound), 1e-9))
    return _Solved(
        x=final,
        status="optimal" if gap == 0.0 else "feasible",
        gap=gap,
        bound=bound,
        nodes=int(info.mip_node_count),
        method="milp",
    )


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
    if ix.n:
        model = _build_model(ix, limits, mins)
        stats["rows"] = len(model.row_lower)
        mark = lap("model", mark)

        def as_columns(units: np.ndarray) -> np.ndarray:
            return np.concatenate([units.astype(float), _shortfall(units, mins)])

        def repair(rounded: np.ndarray) -> np.ndarray:
            return as_columns(_greedy(ix, limits, mins, preset=rounded))

        def greedy_start() -> list[np.ndarray]:
            return [as_columns(_greedy(ix, limits, mins))]

        shortfall_cost = np.concatenate([np.zeros(ix.n), np.ones(len(mins))])
        # Where the rules nest the relaxation is the answer; on big models a
        # rounded and repaired relaxation is a far better start than greedy.
        relax_first = bool(stats["network"]) or ix.n > RELAX_FIRST_UNITS
        extra_row = None
        phase1_optimal = True
        starts = greedy_start
        if mins:
            budget = (time_limit - (time.perf_counter() - started)) / 2
            phase1 = _solve(
                model, shortfall_cost, ix.n, greedy_start, budget, repair, None, relax_first
            )
            methods.append(phase1.method)
            best_shortfall = float(phase1.x[ix.n :].sum())
            stats["shortfall"] = round(best_shortfall)
            phase1_optimal = phase1.status == "optimal"
            extra_row = (shortfall_cost, best_shortfall + 1e-6)

            def starts() -> list[np.ndarray]:
                return [phase1.x]
        else:
            stats["shortfall"] = 0
        remaining = max(0.05, time_limit - (time.perf_counter() - started))
        score_cost = np.concatenate([-_objective(ix), np.zeros(len(mins))])
        phase2 = _solve(model, score_cost, ix.n, starts, remaining, repair, extra_row, relax_first)
        methods.append(phase2.method)
        x = phase2.x[: ix.n]
        status = "optimal" if phase2.status == "optimal" and phase1_optimal else "feasible"
        gap = phase2.gap if phase1_optimal else max(phase2.gap, 1e-9)
        bound = -phase2.bound if phase2.bound is not None else None
        nodes = phase2.nodes
        mark = lap("solve", mark)
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
    result: list[Assignment] = []
    for (slot_type, window), cols in sorted(ix.by_cell.items()):
        won = [c for c in cols if granted[c]]
        won.sort(key=lambda c: (-ix.apps[ix.unit_app[c]].score, ix.apps[ix.unit_app[c]].rank))
        for position, c in enumerate(won, start=1):
            app = ix.apps[ix.unit_app[c]]
            result.append(
                Assignment(
                    application_id=app.id,
                    merchant_id=app.merchant_id,
                    slot_type=slot_type,
                    window=window,
                    position=position,
                    score=app.score,
                    locked=bool(ix.locked[c]),
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
        self.granted = granted.tolist()
        # Filled lazily: only the limits a refusal asks about are counted.
        self._limits = {(lim.kind, lim.key): lim.columns for lim in limits}
        self._used: dict[tuple[str, tuple], int] = {}
        self.score = [ix.apps[i].score for i in ix.unit_app]
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
        self._group_low: dict[tuple[str, tuple], float | None] = {}

    def _open(self, cell: Cell, category: str, tier: str) -> tuple[int, int, float | None, int]:
        """(units held for other groups, winners open to this kind of
        application, the lowest score among them, how many are locked)."""
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
        result: list[Refusal] = []
        for i, cols in enumerate(ix.by_app):
            app = ix.apps[i]
            lost = [c for c in cols if not self.granted[c]]
            if not lost:
                continue
            local = {c: self.local_reason(c) for c in lost}
            if app.all_or_nothing and len(cols) > 1:
                for c in lost:
                    if local[c][0] == "outscored" and self._beats_lowest(app, c):
                        local[c] = (None, "")  # it lost this window for another one
            for c in lost:
                reason, detail = local[c]
                if app.all_or_nothing and len(cols) > 1 and reason is None:
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
                if reason is None and app.all_or_nothing:
                    reason, detail = self._all_or_nothing_over_cap(app, len(cols))
                if reason is None:
                    # Only a run stopped by its time limit leaves a free unit unused.
                    reason = "capacity"
                    detail = (
                        "not granted in the best allocation found within the time limit; "
                        "a longer run may grant it"
                    )
                result.append(
                    Refusal(
                        application_id=app.id,
                        merchant_id=app.merchant_id,
                        slot_type=app.slot_type,
                        window=ix.unit_window[c],
                        reason=reason,
                        detail=detail,
                    )
                )
        return result

    def used(self, key: tuple[str, tuple]) -> int:
        if key not in self._used:
            cols = self._limits.get(key, ())
            self._used[key] = sum(1 for c in cols if self.granted[c])
        return self._used[key]

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

    def local_reason(self, c: int) -> tuple[str | None, str]:
        """Why unit `c` was not granted, looking at its own window only."""
        ix = self.ix
        app = ix.apps[ix.unit_app[c]]
        window = ix.unit_window[c]
        plan = ix.plans[app.slot_type]
        cell = (app.slot_type, window)
        if plan.capacity == 0:
            return "capacity", f"{app.slot_type} has no units on {window}"
        cat_quota = plan.category_quotas.get(app.category)
        tier_quota = plan.tier_quotas.get(app.tier)
        if cat_quota is not None and cat_quota.max == 0:
            return "category_quota", (
                f"category {app.category!r} gets no {app.slot_type} units on {window} (max 0)"
            )
        if tier_quota is not None and tier_quota.max == 0:
            return "tier_quota", (
                f"merchants of tier {app.tier!r} get no {app.slot_type} units on {window} (max 0)"
            )
        held, open_won, lowest, locked = self._open(cell, app.category, app.tier)
        if plan.capacity - held <= 0:
            return "capacity", (
                f"all {plan.capacity} {app.slot_type} units on {window} are reserved by the "
                "minimum quotas of other categories or tiers"
            )
        cap = plan.per_merchant_max
        merchant_key = ("merchant_cap", (app.slot_type, app.merchant_id))
        if cap is not None and self.used(merchant_key) >= cap:
            return "merchant_cap", (
                f"merchant {app.merchant_id} already holds {cap} {app.slot_type} units in this "
                "event, the most one merchant may have"
            )
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
                return kind, detail
        if open_won + held >= plan.capacity and lowest is not None:
            detail = (
                f"the {open_won} {app.slot_type} units open to you on {window} went to higher "
                f"scores; the lowest winning score was {_fmt(lowest)} (yours: {_fmt(app.score)})"
            )
            if locked:
                detail += f"; {locked} of them locked by a planner"
            if held:
                detail += f"; {held} more are reserved by minimum quotas of other groups"
            return "outscored", detail
        return None, ""


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
