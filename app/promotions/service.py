"""Use cases of the promotions domain.

The first functions are the promotions domain's contract with the others
(launches): keep their names and signatures.

When a promotion tied to an event counts as active:
- pricing now (no `at`): only while the event is `live`, inside the
  promotion's window (its own, else its phase's, else the event's);
- previewing another moment (`at` given): a `scheduled` or `live` event
  counts as if live at that moment — a scheduled event will launch on its
  own, which is what a planner previewing a phase wants to see; a draft,
  ended or cancelled event does not.
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import io
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, select

from app import audit, signals
from app.auth import Principal
from app.calendar import service as calendar_service
from app.config import get_settings
from app.db import get_engine, session_scope
from app.errors import ValidationProblem
from app.gates import GateResult
from app.pagination import Page, PageParams, paginate
from app.promotions import engine, repository
from app.promotions import risk as stacks
from app.promotions.errors import (
    LimitExhausted,
    OrderAlreadyRedeemed,
    PromotionInUse,
    PromotionNotFound,
    RedemptionNotCancellable,
    RedemptionNotFound,
    RiskFloorBroken,
)
from app.promotions.models import (
    CouponCode,
    Promotion,
    PromotionBudget,
    Redemption,
    RedemptionItem,
    RedemptionStatus,
)
from app.promotions.schemas import (
    AppliedRead,
    BudgetRead,
    CodeRead,
    CodesCreate,
    CodesCreated,
    DepthRead,
    NotAppliedRead,
    PromotionCreate,
    PromotionRead,
    PromotionUpdate,
    QuoteRead,
    QuoteRequest,
    RedemptionCreate,
    RedemptionRead,
    RiskRead,
)
from app.slots import service as slots_service
from app.types import as_utc, utcnow
from app.versioning import check_version

log = logging.getLogger("promoplan.promotions")

DEFAULT_TZ = "Asia/Shanghai"
# Easy to read aloud: no 0/O, no 1/I. 32 symbols, 5 random bits each.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LIMIT_REASONS = {
    engine.Reason.budget_exhausted,
    engine.Reason.customer_limit,
    engine.Reason.code_exhausted,
}

# --- contract with other domains -------------------------------------------


def launch_gate(session: Session, *, event_id: int) -> GateResult:
    """The event's promotions stay under the risk floor, stacked with
    everything that can be active beside them."""
    promotions = repository.promotions_of_event(session, event_id)
    if not promotions:
        return GateResult("risk", passed=True, applies=False, detail="no promotions")
    floor = get_settings().risk_floor_bp
    context = _Context(session)
    for promotion in promotions:
        worst = _worst(session, context, promotion)
        if worst is not None and worst.depth_bp > floor:
            return GateResult(
                "risk",
                passed=False,
                applies=True,
                detail=f"promotion {promotion.id} ({promotion.name}): {_describe(worst)} "
                f"goes deeper than the floor of {floor / 100:g} % off",
            )
    return GateResult(
        "risk",
        passed=True,
        applies=True,
        detail=f"{len(promotions)} promotion(s) stay within {floor / 100:g} % off stacked",
    )


# --- events and windows --------------------------------------------------------------


class _Context:
    """Events and phases looked up once per use case."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._events: dict[int, Any] = {}
        self._phases: dict[int, dict[str, Any]] = {}

    def event(self, event_id: int):
        if event_id not in self._events:
            self._events[event_id] = calendar_service.get(self.session, event_id=event_id)
        return self._events[event_id]

    def phases(self, event_id: int) -> dict[str, Any]:
        if event_id not in self._phases:
            self._phases[event_id] = {
                p.key: p for p in calendar_service.list_phases(self.session, event_id=event_id)
            }
        return self._phases[event_id]

    def window(self, promotion: Promotion) -> tuple[datetime | None, datetime | None]:
        """The effective window: its own, else its phase's, else its event's."""
        starts, ends = promotion.starts_at, promotion.ends_at
        if promotion.event_id is None:
            return starts, ends
        event = self.event(promotion.event_id)
        if event is None:
            return starts, ends
        phase = self.phases(event.id).get(promotion.phase) if promotion.phase else None
        outer = (phase.starts_at, phase.ends_at) if phase else (event.starts_at, event.ends_at)
        return starts or outer[0], ends or outer[1]


def _event_block(context: _Context, promotion: Promotion, preview: bool) -> str | None:
    if promotion.event_id is None:
        return None
    event = context.event(promotion.event_id)
    if event is None:
        return "its event no longer exists"
    counted = {"live", "scheduled"} if preview else {"live"}
    if event.status not in counted:
        return f"event {event.id} ({event.name}) is {event.status}, not live"
    return None


# --- promotions -------------------------------------------------------------------


def get(session: Session, *, promotion_id: int) -> Promotion | None:
    return repository.get_promotion(session, promotion_id)


def get_or_raise(session: Session, *, promotion_id: int) -> Promotion:
    promotion = repository.get_promotion(session, promotion_id)
    if promotion is None:
        raise PromotionNotFound(f"no promotion {promotion_id}")
    return promotion


def to_read(session: Session, promotion: Promotion) -> PromotionRead:
    budget = repository.get_budget(session, promotion.id)
    if budget is not None:
        session.refresh(budget)  # the guards update it behind the ORM's back
    return PromotionRead(
        id=promotion.id,
        name=promotion.name,
        event_id=promotion.event_id,
        phase=promotion.phase,
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        currency=promotion.currency,
        kind=promotion.kind,
        level=promotion.level,
        params=promotion.params,
        scope=promotion.scope,
        coupon=promotion.coupon,
        exclusive=promotion.exclusive,
        budget=BudgetRead(
            total_amount=budget.total_amount_minor if budget else None,
            max_redemptions=budget.max_redemptions if budget else None,
            per_customer=promotion.per_customer,
            redemptions=budget.redemptions if budget else 0,
            spent=budget.spent_minor if budget else 0,
        ),
        description=promotion.description,
        codes=repository.count_codes(session, promotion.id),
        created_at=promotion.created_at,
        updated_at=promotion.updated_at,
        version=promotion.version,
    )


