"""Every SQL statement of the promotions domain, the atomic guards included.

The guards are single conditional UPDATEs: the database checks the limit and
takes it in one step, so two orders racing for the last use cannot both win
(on PostgreSQL the second waits for the row lock and re-checks the condition;
SQLite serialises writers). A guard that matched no row means "exhausted".
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import from_json
from sqlalchemy import ColumnElement, Text, and_, bindparam, cast, func, or_, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select

from app.promotions.models import (
    CouponCode,
    CustomerUsage,
    Promotion,
    PromotionBudget,
    PromotionGeneration,
    PromotionScopeKey,
    Redemption,
    RedemptionItem,
    RedemptionStatus,
)


def _insert(session: Session, table):
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


# --- promotions -----------------------------------------------------------------


def get_promotion(session: Session, promotion_id: int) -> Promotion | None:
    return session.get(Promotion, promotion_id)


def get_budget(session: Session, promotion_id: int) -> PromotionBudget | None:
    return session.get(PromotionBudget, promotion_id)


def budgets_of(session: Session, promotion_ids: Iterable[int]) -> dict[int, PromotionBudget]:
    """Budget counters as plain read-only rows, by promotion id."""
    ids = list(promotion_ids)
    if not ids:
        return {}
    table = PromotionBudget.__table__
    rows = session.execute(select(table).where(table.c.promotion_id.in_(ids)))
    return {b.promotion_id: b for b in rows}


def count_codes(session: Session, promotion_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(CouponCode).where(CouponCode.promotion_id == promotion_id)
    ).one()


def replace_scope_keys(session: Session, promotion_id: int, keys: Sequence[tuple[str, str]]):
    session.exec(
        delete(PromotionScopeKey).where(col(PromotionScopeKey.promotion_id) == promotion_id)
    )
    session.add_all(PromotionScopeKey(dim=d, value=v, promotion_id=promotion_id) for d, v in keys)


def candidate_promotions(
    session: Session, *, keys: Sequence[tuple[str, str]], currency: str, at: datetime
) -> list[Promotion]:
    """Automatic promotions in `currency` filed under one of `keys` (the
    cart's, `all` included) whose explicit window has not ended by `at`;
    future ones are kept, so that a quote can say "not active yet"."""
    by_dim: dict[str, list[str]] = {}
    for dim, value in keys:
        by_dim.setdefault(dim, []).append(value)
    k = PromotionScopeKey.__table__.c
    # Two steps, each on a primary key, whatever the planner's statistics
    # say: the ids filed under the cart's keys (one `dim = ? AND value IN
    # (...)` per dimension; a row-value IN makes SQLite scan), then those rows.
    ids = (
        session.execute(
            select(k.promotion_id)
            .where(
                or_(*(and_(k.dim == dim, k.value.in_(values)) for dim, values in by_dim.items()))
            )
            .distinct()
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    p = Promotion.__table__.c
    # Plain rows, not ORM objects: a quote only reads them, and building and
    # tracking a hundred mapped objects per quote costs more than the query.
    statement = select(Promotion.__table__).where(
        p.id.in_(ids),
        p.coupon.is_(False),
        p.currency == currency,
        or_(p.ends_at.is_(None), p.ends_at > at),
    )
    return list(session.execute(statement).all())


def bump_generation(session: Session) -> None:
    """A new freshness token, in the caller's transaction: every process's
    quote cache reloads once this commits (and never, if it rolls back)."""
    table = PromotionGeneration.__table__
    statement = _insert(session, table).values(id=1, token=secrets.token_hex(16))
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.id], set_={"token": statement.excluded.token}
        )
    )


def generation_token(session: Session) -> str:
    """The freshness token as this transaction sees it (one primary-key read)."""
    row = (
        session.connection()
        .exec_driver_sql("SELECT token FROM promotion_generation WHERE id = 1")
        .first()
    )
    return row[0] if row else ""


def promotion_stamps(session: Session) -> dict[int, tuple]:
    """id → (version, created_at as the driver returns it) of every
    promotion: what the quote cache compares to find what changed (the
    version moves with every update; created_at tells a new promotion from
    a deleted one whose id SQLite gave out again)."""
    rows = session.connection().exec_driver_sql("SELECT id, version, created_at FROM promotion")
    return {pid: (version, created) for pid, version, created in rows}


def promotions_by_ids_chunked(session: Session, ids: Sequence[int], chunk: int = 5000) -> list:
    """Plain rows of `ids`, a few thousand per statement."""
    rows: list = []
    for start in range(0, len(ids), chunk):
        rows.extend(promotions_by_ids(session, ids[start : start + chunk]))
    return rows


def limited_budget_ids(session: Session) -> set[int]:
    """Promotions whose budget has a limit (the others are never exhausted)."""
    b = PromotionBudget.__table__.c
    statement = select(b.promotion_id).where(
        or_(b.max_redemptions.is_not(None), b.total_amount_minor.is_not(None))
    )
    return set(session.execute(statement).scalars())


def existing_ids(session: Session, ids: Iterable[int]) -> set[int]:
    ids = list(ids)
    if not ids:
        return set()
    p = Promotion.__table__.c
    return set(session.execute(select(p.id).where(p.id.in_(ids))).scalars())


def promotions_by_ids(session: Session, ids: Iterable[int]) -> list[Promotion]:
    """Plain rows (read-only), like candidate_promotions."""
    ids = list(ids)
    if not ids:
        return []
    table = Promotion.__table__
    return list(session.execute(select(table).where(table.c.id.in_(ids))).all())


class StackingRow(NamedTuple):
    """What the risk check reads of a promotion: its rule, its scope, and
    what its window depends on."""

    id: int
    kind: str
    level: str
    params: dict[str, Any]
    scope: dict[str, Any]
    coupon: bool
    exclusive: bool
    event_id: int | None
    phase: str | None
    starts_at: datetime | None
    ends_at: datetime | None


def stacking_candidates(
    session: Session,
    *,
    currency: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    skus: Collection[str] | None,
    categories: Collection[str] | None,
) -> list[StackingRow]:
    """The promotions in `currency`, by id, whose explicit window (when
    they have one) meets [starts_at, ends_at) and whose scope can meet a
    scope naming `skus` and `categories` (None: any), judged by where they
    are filed: a superset of those that can stack with it (the caller
    decides exactly, and narrows by the effective window). There may be
    100,000 of them: the JSON columns are read as text and parsed by
    pydantic_core, in half the time the column type's json.loads takes."""
    p = Promotion.__table__.c
    statement = (
        select(
            p.id,
            p.kind,
            p.level,
            cast(p.params, Text),
            cast(p.scope, Text),
            p.coupon,
            p.exclusive,
            p.event_id,
            p.phase,
            p.starts_at,
            p.ends_at,
        )
        .where(p.currency == currency)
        .order_by(p.id)
    )
    if ends_at is not None:
        statement = statement.where(or_(p.starts_at.is_(None), p.starts_at < ends_at))
    if starts_at is not None:
        statement = statement.where(or_(p.ends_at.is_(None), p.ends_at > starts_at))
    filed = _filed_where_it_can_meet(skus, categories)
    if filed is not None:
        k = PromotionScopeKey.__table__.c
        statement = statement.where(p.id.in_(select(k.promotion_id).where(filed)))
    return [
        StackingRow(pid, kind, level, from_json(params), from_json(scope), *rest)
        for pid, kind, level, params, scope, *rest in session.execute(statement).all()
    ]


def _filed_where_it_can_meet(
    skus: Collection[str] | None, categories: Collection[str] | None
) -> ColumnElement[bool] | None:
    """Which scope keys a promotion that can stack with a scope naming
    `skus` and `categories` is filed under (None: any). A promotion is filed
    under its SKUs when it names some, else its merchants, categories or
    tiers, else `all`; the risk probes ignore merchants and tiers, so what
    is filed under those (or `all`) can stack with anything; a promotion
    naming SKUs meets a scope naming SKUs only on a shared one, and one
    filed under categories meets a scope naming categories only on a
    shared one."""
    if skus is None and categories is None:
        return None
    k = PromotionScopeKey.__table__.c
    meets_categories = (
        true() if categories is None else or_(k.dim != "category", k.value.in_(sorted(categories)))
    )
    if skus is None:
        return meets_categories
    return or_(
        and_(k.dim == "sku", k.value.in_(sorted(skus))), and_(k.dim != "sku", meets_categories)
    )


def promotions_of_event(session: Session, event_id: int) -> list[Promotion]:
    return list(
        session.exec(select(Promotion).where(Promotion.event_id == event_id).order_by(Promotion.id))
    )


def has_redemptions(session: Session, promotion_id: int) -> bool:
    return (
        session.exec(
            select(RedemptionItem.id).where(RedemptionItem.promotion_id == promotion_id).limit(1)
        ).first()
        is not None
    )


def customer_usage(
    session: Session, customer_id: str, promotion_ids: Iterable[int]
) -> dict[int, int]:
    ids = list(promotion_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(CustomerUsage.promotion_id, CustomerUsage.used).where(
            CustomerUsage.customer_id == customer_id, col(CustomerUsage.promotion_id).in_(ids)
        )
    )
    return dict(rows.all())


# --- codes ----------------------------------------------------------------------


def codes_by_text(session: Session, codes: Iterable[str]) -> dict[str, CouponCode]:
    texts = list(codes)
    if not texts:
        return {}
    rows = session.exec(select(CouponCode).where(col(CouponCode.code).in_(texts)))
    return {c.code: c for c in rows}


def insert_codes(
    session: Session, *, promotion_id: int, codes: Sequence[str], max_uses: int | None, at
) -> None:
    """Insert `codes`, silently skipping any that already exist (the caller
    counts and tops up). The codes travel as one array (PostgreSQL) or one
    JSON text (SQLite) per chunk and are unpacked by the database: one small
    statement and one round trip per 50,000 codes."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        source = "unnest(CAST(:codes AS text[])) AS c(value)"
    else:
        source = "json_each(:codes) AS c WHERE true"  # WHERE: SQLite's upsert parse rule
    statement = text(
        "INSERT INTO coupon_code (promotion_id, code, max_uses, used, created_at) "
        f"SELECT :promotion_id, c.value, :max_uses, 0, :at FROM {source} "
        "ON CONFLICT (code) DO NOTHING"
    ).bindparams(bindparam("at", type_=CouponCode.__table__.c.created_at.type))
    chunk = 50_000
    for start in range(0, len(codes), chunk):
        part = list(codes[start : start + chunk])
        session.execute(
            statement,
            {
                "promotion_id": promotion_id,
                "max_uses": max_uses,
                "at": at,
                "codes": part if dialect == "postgresql" else json.dumps(part),
            },
        )


def codes_statement(promotion_id: int):
    return select(CouponCode).where(CouponCode.promotion_id == promotion_id)


def iter_codes(session: Session, promotion_id: int, batch: int = 20_000):
    """Every code of a promotion in id order, as plain rows (code, max_uses,
    used, created_at), fetched in keyset batches: no ORM objects, so an
    export of hundreds of thousands stays quick and flat in memory."""
    c = CouponCode.__table__.c
    last = 0
    while True:
        rows = session.execute(
            select(c.id, c.code, c.max_uses, c.used, c.created_at)
            .where(c.promotion_id == promotion_id, c.id > last)
            .order_by(c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


# --- the guards -------------------------------------------------------------------


def take_budget(session: Session, promotion_id: int, amount: int) -> bool:
    """One more redemption and `amount` more spent, if both limits allow."""
    b = PromotionBudget
    result = session.execute(
        update(b)
        .where(
            b.promotion_id == promotion_id,
            or_(col(b.max_redemptions).is_(None), col(b.redemptions) < col(b.max_redemptions)),
            or_(
                col(b.total_amount_minor).is_(None),
                col(b.spent_minor) + amount <= col(b.total_amount_minor),
            ),
        )
        .values(redemptions=col(b.redemptions) + 1, spent_minor=col(b.spent_minor) + amount)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def give_back_budget(session: Session, promotion_id: int, amount: int) -> None:
    b = PromotionBudget
    session.execute(
        update(b)
        .where(b.promotion_id == promotion_id)
        .values(redemptions=col(b.redemptions) - 1, spent_minor=col(b.spent_minor) - amount)
        .execution_options(synchronize_session=False)
    )


def take_customer_use(session: Session, promotion_id: int, customer_id: str, limit: int) -> bool:
    """One more use by this customer, if under `limit`."""
    session.execute(
        _insert(session, CustomerUsage.__table__)
        .values(promotion_id=promotion_id, customer_id=customer_id, used=0)
        .on_conflict_do_nothing()
    )
    u = CustomerUsage
    result = session.execute(
        update(u)
        .where(u.promotion_id == promotion_id, u.customer_id == customer_id, col(u.used) < limit)
        .values(used=col(u.used) + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def give_back_customer_use(session: Session, promotion_id: int, customer_id: str) -> None:
    u = CustomerUsage
    session.execute(
        update(u)
        .where(u.promotion_id == promotion_id, u.customer_id == customer_id, col(u.used) > 0)
        .values(used=col(u.used) - 1)
        .execution_options(synchronize_session=False)
    )


def take_code_use(session: Session, code_id: int) -> bool:
    c = CouponCode
    result = session.execute(
        update(c)
        .where(c.id == code_id, or_(col(c.max_uses).is_(None), col(c.used) < col(c.max_uses)))
        .values(used=col(c.used) + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def give_back_code_use(session: Session, code_id: int) -> None:
    c = CouponCode
    session.execute(
        update(c)
        .where(c.id == code_id, col(c.used) > 0)
        .values(used=col(c.used) - 1)
        .execution_options(synchronize_session=False)
    )


# --- redemptions ------------------------------------------------------------------


def get_redemption(session: Session, redemption_id: int) -> Redemption | None:
    return session.get(Redemption, redemption_id)


def redemption_by_order(session: Session, order_id: str) -> Redemption | None:
    return session.exec(select(Redemption).where(Redemption.order_id == order_id)).first()


def items_of(session: Session, redemption_id: int) -> list[RedemptionItem]:
    return list(
        session.exec(select(RedemptionItem).where(RedemptionItem.redemption_id == redemption_id))
    )


def mark_cancelled(session: Session, redemption_id: int, at: datetime) -> bool:
    """redeemed → cancelled, once: False when someone cancelled it first."""
    r = Redemption
    result = session.execute(
        update(r)
        .where(and_(r.id == redemption_id, r.status == RedemptionStatus.redeemed))
        .values(status=RedemptionStatus.cancelled, cancelled_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
