"""Problem types of the promotions domain."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class PromotionNotFound(NotFound):
    slug, title = "promotion-not-found", "No such promotion"


class RedemptionNotFound(NotFound):
    slug, title = "redemption-not-found", "No such redemption"


class LimitExhausted(Conflict):
    """A usage limit, a per-customer limit, a code's uses or a budget ran out."""

    slug, title = "limit-exhausted", "A promotion limit or budget is exhausted"


class RiskFloorBroken(Conflict):
    """The worst-case stacked discount would go deeper than the risk floor."""

    slug, title = "risk-floor-broken", "The stacked discount would break the risk floor"


class OrderAlreadyRedeemed(Conflict):
    slug, title = "order-already-redeemed", "This order was already redeemed"


class RedemptionNotCancellable(Conflict):
    slug, title = "redemption-not-cancellable", "The redemption is already cancelled"


class PromotionInUse(Conflict):
    slug, title = "promotion-in-use", "The promotion has redemptions"
