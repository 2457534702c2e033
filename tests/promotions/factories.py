"""`create_<noun>(session, **overrides)` builders for the promotions tests."""

from __future__ import annotations

import itertools
from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.promotions import service
from app.promotions.models import Promotion
from app.promotions.schemas import CodesCreate, PromotionCreate
from app.slots.models import Merchant

_counter = itertools.count(1)


def create_promotion(session: Session, *, force: bool = True, **overrides: Any) -> Promotion:
    """An automatic item promotion, 10 % off everything, unless told otherwise.
    The risk floor is not checked unless `force=False`."""
    body = {
        "name": f"Promotion {next(_counter)}",
        "kind": "percent_off",
        "level": "item",
        "params": {"percent_bp": 1000},
        **overrides,
    }
    return service.create(
        session, data=PromotionCreate.model_validate(body), actor=SYSTEM, force=force
    )


def create_codes(session: Session, promotion: Promotion, count: int = 1, **overrides: Any):
    data = CodesCreate.model_validate({"count": count, **overrides})
    service.generate_codes(session, promotion_id=promotion.id, data=data, actor=SYSTEM)
    return [c.code for c in service.repository.iter_codes(session, promotion.id)]


def create_merchant(session: Session, **overrides: Any) -> Merchant:
    """A head-tier shop: store promotions must name merchants that exist."""
    merchant = Merchant(
        **{"name": f"Shop {next(_counter)}", "tier": "head", "categories": ["shoes"], **overrides}
    )
    session.add(merchant)
    session.flush()
    return merchant
