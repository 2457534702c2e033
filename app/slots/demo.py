"""The slots part of `promoplan demo`.

Reads `ctx["events"]["double11"]` (an Event or its id, made by the calendar
demo; skipped when absent). Puts `ctx["merchants"]` = the demo merchants'
ids (promotions use them), `ctx["slot_types"]` = {code: id} and
`ctx["allocation_run_id"]` = the published run of Double 11.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.calendar import service as calendar_service
from app.slots import repository, service
from app.slots.schemas import (
    ApplicationCreate,
    MerchantCreate,
    QuotaIn,
    SlotPlanCreate,
    SlotTypeCreate,
)
from app.types import utcnow

MERCHANTS = [
    ("Lumière Beauty Flagship", "head", ["beauty"]),
    ("北极绒 Home Textiles", "head", ["home"]),
    ("Zhiyun Digital", "head", ["digital"]),
    ("Three Squirrels Snacks", "head", ["food"]),
    ("Peak Sportswear", "waist", ["sports", "apparel"]),
    ("Little Bear Appliances", "waist", ["home", "digital"]),
    ("Moonbay Skincare", "waist", ["beauty"]),
    ("Xinjiang Orchard Direct", "waist", ["food"]),
    ("Urban Denim Co.", "waist", ["apparel"]),
    ("Pawsome Pet Supplies", "tail", ["pets"]),
    ("Handmade Tea House", "tail", ["food"]),
    ("Tiny Steps Baby", "tail", ["baby"]),
    ("Inkwell Stationery", "tail", ["books"]),
    ("Glow Nail Studio", "tail", ["beauty"]),
    ("Trailhead Outdoor", "tail", ["sports"]),
    ("Retro Audio Lab", "tail", ["digital"]),
    ("Silk Road Scarves", "tail", ["apparel"]),
    ("Green Sprout Kitchen", "tail", ["home", "food"]),
]
SLOT_TYPES = [
    ("homepage_banner", "Homepage banner", "app", 6),
    ("channel_floor", "Channel floor", "app", 12),
    ("search_spot", "Search spot", "search", 20),
    ("push", "Push notification", "push", 40),
]
CATEGORIES = ["beauty", "home", "digital", "food", "sports", "apparel", "pets", "baby", "books"]


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """Add this domain's demo data; return lines to print."""
    merchants = [
        service.create_merchant(
            session, data=MerchantCreate(name=name, tier=tier, categories=cats), actor=SYSTEM
        )
        for name, tier, cats in MERCHANTS
    ]
    ctx["merchants"] = [m.id for m in merchants]
    slot_types = {}
    for code, name, channel, capacity in SLOT_TYPES:
        slot_type = repository.slot_type_by_code(session, code) or service.create_slot_type(
            session,
            data=SlotTypeCreate(code=code, name=name, channel=channel, capacity=capacity),
            actor=SYSTEM,
        )
        slot_types[code] = slot_type
    ctx["slot_types"] = {code: t.id for code, t in slot_types.items()}
    lines = [f"Slots: {len(merchants)} merchants, {len(slot_types)} slot types"]
    event = (ctx.get("events") or {}).get("double11")
    if event is None:
        return [*lines, "  (no Double 11 event from the calendar demo: no slot plans)"]
    event_id = event if isinstance(event, int) else event.id
    lines += _plan_and_allocate(session, ctx, event_id, merchants)
    return lines


def _plan_and_allocate(session: Session, ctx: dict[str, Any], event_id: int, merchants) -> list:
    event = calendar_service.get_or_raise(session, event_id=event_id)
    days = service.event_days(event)
    # The peak and the two days before it: Double 11 is the 11th.
    peak = next((d for d in days if d.month == 11 and d.day == 11), days[len(days) // 2])
    windows = [d for d in days if abs((d - peak).days) <= 2]
    tail_min = {"tail": QuotaIn(min=1), "waist": QuotaIn(min=1), "head": QuotaIn(max=3)}
    plans = {
        "homepage_banner": SlotPlanCreate(
            slot_type="homepage_banner",
            windows=windows,
            category_quotas={c: QuotaIn(max=2) for c in CATEGORIES},
            tier_quotas=tail_min,
            per_merchant_max=3,
        ),
        "channel_floor": SlotPlanCreate(
            slot_type="channel_floor",
            windows=windows,
            category_quotas={"food": QuotaIn(min=2), "beauty": QuotaIn(max=4)},
            per_merchant_max=4,
        ),
        "search_spot": SlotPlanCreate(slot_type="search_spot", windows=windows),
        "push": SlotPlanCreate(slot_type="push", windows=windows, per_merchant_max=2),
    }
    for data in plans.values():
        service.create_slot_plan(session, event_id=event_id, data=data, actor=SYSTEM)
    # Applications arrive during sign-up: stamp them before it closes.
    close = calendar_service.get_task_by_code(session, event_id=event_id, code="signup_close")
    applied_at = utcnow()
    if close is not None and close.ends_at <= applied_at:
        applied_at = close.ends_at - timedelta(days=3)
    rng = random.Random(1111)
    count = 0
    tier_weight = {"head": 4.0, "waist": 2.0, "tail": 1.0}
    for merchant in merchants:
        for code in rng.sample(list(plans), k=rng.randint(2, 4)):
            chosen = sorted(rng.sample(windows, k=rng.randint(1, len(windows))))
            score = round(rng.lognormvariate(11, 0.8) * tier_weight[merchant.tier])
            service.create_application(
                session,
                event_id=event_id,
                data=ApplicationCreate(
                    merchant_id=merchant.id,
                    slot_type=code,
                    category=rng.choice(merchant.categories),
                    windows=chosen,
                    score=score,  # expected GMV in yuan
                    all_or_nothing=len(chosen) > 1 and rng.random() < 0.25,
                ),
                principal=SYSTEM,
                now=applied_at + timedelta(seconds=count),
            )
            count += 1
    run = service.create_run(session, event_id=event_id, time_limit=20, actor=SYSTEM)
    service.publish_run(session, event_id=event_id, run_id=run.id, actor=SYSTEM)
    ctx["allocation_run_id"] = run.id
    granted = run.stats.get("units_granted", 0)
    refused = run.stats.get("units_refused", 0)
    return [
        f"  Double 11 slot plans: {', '.join(plans)} over {windows[0]} to {windows[-1]}",
        f"  {count} applications; run {run.id} published: {granted} units granted, "
        f"{refused} refused with reasons ({'optimal' if run.optimal else 'gap'} "
        f"objective {run.objective:,.0f})",
        f"  see GET /api/v1/events/{event_id}/allocation",
    ]
