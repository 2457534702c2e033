"""Tables of the promotions domain: rules, their scope index, coupon codes,
budgets and redemptions.

Every limit lives in the database twice: a conditional UPDATE consumes it
(`... WHERE used < limit`), and a CHECK constraint makes overspending
impossible even for a statement that forgot the condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column

_promotion_version = version_column()


class Promotion(SQLModel, table=True):
    __tablename__ = "promotion"
    __table_args__ = (
        Index("ix_promotion_coupon_currency", "coupon", "currency"),
        CheckConstraint("level IN ('item', 'store', 'platform')", name="level"),
        CheckConstraint(
            "kind IN ('percent_off', 'amount_off', 'threshold', 'buy_n_get_m')", name="kind"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    event_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("event.id", ondelete="CASCADE"), index=True),
    )
    phase: str | None = Field(default=None, max_length=40)
    # As given; an event-tied promotion without them follows its phase or event.
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    currency: str = Field(default="CNY", max_length=3)
    kind: str = Field(max_length=20)
    level: str = Field(max_length=10)
    params: dict[str, Any] = Field(sa_column=Column(JSONColumn, nullable=False))
    scope: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONColumn, nullable=False)
    )
    coupon: bool = False
    exclusive: bool = False
    per_customer: int | None = None
    description: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_promotion_version)

    __mapper_args__ = {"version_id_col": _promotion_version}


class PromotionBudget(SQLModel, table=True):
    """The counters every redemption updates, one row per promotion.

    Kept apart from `promotion` so that the hot UPDATE neither bumps the
    promotion's version nor fights planners editing it.
    """

    __tablename__ = "promotion_budget"
    __table_args__ = (
        CheckConstraint("redemptions >= 0", name="redemptions_not_negative"),
        CheckConstraint("spent_minor >= 0", name="spent_not_negative"),
        CheckConstraint(
            "max_redemptions IS NULL OR redemptions <= max_redemptions", name="within_redemptions"
        ),
        CheckConstraint(
            "total_amount_minor IS NULL OR spent_minor <= total_amount_minor", name="within_amount"
        ),
    )

    promotion_id: int = Field(
        sa_column=Column(Integer, ForeignKey("promotion.id", ondelete="CASCADE"), primary_key=True)
    )
    max_redemptions: int | None = None
    total_amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger))
    redemptions: int = 0
    spent_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class PromotionScopeKey(SQLModel, table=True):
    """The scope index: which promotions a cart can touch, by the narrowest
    dimension of each promotion's scope (`sku`, `merchant`, `category`,
    `tier`, or `all`)."""

    __tablename__ = "promotion_scope_key"
    __table_args__ = (
        PrimaryKeyConstraint("dim", "value", "promotion_id", name="pk_promotion_scope_key"),
    )

    dim: str = Field(sa_column=Column(String(10), nullable=False))
    value: str = Field(sa_column=Column(String(100), nullable=False))
    promotion_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("promotion.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class CouponCode(SQLModel, table=True):
    __tablename__ = "coupon_code"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("max_uses IS NULL OR used <= max_uses", name="within_uses"),
    )

    id: int | None = Field(default=None, primary_key=True)
    promotion_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("promotion.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    code: str = Field(max_length=40, unique=True)
    max_uses: int | None = None  # None: reusable (the promotion's budget still counts)
    used: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class CustomerUsage(SQLModel, table=True):
    """How many times each customer has used a promotion (per-customer limit)."""

    __tablename__ = "promotion_customer_usage"
    __table_args__ = (
        PrimaryKeyConstraint("promotion_id", "customer_id", name="pk_promotion_customer_usage"),
        CheckConstraint("used >= 0", name="used_not_negative"),
    )

    promotion_id: int = Field(
        sa_column=Column(Integer, ForeignKey("promotion.id", ondelete="CASCADE"), nullable=False)
    )
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    used: int = 0


class RedemptionStatus:
    redeemed = "redeemed"
    cancelled = "cancelled"


class Redemption(SQLModel, table=True):
    __tablename__ = "redemption"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=100, unique=True)
    customer_id: str = Field(max_length=100, index=True)
    currency: str = Field(max_length=3)
    subtotal_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    discount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default=RedemptionStatus.redeemed, max_length=20)
    quote: dict[str, Any] = Field(sa_column=Column(JSONColumn, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None


class RedemptionItem(SQLModel, table=True):
    """What one redemption took from one promotion: given back on cancel."""

    __tablename__ = "redemption_item"

    id: int | None = Field(default=None, primary_key=True)
    redemption_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("redemption.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    # RESTRICT: a promotion that was redeemed keeps its history.
    promotion_id: int = Field(
        sa_column=Column(Integer, ForeignKey("promotion.id"), nullable=False, index=True)
    )
    code_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("coupon_code.id"), index=True)
    )
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Whether a per-customer use was taken, so that cancel gives back exactly that.
    customer_counted: bool = False


class PromotionGeneration(SQLModel, table=True):
    """One row (id 1) whose `token` changes, in the same transaction, with
    every change to a promotion: each process caches the promotions for
    quotes and compares this token before pricing, so a change committed by
    any process is seen by the next quote. A random token rather than a
    counter: a rolled-back change must never be mistaken for a later one."""

    __tablename__ = "promotion_generation"

    id: int = Field(default=1, primary_key=True)
    token: str = Field(max_length=32)
