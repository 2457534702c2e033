"""Real concurrent clients against a real server: limits hold in the database."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import select

from app import auth
from app.db import build_engine, session_scope
from app.promotions.models import CouponCode, PromotionBudget
from tests.live import LiveServer
from tests.promotions.factories import create_codes, create_promotion

pytestmark = pytest.mark.slow

CLIENTS = 500
LIMIT = 100


def _seed(url: str) -> tuple[str, int, str]:
    engine = build_engine(url)
    try:
        with session_scope(engine) as session:
            _key, raw = auth.create_key(session, name="storefront", role="planner")
            promo = create_promotion(
                session,
                kind="amount_off",
                level="platform",
                coupon=True,
                params={"amount": 1000},
                budget={"max_redemptions": LIMIT, "total_amount": 1000 * LIMIT},
            )
            (code,) = create_codes(session, promo)
            return raw, promo.id, code
    finally:
        engine.dispose()


def _budget(url: str, promotion_id: int) -> tuple[int, int, int]:
    engine = build_engine(url)
    try:
        with session_scope(engine) as session:
            budget = session.get(PromotionBudget, promotion_id)
            code = session.exec(
                select(CouponCode).where(CouponCode.promotion_id == promotion_id)
            ).one()
            return budget.redemptions, budget.spent_minor, code.used
    finally:
        engine.dispose()


def _order(n: int, code: str) -> dict:
    return {
        "order_id": f"order-{n}",
        "customer_id": f"customer-{n}",
        "currency": "CNY",
        "lines": [
            {
                "id": "1",
                "sku": "SKU-1",
                "merchant_id": 1,
                "category": "shoes",
                "unit_price": 20000,
                "quantity": 1,
            }
        ],
        "coupon_codes": [code],
    }


class TestConcurrentRedemptions:
    def test_500_clients_for_a_limit_of_100_get_exactly_100_successes(self, live_db: str):
        raw, promotion_id, code = _seed(live_db)
        headers = {"Authorization": f"Bearer {raw}"}
        with LiveServer(live_db) as server:
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=0)
            with httpx.Client(base_url=server.base_url, timeout=120, limits=limits) as client:

                def redeem(n: int) -> httpx.Response:
                    return client.post("/api/v1/redemptions", json=_order(n, code), headers=headers)

                with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                    responses = list(pool.map(redeem, range(CLIENTS)))
                statuses = Counter(r.status_code for r in responses)
                assert statuses == {201: LIMIT, 409: CLIENTS - LIMIT}, statuses
                refused = [r.json() for r in responses if r.status_code == 409]
                assert all(p["reason"] == "budget_exhausted" for p in refused)
                assert all(
                    r.headers["content-type"].startswith("application/problem+json")
                    for r in responses
                    if r.status_code == 409
                )
                assert _budget(live_db, promotion_id) == (LIMIT, 1000 * LIMIT, LIMIT)

                # Cancel half of them, each twice at once: exactly one of each pair wins.
                won = [r.json()["id"] for r in responses if r.status_code == 201][: LIMIT // 2]

                def cancel(rid: int) -> int:
                    return client.post(
                        f"/api/v1/redemptions/{rid}/cancel", headers=headers
                    ).status_code

                with ThreadPoolExecutor(max_workers=LIMIT) as pool:
                    cancels = Counter(pool.map(cancel, won + won))
                assert cancels == {200: LIMIT // 2, 409: LIMIT // 2}, cancels
                half = LIMIT - LIMIT // 2
                assert _budget(live_db, promotion_id) == (half, 1000 * half, half)
