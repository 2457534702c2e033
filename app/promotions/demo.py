"""The promotions part of `promoplan demo`: Double 11's discounts.

Reads `ctx["events"]["double11"]` (skipped when absent) and
`ctx.get("merchants")` (a dict of name → id, a list of ids, or a list of
objects with `id`; without merchants, store-level promotions are skipped).

Puts in `ctx`:
- `ctx["promotions"]`: `{"platform_threshold", "platform_coupon", "item_8zhe",
  "store_threshold:<merchant id>", "store_coupon:<merchant id>": promotion id}`
- `ctx["coupon_codes"]`: `{"platform": [a few codes], "store": [a few codes]}`
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.calendar import service as calendar_service
from app.promotions import service
from app.promotions.schemas import CodesCreate, PromotionCreate


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """Add this domain's demo data; return lines to print."""
    event_id = (ctx.get("events") or {}).get("double11")
    if event_id is None or calendar_service.get(session, event_id=event_id) is None:
        return ["Promotions: skipped (no Double 11 event in the demo)."]
    phases = [p.key for p in calendar_service.list_phases(session, event_id=event_id)]
    phase = "peak" if "peak" in phases else None
    merchants = _merchant_ids(ctx.get("merchants"))[:3]
    made: dict[str, int] = {}

    def add(key: str, **body: Any) -> int:
        data = PromotionCreate.model_validate({"event_id": event_id, "phase": phase, **body})
        made[key] = service.create(session, data=data, actor=SYSTEM).id
        return made[key]

    add(
        "platform_threshold",
        name="跨店满减: every ¥300 save ¥50",
        kind="threshold",
        level="platform",
        params={"every": {"step": 30000, "off": 5000}},
        scope={"exclude_skus": ["GIFT-CARD"]},
        budget={"total_amount": 500_000_000},
    )
    add(
        "item_8zhe",
        name="Apparel 8折 (20 % off)",
        kind="percent_off",
        level="item",
        params={"percent_bp": 2000},
        scope={"categories": ["apparel"]},
    )
    platform_coupon = add(
        "platform_coupon",
        name="Platform coupon: ¥20 off ¥199",
        kind="amount_off",
        level="platform",
        coupon=True,
        params={"amount": 2000, "min_spend": 19900},
        budget={"max_redemptions": 100_000, "per_customer": 1},
    )
    store_coupon = None
    for merchant_id in merchants:
        add(
            f"store_threshold:{merchant_id}",
            name=f"Store {merchant_id} 满减: ¥200 save ¥30, ¥400 save ¥70",
            kind="threshold",
            level="store",
            params={"tiers": [{"min": 20000, "off": 3000}, {"min": 40000, "off": 7000}]},
            scope={"merchants": [merchant_id]},
        )
        store_coupon = store_coupon or add(
            f"store_coupon:{merchant_id}",
            name=f"Store {merchant_id} coupon: ¥10 off ¥99",
            kind="amount_off",
            level="store",
            coupon=True,
            params={"amount": 1000, "min_spend": 9900},
            scope={"merchants": [merchant_id]},
            budget={"max_redemptions": 5000},
        )
    codes = {"platform": _codes(session, platform_coupon, 1000, "D11", None)}
    if store_coupon is not None:
        codes["store"] = _codes(session, store_coupon, 500, "S", 1)
    ctx["promotions"] = made
    ctx["coupon_codes"] = codes
    return [
        f"Promotions: {len(made)} Double 11 discounts (跨店满减, store 满减, 8折, coupons) "
        f"on event {event_id}{f', phase {phase}' if phase else ''}.",
        f"  Try a platform code: {codes['platform'][0]} — POST /api/v1/quote with "
        '"best": true and "at" inside the peak to preview.',
        f"  Risk: /api/v1/promotions/{made['platform_threshold']}/risk",
    ]


def _merchant_ids(merchants: Any) -> list[int]:
    if not merchants:
        return []
    values = list(merchants.values()) if isinstance(merchants, dict) else list(merchants)
    ids = []
    for value in values:
        merchant_id = value if isinstance(value, int) else getattr(value, "id", None)
        if merchant_id is None and isinstance(value, dict):
            merchant_id = value.get("id")
        if isinstance(merchant_id, int):
            ids.append(merchant_id)
    return ids


def _codes(
    session: Session, promotion_id: int, count: int, prefix: str, uses: int | None
) -> list[str]:
    data = CodesCreate(count=count, prefix=f"{prefix}-", uses_per_code=uses)
    return service.generate_codes(
        session, promotion_id=promotion_id, data=data, actor=SYSTEM
    ).sample[:5]