def list(
    session: Session,
    *,
    page: PageParams,
    event_id: int | None = None,
    level: str | None = None,
    coupon: bool | None = None,
) -> Page[PromotionRead]:
    statement = select(Promotion)
    if event_id is not None:
        statement = statement.where(Promotion.event_id == event_id)
    if level is not None:
        statement = statement.where(Promotion.level == level)
    if coupon is not None:
        statement = statement.where(Promotion.coupon == coupon)
    return paginate(
        session,
        statement,
        page,
        order_by=[col(Promotion.id)],
        key=lambda p: [p.id],
        to_item=lambda p: to_read(session, p),
    )


def create(
    session: Session, *, data: PromotionCreate, actor: Principal, force: bool = False
) -> Promotion:
    context = _Context(session)
    scope = data.scope.model_dump(exclude_none=True) if data.scope else {}
    starts_at, ends_at = _check_window(
        context, data.event_id, data.phase, data.starts_at, data.ends_at
    )
    _check_rule(data.kind, data.level, data.params, data.currency, data.coupon, scope)
    _check_merchants(session, scope)
    budget = data.budget
    promotion = Promotion(
        name=data.name,
        event_id=data.event_id,
        phase=data.phase,
        starts_at=starts_at,
        ends_at=ends_at,
        currency=data.currency,
        kind=data.kind,
        level=data.level,
        params=data.params,
        scope=scope,
        coupon=data.coupon,
        exclusive=data.exclusive,
        per_customer=budget.per_customer if budget else None,
        description=data.description,
    )
    session.add(promotion)
    session.flush()
    session.add(
        PromotionBudget(
            promotion_id=promotion.id,
            max_redemptions=budget.max_redemptions if budget else None,
            total_amount_minor=budget.total_amount if budget else None,
        )
    )
    repository.replace_scope_keys(session, promotion.id, scope_keys(scope))
    _changed(session)
    session.flush()
    _guard_risk(session, context, promotion, force)
    audit.record(
        session,
        actor=actor,
        action="promotion.create",
        resource_type="promotion",
        resource_id=promotion.id,
        after=to_read(session, promotion),
    )
    return promotion


def update(
    session: Session,
    *,
    promotion_id: int,
    data: PromotionUpdate,
    actor: Principal,
    if_match: str | None = None,
    force: bool = False,
) -> Promotion:
    promotion = get_or_raise(session, promotion_id=promotion_id)
    check_version(promotion.version, if_match)
    before = to_read(session, promotion)
    context = _Context(session)
    given = data.model_fields_set
    phase = data.phase if "phase" in given else promotion.phase
    starts = data.starts_at if "starts_at" in given else promotion.starts_at
    ends = data.ends_at if "ends_at" in given else promotion.ends_at
    starts, ends = _check_window(context, promotion.event_id, phase, starts, ends)
    params = data.params if data.params is not None else promotion.params
    scope = (
        data.scope.model_dump(exclude_none=True)
        if "scope" in given and data.scope
        else ({} if "scope" in given else promotion.scope)
    )
    _check_rule(
        promotion.kind, promotion.level, params, promotion.currency, promotion.coupon, scope
    )
    if "scope" in given:  # merchants gone since do not block other changes
        _check_merchants(session, scope)
    promotion.phase, promotion.starts_at, promotion.ends_at = phase, starts, ends
    promotion.params, promotion.scope = params, scope
    if data.name is not None:
        promotion.name = data.name
    if "description" in given:
        promotion.description = data.description
    if data.exclusive is not None:
        promotion.exclusive = data.exclusive
    if "budget" in given:
        _set_budget(session, promotion, data.budget)
    promotion.updated_at = utcnow()
    session.add(promotion)
    repository.replace_scope_keys(session, promotion.id, scope_keys(scope))
    _changed(session)
    session.flush()
    _guard_risk(session, context, promotion, force)
    audit.record(
        session,
        actor=actor,
        action="promotion.update",
        resource_type="promotion",
        resource_id=promotion.id,
        before=before,
        after=to_read(session, promotion),
    )
    return promotion


@signals.event_shifted.connect
def _follow_the_shifted_event(
    session: Session, *, event: Any, move: Callable[[datetime], datetime], actor: Principal | str
) -> None:
    """A shift moves an event "with everything in it": a promotion with its
    own window inside the event moves by the same wall-clock amount (one tied
    to a phase or to the whole event follows it already). Then the event's
    promotions face the risk floor again (see `_report_broken_floors`)."""
    promotions = repository.promotions_of_event(session, event.id)
    moved = [p for p in promotions if p.starts_at is not None or p.ends_at is not None]
    if moved:
        _move_windows(session, event, moved, move, actor)
    _report_broken_floors(session, event, promotions, actor)


def _move_windows(
    session: Session,
    event: Any,
    moved: list[Promotion],
    move: Callable[[datetime], datetime],
    actor: Principal | str,
) -> None:
    now = utcnow()

    def inside(value: datetime | None) -> datetime | None:
        # A wall time in a spring-forward gap moves by an hour more than its
        # neighbours: keep the window inside the event it belongs to.
        return min(max(move(value), event.starts_at), event.ends_at) if value else None

    for promotion in moved:
        before = to_read(session, promotion)
        promotion.starts_at, promotion.ends_at = (
            inside(promotion.starts_at),
            inside(promotion.ends_at),
        )
        promotion.updated_at = now
        session.add(promotion)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="promotion.update",
            resource_type="promotion",
            resource_id=promotion.id,
            before=before,
            after={**to_read(session, promotion).model_dump(mode="json"), "moved_with": "shift"},
        )
    _changed(session)


def _report_broken_floors(
    session: Session, event: Any, promotions: list[Promotion], actor: Principal | str
) -> None:
    """Moving together, an event's promotions cannot start stacking with
    each other, but they can with promotions outside the event. The shift
    stands all the same — it is the calendar's move, a promotion's guard
    has no say in it, and the launch's risk gate still stops a breaking
    stack from going live — but each of the event's promotions that now
    breaks the floor is put on record (audit `promotion.risk_floor_broken`,
    with the combination, as a refused change would have shown it) and in
    the log."""
    floor = get_settings().risk_floor_bp
    context = _Context(session)
    for promotion in promotions:
        worst = _worst(session, context, promotion)
        if worst is None or worst.depth_bp <= floor:
            continue
        detail = (
            f"after event {event.id} ({event.name}) was shifted, {_describe(worst)}, "
            f"deeper than the floor of {floor / 100:g} % off"
        )
        log.warning("promotion %s: %s", promotion.id, detail)
        audit.record(
            session,
            actor=actor,
            action="promotion.risk_floor_broken",
            resource_type="promotion",
            resource_id=promotion.id,
            after={
                "detail": detail,
                "event_id": event.id,
                "floor_bp": floor,
                "combination": _combination(worst),
            },
        )


