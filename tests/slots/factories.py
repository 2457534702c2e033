"""Builders for the slots domain's tests: `create_<noun>(session, **overrides)`.

Each commits (inside the test's outer transaction, which is still rolled
back at the end) so that a request that fails and rolls back does not take
the test's data with it."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from sqlmodel import Session

from app.slots.models import Merchant, SlotApplication, SlotPlan, SlotType
from app.types import utcnow

_counter = itertools.count(1)

# The days of tests.factories.create_event's default event (Asia/Shanghai).
DAY1, DAY2, DAY3 = date(2027, 11, 10), date(2027, 11, 11), date(2027, 11, 12)


def create_merchant(session: Session, **overrides: Any) -> Merchant:
    n = next(_counter)
    merchant = Merchant(
        name=overrides.pop("name", f"Merchant {n}"),
        tier=overrides.pop("tier", "tail"),
        categories=overrides.pop("categories", ["beauty", "food"]),
        **overrides,
    )
    session.add(merchant)
    session.commit()
    return merchant


def create_slot_type(session: Session, **overrides: Any) -> SlotType:
    n = next(_counter)
    slot_type = SlotType(
        code=overrides.pop("code", f"banner-{n}"),
        name=overrides.pop("name", f"Banner {n}"),
        capacity=overrides.pop("capacity", 2),
        **overrides,
    )
    session.add(slot_type)
    session.commit()
    return slot_type


def create_slot_plan(
    session: Session, *, event_id: int, slot_type: SlotType, **overrides: Any
) -> SlotPlan:
    windows = overrides.pop("windows", [DAY1, DAY2, DAY3])
    plan = SlotPlan(
        event_id=event_id,
        slot_type_id=slot_type.id,
        windows=[w.isoformat() for w in windows],
        capacity=overrides.pop("capacity", slot_type.capacity),
        **overrides,
    )
    session.add(plan)
    session.commit()
    return plan


def create_application(
    session: Session,
    *,
    event_id: int,
    merchant: Merchant,
    slot_type: SlotType,
    **overrides: Any,
) -> SlotApplication:
    windows = overrides.pop("windows", [DAY1])
    application = SlotApplication(
        event_id=event_id,
        merchant_id=merchant.id,
        slot_type_id=slot_type.id,
        category=overrides.pop("category", merchant.categories[0]),
        windows=[w.isoformat() for w in windows],
        score=overrides.pop("score", 10.0),
        created_at=overrides.pop("created_at", utcnow()),
        **overrides,
    )
    session.add(application)
    session.commit()
    return application
