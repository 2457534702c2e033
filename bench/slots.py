"""Benchmark of the slot allocation solver (run by hand, not in CI).

    python -m bench.slots                 # 1,000 / 10,000 / 100,000 applications
    python -m bench.slots --sizes 10000 --scenarios tiered --time-limit 60
    python -m bench.slots --sizes 100000 --scenarios nested --only-limit \
        --repeat 5 --no-baselines         # the solver alone, five calls in a row

A seeded generator of realistic instances: 20 daily windows around a peak
(days 10 and 11 are the popular ones), 10 slot types of different sizes,
skewed (log-normal) scores, most merchants in the tail, categories with a
Zipf-like popularity, per-merchant caps and some all-or-nothing applications.

Scenarios:
  nested  – category max quotas only and no multi-window all-or-nothing:
            the rules nest, the matrix is a network (min-cost flow).
  simple  – category max quotas and all-or-nothing applications.
  tiered  – as simple, plus tier minimums (tail and waist reservations)
            and tier maximums for the head.

Printed per run: the load average before the run (the machine is shared:
read every time with it), seconds (the whole `allocate()` call, which the
time limit bounds) and its CPU time (`time.process_time`, less sensitive
to the other users of the machine) and where the seconds went, status,
proven gap (against the best bound held: the LP relaxation's, or
branch-and-cut's when tighter), the objective and the shortfall against
minimums. Then two greedy baselines on the same instance, each with its
score, its shortfall and how far its score lands below the solver's:
  greedy  – reservation-aware: by score, holding back units for the
            minimums of other groups, then releasing what nobody eligible
            could fill (the solver's own warm start);
  plain   – what a planner would write: by score, minimums ignored;
            `repaired` is that after evicting the lowest-scored winners of
            each window for the best refused units of its short minimums.
100,000 applications are run twice: with a 10 s and a 60 s time limit.
`--repeat N` calls the solver N times on each instance (one row each; the
instance is made once) and `--no-baselines` leaves the greedy baselines
out (their columns show "-"), for timing the solver alone.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, date, datetime, timedelta

from app.slots.solver import (
    Application,
    Plan,
    Quota,
    allocate,
    greedy_objective,
    plain_greedy,
)

SLOT_TYPES = [
    ("homepage_banner", 6),
    ("homepage_grid", 12),
    ("channel_floor_beauty", 20),
    ("channel_floor_food", 20),
    ("channel_floor_digital", 20),
    ("search_spot", 40),
    ("live_stream_slot", 8),
    ("push", 60),
    ("sms", 60),
    ("coupon_center", 30),
]
CATEGORIES = [
    "beauty", "apparel", "digital", "food", "home", "baby", "sports", "books",
    "pets", "outdoor", "jewelry", "auto",
]  # fmt: skip
TIERS = [("head", 0.05), ("waist", 0.20), ("tail", 0.75)]
TIER_FACTOR = {"head": 4.0, "waist": 1.8, "tail": 1.0}
WINDOWS = 20
PEAK = (9, 10)


def instance(n_apps: int, scenario: str, seed: int = 11) -> tuple[list[Plan], list[Application]]:
    rng = random.Random(seed)
    first = date(2027, 10, 31)
    windows = tuple(first + timedelta(days=i) for i in range(WINDOWS))
    # Keep competition realistic at every size: about 6 requested units per unit.
    scale = max(1, round(n_apps / 5000))
    plans = []
    for code, base in SLOT_TYPES:
        capacity = base * scale
        category_quotas = {c: Quota(0, max(1, capacity * 2 // 5)) for c in CATEGORIES}
        tier_quotas: dict[str, Quota] = {}
        if scenario == "tiered":
            tier_quotas = {
                "tail": Quota(max(1, capacity * 3 // 10), None),
                "waist": Quota(max(1, capacity // 5), None),
                "head": Quota(0, max(1, capacity // 2)),
            }
        plans.append(
            Plan(code, windows, capacity, category_quotas, tier_quotas, per_merchant_max=4)
        )
    n_merchants = max(20, n_apps // 6)
    merchants = []
    for m in range(1, n_merchants + 1):
        tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
        cats = rng.sample(CATEGORIES, k=rng.choice([1, 1, 2, 3]))
        merchants.append((m, tier, cats))
    cat_weights = [1 / (i + 1) for i in range(len(CATEGORIES))]
    day_weights = [8.0 if i in PEAK else (3.0 if abs(i - 9.5) < 3 else 1.0) for i in range(WINDOWS)]
    type_weights = [1 / (i + 1) ** 0.5 for i in range(len(SLOT_TYPES))]
    apps = []
    for a in range(1, n_apps + 1):
        m, tier, cats = rng.choice(merchants)
        weights = [cat_weights[CATEGORIES.index(c)] for c in cats]
        category = rng.choices(cats, weights=weights)[0]
        code = rng.choices([c for c, _ in SLOT_TYPES], weights=type_weights)[0]
        k = rng.choice([1, 1, 1, 2, 2, 3])
        chosen: set[date] = set()
        while len(chosen) < k:
            chosen.add(windows[rng.choices(range(WINDOWS), weights=day_weights)[0]])
        score = round(rng.lognormvariate(3.0, 1.0) * TIER_FACTOR[tier], 2)
        aon = scenario != "nested" and k > 1 and rng.random() < 0.3
        apps.append(
            Application(a, m, tier, category, code, tuple(sorted(chosen)), score, aon, rank=a)
        )
    return plans, apps


def below(optimum: float, score: float) -> str:
    return f"{(optimum - score) / optimum:.3%}"


def run(
    n_apps: int,
    scenario: str,
    time_limit: float,
    seed: int = 11,
    made: tuple[list[Plan], list[Application]] | None = None,
    baselines: bool = True,
) -> dict:
    """One solver call on the instance (`made`, or made here), and the
    greedy baselines on it unless `baselines` is false."""
    plans, apps = made or instance(n_apps, scenario, seed)
    load = os.getloadavg()[0]
    cpu = time.process_time()
    result = allocate(plans, apps, now=datetime.now(UTC), time_limit=time_limit)
    cpu = time.process_time() - cpu
    s = result.stats
    row = {
        "size": n_apps,
        "seed": seed,
        "scenario": scenario,
        "limit": time_limit,
        "load": f"{load:.2f}",
        "units": s["units_requested"],
        "seconds": s["seconds"],
        "cpu": round(cpu, 2),
        "timings": " ".join(f"{k}={v:.2f}" for k, v in s["timings"].items()),
        "methods": "+".join(s["methods"]),
        "status": result.status,
        "gap": f"{s['gap']:.2e}",
        "objective": result.objective,
        "shortfall": s["shortfall"],
    }
    if not baselines:
        return row
    began = time.perf_counter()
    greedy, greedy_shortfall = greedy_objective(plans, apps)
    greedy_seconds = time.perf_counter() - began
    plain = plain_greedy(plans, apps)
    return row | {
        "greedy": round(greedy, 2),
        "greedy_shortfall": greedy_shortfall,
        "greedy_below": below(result.objective, greedy),
        "greedy_seconds": round(greedy_seconds, 2),
        "plain": round(plain["score"], 2),
        "plain_shortfall": plain["shortfall"],
        "plain_below": below(result.objective, plain["score"]),
        "repaired": round(plain["repaired_score"], 2),
        "repaired_shortfall": plain["repaired_shortfall"],
        "repaired_below": below(result.objective, plain["repaired_score"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--scenarios", default="nested,simple,tiered")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seeds", default="11", help="instance seeds, comma-separated")
    parser.add_argument("--only-limit", action="store_true", help="100,000: skip the 10 s run")
    parser.add_argument("--repeat", type=int, default=1, help="solver calls per instance")
    parser.add_argument("--no-baselines", action="store_true", help="skip the greedy baselines")
    args = parser.parse_args()
    header = (
        "size", "seed", "scenario", "limit", "load", "units", "seconds", "cpu", "timings",
        "methods", "status", "gap", "objective", "shortfall", "greedy", "greedy_shortfall",
        "greedy_below", "greedy_seconds", "plain", "plain_shortfall", "plain_below", "repaired",
        "repaired_shortfall", "repaired_below",
    )  # fmt: skip
    print(" | ".join(header))
    for size in [int(s) for s in args.sizes.split(",")]:
        limits = [args.time_limit]
        if size >= 100_000 and not args.only_limit:
            limits = [10.0, args.time_limit]
        for scenario in args.scenarios.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                made = instance(size, scenario, seed)
                for limit in limits:
                    for _ in range(args.repeat):
                        row = run(size, scenario, limit, seed, made, not args.no_baselines)
                        print(" | ".join(str(row.get(h, "-")) for h in header), flush=True)


if __name__ == "__main__":
    main()