def _set_budget(session: Session, promotion: Promotion, budget) -> None:
    """PATCH semantics: the limits named in `budget` change, the others stay
    (lifting a spend limit by leaving it out would be a costly surprise);
    `"budget": null` lifts them all."""
    row = repository.get_budget(session, promotion.id)
    session.refresh(row)
    sent = budget.model_fields_set if budget is not None else set()
    if budget is None:
        max_redemptions = total = per_customer = None
    else:
        max_redemptions = (
            budget.max_redemptions if "max_redemptions" in sent else row.max_redemptions
        )
        total = budget.total_amount if "total_amount" in sent else row.total_amount_minor
        per_customer = budget.per_customer if "per_customer" in sent else promotion.per_customer
    errors = []
    if max_redemptions is not None and max_redemptions < row.redemptions:
        errors.append(
            (["body", "budget", "max_redemptions"], f"already redeemed {row.redemptions} times")
        )
    if total is not None and total < row.spent_minor:
        errors.append((["body", "budget", "total_amount"], f"already spent {row.spent_minor}"))
    if errors:
        raise ValidationProblem(errors)
    row.max_redemptions, row.total_amount_minor = max_redemptions, total
    promotion.per_customer = per_customer
    session.add(row)


def delete(
    session: Session, *, promotion_id: int, actor: Principal, if_match: str | None = None
) -> None:
    promotion = get_or_raise(session, promotion_id=promotion_id)
    check_version(promotion.version, if_match)
    if repository.has_redemptions(session, promotion_id):
        raise PromotionInUse(
            f"promotion {promotion_id} has redemptions; it keeps its history "
            "(end it with `ends_at` instead)"
        )
    before = to_read(session, promotion)
    session.delete(promotion)
    _changed(session)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="promotion.delete",
        resource_type="promotion",
        resource_id=promotion_id,
        before=before,
    )


def scope_keys(scope: dict[str, Any]) -> list[tuple[str, str]]:
    """The scope index entries of a promotion (see engine.scope_keys)."""
    return engine.scope_keys(engine.Scope.from_dict(scope))


