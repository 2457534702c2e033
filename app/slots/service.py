"""Use cases of the slots domain.

The first functions are the slots domain's contract with the others
(promotions, launches): keep their names and signatures.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from app.gates import GateResult
from app.slots.models import Merchant

# --- contract with other domains -------------------------------------------


def merchant_tiers(session: Session, *, merchant_ids: list[int]) -> dict[int, str]:
    """The tier of each known merchant among `merchant_ids`."""
    if not merchant_ids:
        return {}
    rows = session.exec(
        select(Merchant.id, Merchant.tier).where(col(Merchant.id).in_(merchant_ids))
    )
    return {merchant_id: tier for merchant_id, tier in rows if merchant_id is not None}


def launch_gate(session: Session, *, event_id: int) -> GateResult:
    """Issue 4 replaces this: an event with slot plans needs a published allocation."""
    return GateResult("allocation", passed=True, applies=False, detail="no slot plans")


def set_live(session: Session, *, event_id: int, live: bool, at: datetime) -> None:
    """Issue 4 replaces this: put the published allocation live, or release it."""
