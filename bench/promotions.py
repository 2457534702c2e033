"""Promotions benchmarks: quotes against many promotions, code generation,
and redemptions on one hot promotion.

    PROMOPLAN_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python -m bench.promotions [engine] [db] [http] [codes] [redeem]

Seeded (random.Random(5)); prints one line per figure. The workload: of N
active automatic promotions, 10 are platform-wide (every cart meets them),
40 are category-wide (one of 40 categories), and the rest are filed under
one SKU (80 %) or one merchant (20 %) from a catalogue that grows with N
(2 N SKUs, N / 10 merchants) — so a cart meets a few dozen of them, as on a
real marketplace where most promotions belong to a product or a shop.
A cart of L lines comes from L / 5 + 1 shops.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert

from app import auth, migrate
from app.db import build_engine, session_scope
from app.promotions import engine, repository, service
from app.promotions.models import Promotion, PromotionBudget, PromotionScopeKey
from app.promotions.schemas import CodesCreate, QuoteRequest
from tests.dbs import drop_database, fresh_database, postgres_base_url
from tests.live import LiveServer
from tests.promotions.factories import create_codes, create_promotion

NOW = datetime(2027, 11, 11, 4, 0, tzinfo=UTC)
SIZES = (1_000, 10_000, 100_000)
CART_LINES = (10, 50, 100)
GLOBAL = 10


CATEGORIES = 40


def _catalogue(n: int) -> tuple[int, int, int]:
    return 2 * n, max(n // 10, 10), CATEGORIES


def workload(n: int, rnd: random.Random) -> list[dict]:
    """N promotion rows (kind, level, params, scope) as described above."""
    skus, merchants, categories = _catalogue(n)
    rows = []
    for i in range(n):
        if i < GLOBAL:
            level, scope = "platform", {}
            kind, params = "threshold", {"every": {"step": 30000, "off": 3000 + 100 * i}}
        elif i < GLOBAL + categories:
            level, scope = "item", {"categories": [f"C{i - GLOBAL}"]}
            kind, params = "percent_off", {"percent_bp": 1000}
        elif rnd.random() < 0.8:
            level, scope = "item", {"skus": [f"S{rnd.randrange(skus)}"]}
            kind, params = "percent_off", {"percent_bp": rnd.choice([500, 1000, 2000])}
        else:
            level, scope = "store", {"merchants": [rnd.randrange(merchants) + 1]}
            kind = "threshold"
            params = {"tiers": [{"min": 20000, "off": 2000}, {"min": 40000, "off": 5000}]}
        rows.append({"kind": kind, "level": level, "params": params, "scope": scope})
    return rows


def cart(n: int, lines: int, rnd: random.Random) -> list[dict]:
    skus, merchants, categories = _catalogue(n)
    shops = [rnd.randrange(merchants) + 1 for _ in range(lines // 5 + 1)]
    return [
        {
            "id": str(i),
            "sku": f"S{rnd.randrange(skus)}",
            "merchant_id": rnd.choice(shops),
            "category": f"C{rnd.randrange(categories)}",
            "unit_price": rnd.randrange(1000, 50000),
            "quantity": rnd.randint(1, 3),
        }
        for i in range(lines)
    ]


def _stats(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"median {statistics.median(samples) * 1000:.3f} ms  p99 {p99 * 1000:.3f} ms"


def bench_engine() -> None:
    """Pure engine with its in-memory scope index: find, then price."""
    print("## engine in process (OfferIndex.touching + quote)")
    print(f"calibration: {_loop_seconds():.2f} s for a 10,000,000-step Python addition loop")
    for n in SIZES:
        rnd = random.Random(5)
        offers = [
            engine.Offer(
                i + 1, r["kind"], r["level"], r["params"], engine.Scope.from_dict(r["scope"])
            )
            for i, r in enumerate(workload(n, rnd))
        ]
        index = engine.OfferIndex(offers)
        for size in CART_LINES:
            carts = [
                [engine.Line(**{**ln, "tier": None}) for ln in cart(n, size, rnd)]
                for _ in range(300)
            ]
            samples, cpu = [], []
            for lines in carts:
                start, start_cpu = time.perf_counter(), time.process_time()
                engine.quote(lines, index.touching(lines), now=NOW)
                samples.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            print(f"N={n:>7}  lines={size:>3}  {_stats(samples)}  (CPU time: {_stats(cpu)})")


def _loop_seconds() -> float:
    """This machine's pure-Python speed right now: on the sandbox it went
    from 1.16 s to 1.60 s within an hour on 2026-11-22, quiet both times."""
    started, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def seed_db(url: str, n: int) -> None:
    rnd = random.Random(5)
    rows = workload(n, rnd)
    eng = build_engine(url)
    with session_scope(eng) as session:
        promos = [
            {
                "name": f"P{i}",
                "currency": "CNY",
                "coupon": False,
                "exclusive": False,
                "created_at": NOW,
                "updated_at": NOW,
                **r,
            }
            for i, r in enumerate(rows)
        ]
        for start in range(0, n, 5000):
            session.execute(insert(Promotion), promos[start : start + 5000])
        ids = list(session.exec(Promotion.__table__.select().with_only_columns(Promotion.id)))
        ids = [row[0] for row in ids]
        session.execute(insert(PromotionBudget), [{"promotion_id": i} for i in ids])
        keys = [
            {"promotion_id": pid, "dim": d, "value": v}
            for pid, r in zip(ids, rows, strict=True)
            for d, v in service.scope_keys(r["scope"])
        ]
        for start in range(0, len(keys), 5000):
            session.execute(insert(PromotionScopeKey), keys[start : start + 5000])
        repository.bump_generation(session)  # as every change does: caches reload
    with eng.connect() as conn:  # fresh statistics, as autovacuum would give
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    eng.dispose()


def _databases():
    tmp = Path(tempfile.mkdtemp())
    yield "sqlite", tmp
    if postgres_base_url():
        yield "postgres", tmp


def bench_db() -> None:
    """service.quote: the SQL scope index, budgets, then the engine."""
    print("## service.quote in process (database index + engine)")
    for backend, tmp in _databases():
        for n in SIZES:
            url = fresh_database(backend, tmp, "bench")
            migrate.upgrade(url)
            started = time.perf_counter()
            seed_db(url, n)
            seeded = time.perf_counter() - started
            eng = build_engine(url)
            rnd = random.Random(7)
            with session_scope(eng) as session:  # the first quote loads the cache
                data = QuoteRequest(customer_id="c", lines=cart(n, 10, rnd))
                start = time.perf_counter()
                service.quote(session, data=data)
                loaded = time.perf_counter() - start
            for size in CART_LINES:
                samples = []
                with session_scope(eng) as session:
                    for _ in range(200):
                        data = QuoteRequest(customer_id="c", lines=cart(n, size, rnd))
                        start = time.perf_counter()
                        service.quote(session, data=data)
                        samples.append(time.perf_counter() - start)
                print(f"{backend:8} N={n:>7}  lines={size:>3}  {_stats(samples)}")
            print(
                f"{backend:8} N={n:>7}  (seeded in {seeded:.1f} s; "
                f"first quote, loading the cache, {loaded:.2f} s)"
            )
            eng.dispose()
            drop_database(url)


WRK_SCRIPT = """
local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  i = i % #bodies + 1
  return wrk.format(nil, "/api/v1/quote", nil, bodies[i])
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_http(sizes: tuple[int, ...] = (1_000, 100_000)) -> None:
    for n in sizes:
        bench_http_one(n)