def _check_window(
    context: _Context,
    event_id: int | None,
    phase: str | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    """Read naive times in the event's zone; refuse a window that cannot be."""
    event = context.event(event_id) if event_id is not None else None
    if event_id is not None and event is None:
        raise ValidationProblem([(["body", "event_id"], f"no event {event_id}")])
    tz = event.timezone if event is not None else DEFAULT_TZ
    starts_at = as_utc(starts_at, tz) if starts_at else None
    ends_at = as_utc(ends_at, tz) if ends_at else None
    errors: list[tuple[list[str], str]] = []
    if starts_at and ends_at and starts_at >= ends_at:
        errors.append((["body", "ends_at"], "must be after starts_at"))
    if phase is not None:
        if event is None:
            errors.append((["body", "phase"], "a phase needs an event_id"))
        else:
            phases = context.phases(event.id)
            if phase not in phases:
                known = ", ".join(sorted(phases)) or "none"
                errors.append(
                    (["body", "phase"], f"event {event.id} has no phase {phase!r} ({known})")
                )
            elif starts_at or ends_at:
                errors.append((["body", "phase"], "give a phase or a window, not both"))
    if event is not None and not errors:
        for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value is not None and not event.starts_at <= value <= event.ends_at:
                errors.append(
                    (
                        ["body", name],
                        f"outside event {event.id}'s window "
                        f"{event.starts_at.isoformat()} – {event.ends_at.isoformat()}",
                    )
                )
    if errors:
        raise ValidationProblem(errors)
    return starts_at, ends_at


def _check_rule(kind, level, params, currency, coupon, scope) -> None:
    errors = engine.check_rule(kind, level, params, currency, coupon, engine.Scope.from_dict(scope))
    if errors:
        raise ValidationProblem([(["body", *loc], msg) for loc, msg in errors])


def _check_merchants(session: Session, scope: dict[str, Any]) -> None:
    """A scope names merchants that exist: a typo would otherwise make a
    promotion that silently never applies."""
    named = sorted(set(scope.get("merchants") or ()))
    known = slots_service.merchant_tiers(session, merchant_ids=named)
    missing = [m for m in named if m not in known]
    if missing:
        raise ValidationProblem(
            f"no merchant {', '.join(str(m) for m in missing)}", loc=["body", "scope", "merchants"]
        )


# --- risk -------------------------------------------------------------------------


def risk(session: Session, *, promotion_id: int, limit: int = 100) -> RiskRead:
    """The deepest `limit` rows (a store-wide promotion among thousands of
    SKU promotions reaches hundreds of thousands), with the counts of all."""
    promotion = get_or_raise(session, promotion_id=promotion_id)
    floor = get_settings().risk_floor_bp
    depths = _depths(session, _Context(session), promotion)
    breaking = sum(1 for d in depths if d.depth_bp > floor)
    return RiskRead(
        promotion_id=promotion.id,
        floor_bp=floor,
        breaks=breaking > 0,
        rows=len(depths),
        breaking_rows=breaking,
        worst=[
            DepthRead(
                category=d.probe.category or "*",
                sku=d.probe.sku or "*",
                depth_bp=d.depth_bp,
                promotion_ids=d.promotion_ids,
                breaks=d.depth_bp > floor,
            )
            for d in depths[:limit]
        ],
    )


def _depths(session: Session, context: _Context, promotion: Promotion) -> list[engine.Depth]:
    """Worst stacked depth per category/SKU, with every promotion that can
    stack with this one (see `_stack`)."""
    return stacks.risk(*_stack(session, context, promotion))


def _stack(
    session: Session, context: _Context, promotion: Promotion
) -> tuple[stacks.Stacker, list[stacks.Stacker]]:
    """The promotion as the risk check reads it, and, by id, every promotion
    that can stack with it: whose scope can meet its scope (filed under keys
    it can meet, then `stacks.can_stack`) and that can be active at the same
    moment (overlapping windows, same currency, not in an ended or cancelled
    event). Only those are loaded, not every promotion in the window."""
    target = stacks.Stacker.of_row(promotion)
    starts, ends = context.window(promotion)
    others = []
    for row in repository.stacking_candidates(
        session,
        currency=promotion.currency,
        starts_at=starts,
        ends_at=ends,
        skus=target.skus,
        categories=target.categories,
    ):
        if row.id == promotion.id or _over(context, row):
            continue
        other = stacks.Stacker.of_row(row)
        if not stacks.can_stack(target, other):
            continue
        o_starts, o_ends = context.window(row)
        if (o_starts is None or ends is None or o_starts < ends) and (
            o_ends is None or starts is None or o_ends > starts
        ):
            others.append(other)
    return target, others


def _over(context: _Context, promotion: Promotion) -> bool:
    if promotion.event_id is None:
        return False
    event = context.event(promotion.event_id)
    return event is None or event.status in {"ended", "cancelled"}


def _worst(session: Session, context: _Context, promotion: Promotion) -> engine.Depth | None:
    return stacks.worst(*_stack(session, context, promotion))


def _describe(depth: engine.Depth) -> str:
    where = f"category {depth.probe.category or '*'}, SKU {depth.probe.sku or '*'}"
    stack = " + ".join(str(i) for i in depth.promotion_ids)
    return f"promotions {stack} stacked take {depth.depth_bp / 100:g} % off ({where})"


def _guard_risk(session: Session, context: _Context, promotion: Promotion, force: bool) -> None:
    if force:
        return
    floor = get_settings().risk_floor_bp
    worst = _worst(session, context, promotion)
    if worst is not None and worst.depth_bp > floor:
        raise RiskFloorBroken(
            f"{_describe(worst)}, deeper than the floor of {floor / 100:g} % off; "
            "change the promotion or send ?force=true",
            floor_bp=floor,
            combination=_combination(worst),
        )


def _combination(depth: engine.Depth) -> dict[str, Any]:
    """A stack as a refusal (409) or a record shows it."""
    return {
        "promotion_ids": depth.promotion_ids,
        "category": depth.probe.category or "*",
        "sku": depth.probe.sku or "*",
        "depth_bp": depth.depth_bp,
    }


# --- coupon codes ----------------------------------------------------------------


def generate_codes(
    session: Session, *, promotion_id: int, data: CodesCreate, actor: Principal
) -> CodesCreated:
    """`count` new unique codes: random (5 bits a symbol from a secrets
    source, so not sequential and not guessable), inserted in bulk; the
    unique index settles collisions and the shortfall is drawn again."""
    promotion = get_or_raise(session, promotion_id=promotion_id)
    if not promotion.coupon:
        raise ValidationProblem(
            f"promotion {promotion_id} is automatic (coupon: false); codes need a coupon",
            loc=["path", "promotion_id"],
        )
    before = repository.count_codes(session, promotion_id)
    now = utcnow()
    sample: list[str] = []
    made = 0
    for _attempt in range(5):
        codes = new_codes(data.count - made, prefix=data.prefix or "", length=data.length)
        sample = sample or codes[:10]
        repository.insert_codes(
            session, promotion_id=promotion_id, codes=codes, max_uses=data.uses_per_code, at=now
        )
        made = repository.count_codes(session, promotion_id) - before
        if made >= data.count:
            break
    audit.record(
        session,
        actor=actor,
        action="promotion.codes",
        resource_type="promotion",
        resource_id=promotion_id,
        after={"created": made, "uses_per_code": data.uses_per_code, "prefix": data.prefix},
    )
    return CodesCreated(promotion_id=promotion_id, created=made, total=before + made, sample=sample)


def new_codes(count: int, *, prefix: str, length: int) -> list[str]:
    """`count` distinct random codes over CODE_ALPHABET: each random byte
    from `secrets` maps to one of the 32 symbols (256 = 8 × 32, so every
    symbol is equally likely), translated in C rather than symbol by symbol."""
    codes: set[str] = set()
    while len(codes) < count:
        missing = count - len(codes)
        raw = secrets.token_bytes(missing * length).translate(_BYTE_TO_SYMBOL).decode()
        codes.update(prefix + raw[i : i + length] for i in range(0, len(raw), length))
    return [*codes][:count]


_BYTE_TO_SYMBOL = bytes(ord(CODE_ALPHABET[b % 32]) for b in range(256))


def list_codes(session: Session, *, promotion_id: int, page: PageParams) -> Page[CodeRead]:
    get_or_raise(session, promotion_id=promotion_id)
    return paginate(
        session,
        repository.codes_statement(promotion_id),
        page,
        order_by=[col(CouponCode.id)],
        key=lambda c: [c.id],
        to_item=_code_read,
    )


def codes_csv(session: Session, *, promotion_id: int) -> str:
    get_or_raise(session, promotion_id=promotion_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["code", "uses_per_code", "used", "created_at"])
    writer.writerows(
        (row.code, row.max_uses or "", row.used, row.created_at.isoformat())
        for row in repository.iter_codes(session, promotion_id)
    )
    return out.getvalue()


def _code_read(code: CouponCode) -> CodeRead:
    return CodeRead(
        code=code.code, uses_per_code=code.max_uses, used=code.used, created_at=code.created_at
    )


# --- quotes -----------------------------------------------------------------------


@dataclass
class _Priced:
    result: engine.Priced
    at: datetime
    codes: dict[str, CouponCode]
    promotions: dict[int, Promotion]


def quote(session: Session, *, data: QuoteRequest) -> QuoteRead:
    """Price a cart from the process's promotion cache (checked fresh first:
    one primary-key read); what changes per order (budget counters, customer
    usage, codes, events) is read from the database for the promotions the
    cart touches."""
    priced = _price_cached(session, data, trusted_snapshot(session) or snapshot(session))
    return _quote_read(data.currency, priced)


def quote_json(session: Session, *, data: QuoteRequest, cache: _Snapshot) -> bytes:
    """`quote` as the JSON body of its answer, from a cache `fresh_snapshot`
    or `snapshot` gave for this session. The answer is built from the
    engine's own values without validating them again (the hot path of the
    quote route): the same JSON as `quote(...).model_dump_json()`."""
    priced = _price_cached(session, data, cache)
    result = priced.result
    # Keys in QuoteRead's field order; pydantic_core writes the datetime as
    # the model would.
    return pydantic_core.to_json(
        {
            "currency": data.currency,
            "at": priced.at,
            "subtotal": result.subtotal,
            "discount": result.discount,
            "total": result.total,
            "applied": [
                {
                    "promotion_id": a.promotion_id,
                    "code": a.code,
                    "level": a.level,
                    "amount": a.amount,
                    "lines": a.lines,
                }
                for a in result.applied
            ],
            "not_applied": [
                {
                    "promotion_id": n.promotion_id,
                    "code": n.code,
                    "reason": n.reason,
                    "detail": n.detail,
                    "short_by": n.short_by,
                    "by": n.by,
                }
                for n in result.not_applied
            ],
            "line_totals": result.line_totals,
            "combinations_priced": result.searched,
        }
    )


# --- the quote cache ------------------------------------------------------------------
#
# Every process keeps the promotions (rules, scopes, windows, which budgets
# have limits) and their scope index in memory, per database, labelled with
# the `promotion_generation` token it was loaded at. Every change to a
# promotion writes a new random token in its own transaction, so a quote
# that reads the committed token and finds its cache labelled otherwise
# reloads first: a change committed by any process is seen by the next
# quote anywhere. What the token does not cover is read per quote, for the
# promotions the cart touches only: budget counters and per-customer usage
# (they move with every order), coupon codes, the events (status, windows,
# phases: the calendar's) and whether an event-tied promotion still exists
# (deleting an event deletes its promotions without passing through here).
# Redemptions do not use the cache: they price from the database.


@dataclass(frozen=True, slots=True)
class _Cached:
    row: Any  # the promotion as a plain, read-only row
    offer: engine.Offer  # as priced when nothing per-quote blocks it
    limited: bool  # its budget has a limit: read the counters per quote
    # The row's facts a quote reads, copied out of the row once (a row's
    # attribute access costs more than a slot's).
    ends_at: datetime | None
    event_id: int | None
    # Nothing read per quote can change its offer (no event, no budget limit,
    # no customer limit): the cached offer prices as it is.
    static: bool


def _cached(row: Any, limited: bool) -> _Cached:
    offer = engine.Offer(
        id=row.id,
        kind=row.kind,
        level=row.level,
        params=row.params,
        scope=engine.Scope.from_dict(row.scope),
        coupon=row.coupon,
        exclusive=row.exclusive,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        name=row.name,
    )
    static = row.event_id is None and not limited and not row.per_customer
    return _Cached(row, offer, limited, row.ends_at, row.event_id, static)


class _Snapshot:
    """Every promotion of one database at one token, and the scope index of
    the automatic ones per currency. Never changed once built: a refresh
    makes a new one from the old, reading again only what changed."""

    def __init__(
        self,
        token: str,
        by_id: dict[int, _Cached],
        stamps: dict[int, tuple],
        index: dict[str, engine.OfferIndex],
    ) -> None:
        self.token, self.by_id, self.stamps, self.index = token, by_id, stamps, index
        # Until then (time.monotonic()) quotes use it without reading the token.
        self.trusted_until = 0.0
        # Whether any scope names merchant tiers (else a quote need not look them up).
        self.tiered = any(e.offer.scope.tiers is not None for e in by_id.values())
        # Whether pricing from it may read the database (tiers, budgets,
        # customer limits, events): then a quote must not run on the event loop.
        self.reads_database = self.tiered or not all(e.static for e in by_id.values())

    @classmethod
    def load(cls, session: Session, token: str, old: _Snapshot | None) -> _Snapshot:
        stamps = repository.promotion_stamps(session)
        limited = repository.limited_budget_ids(session)
        previous = old.by_id if old is not None else {}
        old_stamps = old.stamps if old is not None else {}
        changed = [
            pid
            for pid, stamp in stamps.items()
            if old_stamps.get(pid) != stamp or previous[pid].limited != (pid in limited)
        ]
        gone = [pid for pid in old_stamps if pid not in stamps]
        by_id = dict(previous)
        for pid in gone:
            del by_id[pid]
        fresh = [
            _cached(row, row.id in limited)
            for row in repository.promotions_by_ids_chunked(session, changed)
        ]
        # A row changed or deleted after the stamps were read: drop it, the
        # next token will bring it back.
        read = {e.row.id for e in fresh}
        for pid in changed:
            if pid not in read:
                by_id.pop(pid, None)
                stamps.pop(pid, None)
        for entry in fresh:
            by_id[entry.row.id] = entry
        outgoing = [previous[pid] for pid in [*gone, *changed] if pid in previous]
        index = dict(old.index) if old is not None else {}
        currencies = {e.row.currency for e in [*fresh, *outgoing] if not e.row.coupon}
        for currency in currencies:
            leaving = [e.offer for e in outgoing if e.row.currency == currency and not e.row.coupon]
            coming = [e.offer for e in fresh if e.row.currency == currency and not e.row.coupon]
            base = index.get(currency)
            index[currency] = (
                base.replaced(leaving, coming) if base is not None else engine.OfferIndex(coming)
            )
        return cls(token, by_id, stamps, index)


_snapshots: dict[Any, _Snapshot] = {}
_reload = threading.Lock()
# Bumped whenever this process changes a promotion: a token read before the
# bump cannot make a cache trusted after it.
_epoch = 0
_CHANGING = "promotions.changing"


def _cache_key(session: Session) -> Any:
    bind = session.get_bind()
    return getattr(bind, "engine", bind).url


def _distrust_caches() -> None:
    global _epoch
    _epoch += 1
    for snap in tuple(_snapshots.values()):
        snap.trusted_until = 0.0


def _changed(session: Session) -> None:
    """A promotion changes in this transaction: a new token for every
    process, and this process reads the token again on every quote until
    the transaction ends (then once more: it may have committed)."""
    repository.bump_generation(session)
    _distrust_caches()
    session.info[_CHANGING] = True
    if not event.contains(session, "after_transaction_end", _transaction_ended):
        event.listen(session, "after_transaction_end", _transaction_ended)


def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None and session.info.pop(_CHANGING, None):
        _distrust_caches()


def _may_vouch(session: Session) -> bool:
    """Whether what this session reads is what every other session reads
    once it ends: not while it changes promotions itself, nor when it is
    bound to a connection whose outer transaction it does not control."""
    return not session.info.get(_CHANGING) and isinstance(session.bind, Engine)


def _vouch(session: Session, snap: _Snapshot, epoch: int) -> None:
    """Trust `snap` for `quote_cache_seconds` without reading the token."""
    if epoch == _epoch and _may_vouch(session):
        snap.trusted_until = time.monotonic() + get_settings().quote_cache_seconds


def trusted_snapshot(session: Session) -> _Snapshot | None:
    """The cache when it is trusted for this session (no query), else None:
    then `snapshot` checks its token (one primary-key read) or refreshes it.

    When the trust merely runs out, the quote that notices it is the one to
    check, and quotes arriving meanwhile go on with the cache: were they all
    to check at once, on SQLite they would queue for the write lock, each
    waiting out the busy handler's back-off (hundreds of ms every period).
    A cache distrusted by a change made here is checked by every quote."""
    current = _snapshots.get(_cache_key(session))
    if current is None or not _may_vouch(session):
        return None
    now = time.monotonic()
    if current.trusted_until > now:
        return current
    if current.trusted_until > 0.0:  # ran out (a change here sets it to 0)
        current.trusted_until = now + get_settings().quote_cache_seconds
    return None


def fresh_snapshot(session: Session) -> _Snapshot | None:
    """The cache when it is fresh for this session (one primary-key read),
    else None: then `snapshot` refreshes it (which may read many rows)."""
    current = _snapshots.get(_cache_key(session))
    if current is None:
        return None
    epoch = _epoch
    if current.token != repository.generation_token(session):
        return None
    _vouch(session, current, epoch)
    return current


def snapshot(session: Session) -> _Snapshot:
    """The cache for the session's database, refreshed first when the token
    the session reads is not the one it was loaded at."""
    try:
        return _checked_snapshot(session)
    except BaseException:
        # The check failed: quotes coasting on the cache meanwhile must stop
        # trusting it, or a broken database would keep them stale for good.
        stale = _snapshots.get(_cache_key(session))
        if stale is not None:
            stale.trusted_until = 0.0
        raise


def _checked_snapshot(session: Session) -> _Snapshot:
    current = fresh_snapshot(session)
    if current is not None:
        return current
    key = _cache_key(session)
    with _reload:  # one refresh at a time; the others then find it done
        epoch = _epoch
        token = repository.generation_token(session)
        current = _snapshots.get(key)
        if current is None:
            with _cycle_collection_paused():
                current = _Snapshot.load(session, token, None)
            if len(current.by_id) >= FREEZE_FROM:
                gc.freeze()
            _snapshots[key] = current
        elif current.token != token:
            # The token is read before the rows, so the rows are at least
            # as new as the label (a newer label then refreshes again).
            current = _Snapshot.load(session, token, current)
            _snapshots[key] = current
        _vouch(session, current, epoch)
        return current


# A first load makes a dozen long-lived objects per promotion. Meanwhile the
# cyclic garbage collector would walk the growing heap again and again (half
# the load time at 100,000 promotions), and afterwards every full collection
# would walk all of them (0.7 s at 100,000: a pause for every request in
# flight). So it is paused during the first load, and a big cache is then
# moved out of its sight (gc.freeze: what is frozen is still freed by
# reference counting when a refresh replaces it; the cache holds no cycles).
FREEZE_FROM = 10_000


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _reading_engine(engine: Engine) -> Iterator[Engine]:
    """`engine` for a unit of work that only reads; on SQLite, a sibling of
    it (same database, so the same cache key) whose transactions begin
    deferred. app/db.py begins every SQLite transaction IMMEDIATE, taking
    the write lock up front — right for units of work that read then write,
    but held through the warm-up's load (seconds at 100,000 promotions) it
    would make every writer wait that long. A deferred transaction in WAL
    mode reads one consistent snapshot and neither waits for a writer nor
    blocks one."""
    if engine.dialect.name != "sqlite":
        yield engine
        return
    reader = create_engine(
        engine.url, poolclass=NullPool, connect_args={"check_same_thread": False}
    )

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's

    @event.listens_for(reader, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN DEFERRED")

    try:
        yield reader
    finally:
        reader.dispose()


def warm_quote_cache() -> threading.Thread:
    """Load the quote cache in a background thread (at start-up), so that the
    first customer does not wait for it: a quote meanwhile waits for this
    load instead of starting its own. The load only reads, and reads in a
    transaction that makes no writer wait (see `_reading_engine`)."""

    def load() -> None:
        try:
            with _reading_engine(get_engine()) as engine, session_scope(engine) as session:
                snapshot(session)
        except Exception:  # an unmigrated or unreachable database: quotes load it later
            log.warning("could not warm the quote cache", exc_info=True)

    thread = threading.Thread(target=load, name="warm-quote-cache", daemon=True)
    thread.start()
    return thread


def _price_cached(session: Session, data: QuoteRequest, snap: _Snapshot) -> _Priced:
    at = as_utc(data.at, DEFAULT_TZ) if data.at else utcnow()
    preview = data.at is not None
    tiers = (
        slots_service.merchant_tiers(
            session, merchant_ids=sorted({ln.merchant_id for ln in data.lines})
        )
        if snap.tiered
        else {}
    )
    lines = [
        engine.Line(
            ln.id,
            ln.sku,
            ln.merchant_id,
            ln.category,
            ln.unit_price,
            ln.quantity,
            tiers.get(ln.merchant_id),
        )
        for ln in data.lines
    ]
    texts = [normalise_code(c) for c in data.coupon_codes]
    code_rows = repository.codes_by_text(session, texts)
    chosen: dict[int, _Cached] = {}
    index = snap.index.get(data.currency)
    if index is not None:
        # Automatic promotions filed under the cart's keys whose own window
        # has not ended (future ones stay: "not active yet"), by id.
        by_id = snap.by_id
        for offer in index.touching(lines):
            offer_id = offer.id
            entry = by_id[offer_id]
            ends = entry.ends_at
            if ends is None or ends > at:
                chosen[offer_id] = entry
    wanted = sorted({c.promotion_id for c in code_rows.values()} - chosen.keys())
    late = [pid for pid in wanted if pid not in snap.by_id]
    fetched = {r.id: _cached(r, True) for r in repository.promotions_by_ids(session, late)}
    for pid in wanted:
        entry = snap.by_id.get(pid) or fetched.get(pid)
        if entry is not None:
            chosen[pid] = entry
    evented = [pid for pid, e in chosen.items() if e.event_id is not None]
    if evented:
        alive = repository.existing_ids(session, evented)
        for pid in evented:
            if pid not in alive:
                del chosen[pid]
    dynamic = [e for e in chosen.values() if not e.static]
    budgets = repository.budgets_of(session, [e.row.id for e in dynamic if e.limited])
    limited = [e.row.id for e in dynamic if e.row.per_customer]
    used = repository.customer_usage(session, data.customer_id, limited)
    context = _Context(session)
    offers = []
    for pid, entry in chosen.items():
        if entry.static:
            offers.append(entry.offer)
            continue
        starts, ends, blocked, detail = _offer_state(
            entry.row, context, preview=preview, budget=budgets.get(pid), used=used.get(pid, 0)
        )
        offers.append(
            dataclasses.replace(
                entry.offer, starts_at=starts, ends_at=ends, blocked=blocked, blocked_detail=detail
            )
        )
    rows = {pid: e.row for pid, e in chosen.items()}
    codes = [
        _code(
            text, row if row is not None and row.promotion_id in rows else None, rows, data.currency
        )
        for text in texts
        for row in (code_rows.get(text),)
    ]
    result = engine.quote(lines, offers, codes, now=at, best=data.best)
    return _Priced(result, at, code_rows, rows)


def _price(session: Session, data: QuoteRequest) -> _Priced:
    at = as_utc(data.at, DEFAULT_TZ) if data.at else utcnow()
    preview = data.at is not None
    context = _Context(session)
    merchant_ids = sorted({ln.merchant_id for ln in data.lines})
    tiers = slots_service.merchant_tiers(session, merchant_ids=merchant_ids)
    lines = [
        engine.Line(
            ln.id,
            ln.sku,
            ln.merchant_id,
            ln.category,
            ln.unit_price,
            ln.quantity,
            tiers.get(ln.merchant_id),
        )
        for ln in data.lines
    ]
    texts = [normalise_code(c) for c in data.coupon_codes]
    code_rows = repository.codes_by_text(session, texts)
    automatic = repository.candidate_promotions(
        session, keys=sorted(engine.cart_keys(lines)), currency=data.currency, at=at
    )
    promotions = {p.id: p for p in automatic}
    for p in repository.promotions_by_ids(
        session, {c.promotion_id for c in code_rows.values()} - promotions.keys()
    ):
        promotions[p.id] = p
    budgets = repository.budgets_of(session, promotions)
    limited = [p.id for p in promotions.values() if p.per_customer]
    used = repository.customer_usage(session, data.customer_id, limited)
    offers = [
        _offer(p, context, preview=preview, budget=budgets.get(p.id), used=used.get(p.id, 0))
        for p in promotions.values()
    ]
    codes = [_code(text, code_rows.get(text), promotions, data.currency) for text in texts]
    result = engine.quote(lines, offers, codes, now=at, best=data.best)
    return _Priced(result, at, code_rows, promotions)


def normalise_code(text: str) -> str:
    return text.strip().upper()


def _offer(
    promotion: Promotion,
    context: _Context,
    *,
    preview: bool = False,
    budget: PromotionBudget | None = None,
    used: int = 0,
) -> engine.Offer:
    starts, ends, blocked, detail = _offer_state(
        promotion, context, preview=preview, budget=budget, used=used
    )
    return engine.Offer(
        id=promotion.id,
        kind=promotion.kind,
        level=promotion.level,
        params=promotion.params,
        scope=engine.Scope.from_dict(promotion.scope),
        coupon=promotion.coupon,
        exclusive=promotion.exclusive,
        starts_at=starts,
        ends_at=ends,
        blocked=blocked,
        blocked_detail=detail,
        name=promotion.name,
    )


def _offer_state(
    promotion: Promotion,
    context: _Context,
    *,
    preview: bool,
    budget: PromotionBudget | None,
    used: int,
) -> tuple[datetime | None, datetime | None, str | None, str]:
    """The effective window, and what blocks the promotion now (if anything)."""
    starts, ends = context.window(promotion)
    blocked, detail = None, ""
    event_block = _event_block(context, promotion, preview)
    if event_block:
        blocked, detail = engine.Reason.not_active, event_block
    elif budget is not None and (
        (budget.max_redemptions is not None and budget.redemptions >= budget.max_redemptions)
        or (
            budget.total_amount_minor is not None
            and budget.spent_minor >= budget.total_amount_minor
        )
    ):
        blocked, detail = engine.Reason.budget_exhausted, "the promotion's budget is spent"
    elif promotion.per_customer is not None and used >= promotion.per_customer:
        blocked = engine.Reason.customer_limit
        detail = f"this customer has used it {used} time(s), the limit"
    return starts, ends, blocked, detail


def _code(
    text: str, row: CouponCode | None, promotions: dict[int, Promotion], currency: str
) -> engine.Code:
    if row is None:
        return engine.Code(text, None)
    promotion = promotions[row.promotion_id]
    if promotion.currency != currency:
        return engine.Code(
            text,
            row.promotion_id,
            engine.Reason.currency,
            f"the coupon is in {promotion.currency}, the cart in {currency}",
        )
    if row.max_uses is not None and row.used >= row.max_uses:
        return engine.Code(
            text, row.promotion_id, engine.Reason.code_exhausted, "this code is used up"
        )
    return engine.Code(text, row.promotion_id)


def _applied_read(result: engine.Priced) -> list[AppliedRead]:
    return [
        AppliedRead(
            promotion_id=a.promotion_id, code=a.code, level=a.level, amount=a.amount, lines=a.lines
        )
        for a in result.applied
    ]


def _quote_read(currency: str, priced: _Priced) -> QuoteRead:
    result = priced.result
    return QuoteRead(
        currency=currency,
        at=priced.at,
        subtotal=result.subtotal,
        discount=result.discount,
        total=result.total,
        applied=_applied_read(result),
        not_applied=[
            NotAppliedRead(
                promotion_id=n.promotion_id,
                code=n.code,
                reason=n.reason,
                detail=n.detail,
                short_by=n.short_by,
                by=n.by,
            )
            for n in result.not_applied
        ],
        line_totals=result.line_totals,
        combinations_priced=result.searched,
    )


# --- redemptions ------------------------------------------------------------------


def redeem(session: Session, *, data: RedemptionCreate) -> Redemption:
    """Price the order and take what it uses, all in this transaction; any
    limit that runs out refuses the whole order (409), never part of it."""
    if data.at is not None:
        raise ValidationProblem(
            [(["body", "at"], "a redemption happens now; `at` is for quotes only")]
        )
    if repository.redemption_by_order(session, data.order_id) is not None:
        raise OrderAlreadyRedeemed(f"order {data.order_id!r} was already redeemed")
    priced = _price(session, data)
    result = priced.result
    typed = [normalise_code(c) for c in data.coupon_codes]
    unknown = [
        (["body", "coupon_codes", typed.index(miss.code)], "no such coupon code")
        for miss in result.not_applied
        if miss.code in typed and miss.reason == engine.Reason.unknown_code
    ]
    if unknown:
        # A code the shopper typed that does not exist is a checkout error to
        # show, not an order to charge at full price.
        raise ValidationProblem(unknown)
    for miss in result.not_applied:
        if miss.code and miss.reason in LIMIT_REASONS:
            raise LimitExhausted(
                f"coupon {miss.code}: {miss.detail}",
                promotion_id=miss.promotion_id,
                reason=miss.reason,
            )
    redemption = Redemption(
        order_id=data.order_id,
        customer_id=data.customer_id,
        currency=data.currency,
        subtotal_minor=result.subtotal,
        discount_minor=result.discount,
        total_minor=result.total,
        quote=_quote_read(data.currency, priced).model_dump(mode="json"),
    )
    try:
        with session.begin_nested():
            session.add(redemption)
    except IntegrityError:  # a concurrent request with the same order id won
        raise OrderAlreadyRedeemed(f"order {data.order_id!r} was already redeemed") from None
    # Take in promotion order, so two orders always lock rows in one order.
    for entry in sorted(result.applied, key=lambda a: a.promotion_id):
        session.add(_take(session, redemption, entry, priced, data.customer_id))
    session.flush()
    return redemption


def _take(
    session: Session,
    redemption: Redemption,
    entry: engine.Applied,
    priced: _Priced,
    customer_id: str,
) -> RedemptionItem:
    promotion = priced.promotions[entry.promotion_id]
    if not repository.take_budget(session, promotion.id, entry.amount):
        budget = repository.get_budget(session, promotion.id)
        session.refresh(budget)
        raise LimitExhausted(
            f"promotion {promotion.id} ({promotion.name}): its budget cannot cover "
            f"{entry.amount} more (redeemed {budget.redemptions} of "
            f"{budget.max_redemptions or 'unlimited'}, spent {budget.spent_minor} of "
            f"{budget.total_amount_minor or 'unlimited'})",
            promotion_id=promotion.id,
            reason=engine.Reason.budget_exhausted,
        )
    counted = promotion.per_customer is not None
    if counted and not repository.take_customer_use(
        session, promotion.id, customer_id, promotion.per_customer
    ):
        raise LimitExhausted(
            f"promotion {promotion.id} ({promotion.name}): customer {customer_id} has used "
            f"it {promotion.per_customer} time(s), the limit",
            promotion_id=promotion.id,
            reason=engine.Reason.customer_limit,
        )
    code = priced.codes.get(entry.code) if entry.code else None
    if code is not None and not repository.take_code_use(session, code.id):
        raise LimitExhausted(
            f"coupon {code.code} is used up",
            promotion_id=promotion.id,
            reason=engine.Reason.code_exhausted,
        )
    return RedemptionItem(
        redemption_id=redemption.id,
        promotion_id=promotion.id,
        code_id=code.id if code else None,
        amount_minor=entry.amount,
        customer_counted=counted,
    )


def get_redemption_or_raise(session: Session, *, redemption_id: int) -> Redemption:
    redemption = repository.get_redemption(session, redemption_id)
    if redemption is None:
        raise RedemptionNotFound(f"no redemption {redemption_id}")
    return redemption


def cancel_redemption(session: Session, *, redemption_id: int, actor: Principal) -> Redemption:
    """Give back exactly what the redemption took, once."""
    redemption = get_redemption_or_raise(session, redemption_id=redemption_id)
    if not repository.mark_cancelled(session, redemption_id, utcnow()):
        raise RedemptionNotCancellable(f"redemption {redemption_id} is already cancelled")
    for item in sorted(repository.items_of(session, redemption_id), key=lambda i: i.promotion_id):
        repository.give_back_budget(session, item.promotion_id, item.amount_minor)
        if item.customer_counted:
            repository.give_back_customer_use(session, item.promotion_id, redemption.customer_id)
        if item.code_id is not None:
            repository.give_back_code_use(session, item.code_id)
    session.refresh(redemption)
    audit.record(
        session,
        actor=actor,
        action="redemption.cancel",
        resource_type="redemption",
        resource_id=redemption_id,
        after={"status": redemption.status, "discount": redemption.discount_minor},
    )
    return redemption


def redemption_read(redemption: Redemption) -> RedemptionRead:
    return RedemptionRead(
        id=redemption.id,
        order_id=redemption.order_id,
        customer_id=redemption.customer_id,
        status=redemption.status,
        currency=redemption.currency,
        subtotal=redemption.subtotal_minor,
        discount=redemption.discount_minor,
        total=redemption.total_minor,
        applied=[AppliedRead.model_validate(a) for a in redemption.quote.get("applied", [])],
        not_applied=[
            NotAppliedRead.model_validate(n) for n in redemption.quote.get("not_applied", [])
        ],
        created_at=redemption.created_at,
        cancelled_at=redemption.cancelled_at,
    )


__all__ = [
    "RedemptionStatus",
    "cancel_redemption",
    "create",
    "delete",
    "generate_codes",
    "get",
    "get_or_raise",
    "launch_gate",
    "list",
    "quote",
    "redeem",
    "risk",
    "update",
]