def bench_http_one(n: int, clients: int = 8, seconds: float = 10.0) -> None:
    """POST /quote with 50-line carts through a real server (one uvicorn
    process), driven by wrk (one thread, `clients` connections) when it is
    installed, else by `clients` httpx threads in this process. Also the
    server's own CPU time over the run: requests per CPU-second is what one
    core would serve, whatever else the machine is doing. The first quote
    is sent as soon as the server answers /healthz: it waits for whatever
    is left of the cache warm-up the server started with."""
    wrk = shutil.which("wrk")
    tool = f"wrk -t1 -c{clients}" if wrk else f"{clients} httpx threads"
    print(f"## HTTP quote, 50 lines, N={n}, {tool}, {seconds:.0f} s")
    for backend, tmp in _databases():
        url = fresh_database(backend, tmp, "benchhttp")
        migrate.upgrade(url)
        seed_db(url, n)
        raw = _key(url)
        rnd = random.Random(9)
        bodies = [
            {"customer_id": "c", "currency": "CNY", "lines": cart(n, 50, rnd)} for _ in range(200)
        ]
        with (
            LiveServer(url) as server,
            httpx.Client(base_url=server.base_url, timeout=120) as client,
        ):
            headers = {"Authorization": f"Bearer {raw}"}
            started = time.perf_counter()  # the first quote waits for the warm-up
            assert client.post("/api/v1/quote", json=bodies[0], headers=headers).status_code == 200
            loaded = time.perf_counter() - started
            pid = server.process.pid
            if wrk:
                _calibrate(wrk, server.base_url, pid, clients)
            cpu_before = _cpu_seconds(pid)
            if wrk:
                (tmp / "bodies.jsonl").write_text("\n".join(json.dumps(b) for b in bodies))
                (tmp / "quote.lua").write_text(WRK_SCRIPT)
                out = subprocess.run(
                    [wrk, "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--timeout", "10s",
                     "-s", str(tmp / "quote.lua"),
                     server.base_url, "--", str(tmp / "bodies.jsonl"), raw],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                result = next(ln for ln in out.splitlines() if ln.startswith("RESULT")).split()
                count, elapsed = int(result[1]), int(result[2]) / 1e6
                latency = f"median {float(result[3]):.3f} ms  p99 {float(result[4]):.3f} ms"
                if int(result[5]):
                    latency += f"  ({result[5]} errors or timeouts)"
            else:
                deadline = time.monotonic() + seconds

                def worker(k: int, deadline=deadline, bodies=bodies, headers=headers) -> list:
                    out = []
                    i = k
                    while time.monotonic() < deadline:
                        start = time.perf_counter()
                        body = bodies[i % len(bodies)]
                        r = client.post("/api/v1/quote", json=body, headers=headers)
                        assert r.status_code == 200, r.text
                        out.append(time.perf_counter() - start)
                        i += clients
                    return out

                with ThreadPoolExecutor(clients) as pool:
                    samples = [s for part in pool.map(worker, range(clients)) for s in part]
                count, elapsed, latency = len(samples), seconds, _stats(samples)
            cpu = _cpu_seconds(pid) - cpu_before
        print(
            f"{backend:8} {count / elapsed:.0f} requests/s  {latency}  "
            f"server CPU {cpu:.1f} s for {count} requests: {count / cpu:.0f} requests per "
            f"CPU-second; first quote {loaded:.2f} s after start; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        drop_database(url)


def _calibrate(wrk: str, base_url: str, pid: int, clients: int, seconds: int = 5) -> None:
    """The same server and wrk on `GET /healthz` (no work: uvicorn, the
    middlewares and routing only): the ceiling of requests per CPU-second
    on this machine, against which the quote figure reads."""
    cpu_before = _cpu_seconds(pid)
    out = subprocess.run(
        [wrk, "-t1", f"-c{clients}", f"-d{seconds}s", base_url + "/healthz"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = _cpu_seconds(pid) - cpu_before
    count = int(next(ln for ln in out.splitlines() if "requests in" in ln).split()[0])
    print(f"         calibration: GET /healthz {count / cpu:.0f} requests per CPU-second")


def _key(url: str) -> str:
    eng = build_engine(url)
    with session_scope(eng) as session:
        _k, raw = auth.create_key(session, name="bench", role="planner")
    eng.dispose()
    return raw


def bench_codes(count: int = 200_000) -> None:
    print(f"## POST /promotions/{{id}}/codes: {count} codes (service, one transaction)")
    for backend, tmp in _databases():
        url = fresh_database(backend, tmp, "benchcodes")
        migrate.upgrade(url)
        eng = build_engine(url)
        with session_scope(eng) as session:
            promo = create_promotion(session, coupon=True)
        started = time.perf_counter()
        with session_scope(eng) as session:
            made = service.generate_codes(
                session,
                promotion_id=promo.id,
                data=CodesCreate(count=count, prefix="D11-"),
                actor=auth.SYSTEM,
            )
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        with session_scope(eng) as session:
            size = len(service.codes_csv(session, promotion_id=promo.id))
        exported = time.perf_counter() - started
        print(
            f"{backend:8} generated {made.created} in {elapsed:.2f} s; "
            f"CSV export {size / 1e6:.1f} MB in {exported:.2f} s"
        )
        eng.dispose()
        drop_database(url)


def bench_redeem(clients: int = 32, total: int = 3000) -> None:
    """Redemptions per second on one hot promotion (one counter row)."""
    print(f"## POST /redemptions, one hot coupon, {clients} clients, {total} orders")
    for backend, tmp in _databases():
        if backend != "postgres" and "--sqlite-redeem" not in sys.argv:
            continue
        url = fresh_database(backend, tmp, "benchredeem")
        migrate.upgrade(url)
        eng = build_engine(url)
        with session_scope(eng) as session:
            _k, raw = auth.create_key(session, name="bench", role="planner")
            promo = create_promotion(
                session,
                kind="amount_off",
                level="platform",
                coupon=True,
                params={"amount": 1000},
                budget={"max_redemptions": total * 2},
            )
            (code,) = create_codes(session, promo)
        eng.dispose()
        line = {
            "id": "1",
            "sku": "S1",
            "merchant_id": 1,
            "category": "c",
            "unit_price": 20000,
            "quantity": 1,
        }
        limits = httpx.Limits(max_connections=clients)
        with (
            LiveServer(url) as server,
            httpx.Client(base_url=server.base_url, limits=limits, timeout=60) as client,
        ):
            headers = {"Authorization": f"Bearer {raw}"}

            def redeem(i: int, line=line, code=code, headers=headers) -> int:
                body = {
                    "order_id": f"o{i}",
                    "customer_id": f"c{i}",
                    "currency": "CNY",
                    "lines": [line],
                    "coupon_codes": [code],
                }
                return client.post("/api/v1/redemptions", json=body, headers=headers).status_code

            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(redeem, range(total)))
            elapsed = time.perf_counter() - started
        ok = statuses.count(201)
        print(f"{backend:8} {ok} redeemed in {elapsed:.2f} s: {ok / elapsed:.0f} redemptions/s")
        drop_database(url)


SECTIONS = {
    "engine": bench_engine,
    "db": bench_db,
    "http": bench_http,
    "codes": bench_codes,
    "redeem": bench_redeem,
}

if __name__ == "__main__":
    chosen = [a for a in sys.argv[1:] if a in SECTIONS] or list(SECTIONS)
    for name in chosen:
        SECTIONS[name]()
