"""Cart pricing: stacking, explanations, the best combination of coupons, and
the worst-case stacked depth that the risk floor guards.

Pure: no web, no database. Every input (the cart, the promotions, the codes,
`now`) is an argument; every result says why.

Money is integer minor units. Each discount is rounded down to the minor
unit and split over the lines it touched so that the split sums exactly to
it (largest remainder); no line ever goes below zero.

Stacking, each stage on the amounts left by the one before:

1. item — at most one promotion per line, the best for the customer;
2. store — per merchant, at most one automatic promotion, then at most one
   store coupon;
3. platform — at most one automatic (cross-store) promotion, then at most one
   platform coupon.

Every promotion is computed over its scoped lines as a group (a threshold
counts the scoped subtotal, buy-N-get-M pools the scoped units); in the item
stage each line then keeps the share of the promotion that gives it most.
An exclusive promotion that applies to a line shuts every other promotion
out of that line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

BP = 10_000  # basis points in a whole

ITEM, STORE, PLATFORM = "item", "store", "platform"
LEVELS = (ITEM, STORE, PLATFORM)
KINDS = ("percent_off", "amount_off", "threshold", "buy_n_get_m")


class Reason:
    """Why a promotion did not apply (the `reason` of a `not_applied` entry)."""

    out_of_scope = "out_of_scope"
    threshold_not_reached = "threshold_not_reached"
    not_active = "not_active"
    budget_exhausted = "budget_exhausted"
    customer_limit = "customer_limit"
    code_exhausted = "code_exhausted"
    exclusive = "exclusive"
    stacking_limit = "stacking_limit"
    not_best = "not_best"
    unknown_code = "unknown_code"
    duplicate_code = "duplicate_code"
    currency = "currency_mismatch"
    nothing_left = "nothing_left"


# --- inputs -------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    id: str
    sku: str
    merchant_id: int
    category: str
    unit_price: int
    quantity: int
    tier: str | None = None

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Scope:
    """None means "any"; `exclude_skus` always wins."""

    categories: frozenset[str] | None = None
    merchants: frozenset[int] | None = None
    tiers: frozenset[str] | None = None
    skus: frozenset[str] | None = None
    exclude_skus: frozenset[str] = frozenset()

    # Derived once, when the scope is made: the cache builds each scope once
    # and every quote asks both (a cached_property's first read takes a lock).
    keys: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    """Its scope index keys (see `scope_keys`)."""
    by_key_alone: bool = field(init=False, repr=False, compare=False)
    """True when filing under its keys already decides coverage: one
    dimension named, no exclusions (so `covers` need not be asked)."""

    def __post_init__(self) -> None:
        named = [v for v in (self.categories, self.merchants, self.tiers, self.skus) if v]
        object.__setattr__(self, "keys", tuple(scope_keys(self)))
        object.__setattr__(self, "by_key_alone", not self.exclude_skus and len(named) <= 1)

    def covers(self, line: Line) -> bool:
        if line.sku in self.exclude_skus:
            return False
        if self.skus is not None and line.sku not in self.skus:
            return False
        if self.categories is not None and line.category not in self.categories:
            return False
        if self.merchants is not None and line.merchant_id not in self.merchants:
            return False
        return self.tiers is None or line.tier in self.tiers

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Scope:
        data = data or {}

        def opt(name: str) -> frozenset | None:
            values = data.get(name)
            return None if values is None else frozenset(values)

        return cls(
            categories=opt("categories"),
            merchants=opt("merchants"),
            tiers=opt("tiers"),
            skus=opt("skus"),
            exclude_skus=frozenset(data.get("exclude_skus") or ()),
        )


@dataclass(frozen=True)
class Offer:
    """A promotion as the engine sees it.

    `blocked` is a reason the caller already knows (budget spent, the event
    not live) with its `blocked_detail`; the window is checked here against `now`.
    """

    id: int
    kind: str
    level: str
    params: Mapping[str, Any]
    scope: Scope = field(default_factory=Scope)
    coupon: bool = False
    exclusive: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    blocked: str | None = None
    blocked_detail: str = ""
    name: str = ""
    # `params` read once into plain numbers (see `_rule_of`): every quote
    # that touches the offer would otherwise parse them again.
    rule: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", _rule_of(self.kind, self.params))


@dataclass(frozen=True)
class Code:
    """A coupon code the customer holds, resolved to its promotion (None: unknown)."""

    code: str
    promotion_id: int | None
    blocked: str | None = None
    blocked_detail: str = ""


# --- results ------------------------------------------------------------------


@dataclass(slots=True)
class Applied:
    promotion_id: int
    level: str
    amount: int
    lines: dict[str, int]
    code: str | None = None


@dataclass(slots=True)
class NotApplied:
    promotion_id: int | None
    reason: str
    detail: str
    code: str | None = None
    short_by: int | None = None
    by: int | None = None  # the promotion that shut this one out


@dataclass(slots=True)
class Priced:
    subtotal: int
    discount: int
    total: int
    applied: list[Applied]
    not_applied: list[NotApplied]
    line_totals: dict[str, int]
    searched: int = 1  # combinations priced (best: true)


# --- arithmetic ---------------------------------------------------------------


def split_largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` split over the keys in proportion to `weights`, in whole units
    that sum exactly to `total`; no key gets more than its weight when
    total <= sum(weights)."""
    whole = 0
    for weight in weights.values():
        if weight > 0:
            whole += weight
    if total <= 0 or whole <= 0:
        return {}
    shares = {k: total * w // whole for k, w in weights.items() if w > 0}
    left = total - sum(shares.values())
    if left:
        # Largest remainders first; ties by key so the split is deterministic.
        order = sorted(shares, key=lambda k: (-(total * weights[k] % whole), k))
        for key in order[:left]:
            shares[key] += 1
    return {k: v for k, v in shares.items() if v}


class Outcome(NamedTuple):
    """One promotion computed over one group of line amounts (a named tuple:
    a quote makes one per promotion it touches, and a tuple is the cheapest
    immutable record to make)."""

    amount: int
    lines: dict[str, int]
    short_by: int | None = None  # how far below the threshold, when it did not reach


def _rule_of(kind: str, params: Mapping[str, Any]) -> Any:
    """The numbers `compute` needs from `params`: percent_off → basis
    points; amount_off → (min spend, amount); threshold → ("tiers", ((min,
    off), ...) rising) or ("every", step, off, cap or None); buy_n_get_m →
    (buy, get). None for a kind it does not know (`compute` refuses it)."""
    if kind == "percent_off":
        return int(params["percent_bp"])
    if kind == "amount_off":
        return int(params.get("min_spend") or 0), int(params["amount"])
    if kind == "threshold":
        return _threshold_rule(params)
    if kind == "buy_n_get_m":
        return int(params["buy"]), int(params["get"])
    return None


def _threshold_rule(params: Mapping[str, Any]) -> tuple:
    if "tiers" in params:
        # Validated tiers rise already; the sort (stable) only orders what does not.
        steps = [(int(t["min"]), int(t["off"])) for t in params["tiers"]]
        return "tiers", tuple(sorted(steps, key=lambda t: t[0]))
    every = params["every"]
    cap = every.get("cap")
    return "every", int(every["step"]), int(every["off"]), None if cap is None else int(cap)


def compute(
    offer: Offer, group: Mapping[str, int], lines: Mapping[str, Line], *, split: bool = True
) -> Outcome:
    """What `offer` takes off `group` (line id → amount left), split by line
    (with `split=False`, the amount only: choosing among rivals needs no more)."""
    kind, rule = offer.kind, offer.rule
    if kind == "percent_off":
        per_line = {lid: off for lid, amount in group.items() if (off := amount * rule // BP)}
        return Outcome(sum(per_line.values()), per_line)
    base = sum(group.values())
    if kind == "amount_off":
        min_spend, amount = rule
        if base < min_spend or base <= 0:
            return Outcome(0, {}, short_by=max(min_spend - base, 0) or None)
        amount = min(amount, base)
        return Outcome(amount, split_largest_remainder(amount, group) if split else {})
    if kind == "threshold":
        off, short_by = _threshold_off(rule, base)
        off = min(off, base)
        if off <= 0:
            return Outcome(0, {}, short_by=short_by)
        return Outcome(off, split_largest_remainder(off, group) if split else {})
    if kind == "buy_n_get_m":
        return _buy_n_get_m(rule[0], rule[1], group, lines)
    raise ValueError(f"unknown kind {kind!r}")


def threshold_off(params: Mapping[str, Any], base: int) -> tuple[int, int | None]:
    """满减: (amount off, how far below the first step when none is reached)."""
    return _threshold_off(_threshold_rule(params), base)


def _threshold_off(rule: tuple, base: int) -> tuple[int, int | None]:
    if rule[0] == "tiers":
        steps = rule[1]
        off = None
        for low, step_off in steps:
            if base >= low:
                off = step_off
        if off is None:
            return 0, steps[0][0] - base
        return off, None
    _every, step, each, cap = rule
    count = base // step
    if count == 0:
        return 0, step - base
    off = count * each
    return (off if cap is None else min(off, cap)), None


def _buy_n_get_m(
    buy: int, get: int, group: Mapping[str, int], lines: Mapping[str, Line]
) -> Outcome:
    # Units pooled across lines, dearest first; in each full group of buy+get
    # the `get` cheapest are free. A unit costs what is left of its line,
    # spread evenly (the item stage runs first, so that is its unit price).
    units: list[tuple[int, str]] = []
    for lid, amount in group.items():
        qty = lines[lid].quantity
        each, extra = divmod(amount, qty)
        units.extend((each + (1 if i < extra else 0), lid) for i in range(qty))
    size = buy + get
    if len(units) < size:
        return Outcome(0, {}, short_by=None)
    units.sort(key=lambda u: (-u[0], u[1]))
    free: dict[str, int] = {}
    for start in range(0, len(units) - size + 1, size):
        for price, lid in units[start + buy : start + size]:
            if price:
                free[lid] = free.get(lid, 0) + price
    return Outcome(sum(free.values()), free)


# --- the quote ----------------------------------------------------------------


@dataclass
class _Cart:
    lines: dict[str, Line]
    left: dict[str, int]
    claimed: dict[str, int]  # line id → the exclusive promotion that holds it
    # Stacking slots an exclusive promotion already fills: ("store", coupon,
    # merchant) or ("platform", coupon) → its id. One coupon per stage stays
    # one coupon per stage, exclusive or not.
    slots: dict[tuple, int] = field(default_factory=dict)
    _cover: dict[int, list[str]] = field(default_factory=dict)
    _by_key: dict[tuple[str, str], list[str]] | None = None
    _position: dict[str, int] | None = None

    def covered(self, offer: Offer) -> list[str]:
        """The lines in the offer's scope, in cart order. Only the lines
        filed under the offer's own index keys are checked, so a cart pays
        for the lines an offer can reach, not for every line."""
        found = self._cover.get(offer.id)
        if found is not None:
            return found
        by_key = self._by_key
        if by_key is None:
            by_key = self._by_key = {}
            every = by_key["all", ""] = []
            for lid, ln in self.lines.items():
                every.append(lid)
                by_key.setdefault(("sku", ln.sku), []).append(lid)
                by_key.setdefault(("merchant", str(ln.merchant_id)), []).append(lid)
                by_key.setdefault(("category", ln.category), []).append(lid)
                if ln.tier:
                    by_key.setdefault(("tier", ln.tier), []).append(lid)
        scope = offer.scope
        keys = scope.keys
        if len(keys) == 1:
            reach = by_key.get(keys[0], [])
        else:
            if self._position is None:
                self._position = {lid: i for i, lid in enumerate(self.lines)}
            reach = sorted(
                {lid for key in keys for lid in by_key.get(key, ())},
                key=self._position.__getitem__,
            )
        if scope.by_key_alone:
            found = reach  # read-only from here on, like every covered list
        else:
            lines = self.lines
            found = [lid for lid in reach if scope.covers(lines[lid])]
        self._cover[offer.id] = found
        return found

    def slots_of(self, offer: Offer, group: Iterable[str]) -> list[tuple]:
        if offer.level == STORE:
            return sorted({(STORE, offer.coupon, self.lines[lid].merchant_id) for lid in group})
        if offer.level == PLATFORM:
            return [(PLATFORM, offer.coupon)]
        return []

    def group(self, offer: Offer, only: set[str] | None = None) -> dict[str, int]:
        claimed, left = self.claimed, self.left
        covered = self.covered(offer)
        if not claimed:
            if only is None:
                return {lid: left[lid] for lid in covered}
            return {lid: left[lid] for lid in covered if lid in only}
        return {
            lid: left[lid]
            for lid in covered
            if (only is None or lid in only) and claimed.get(lid, offer.id) == offer.id
        }

    def percent_pairs(self, offer: Offer) -> Iterator[tuple[str, int]]:
        """(line, share) of a percent_off offer over the lines it may take,
        as `compute(offer, self.group(offer), ...)` would give them (zeros
        included), without building the group."""
        bp, left, claimed = offer.rule, self.left, self.claimed
        covered = self.covered(offer)
        if claimed:
            oid = offer.id
            covered = [lid for lid in covered if claimed.get(lid, oid) == oid]
        return ((lid, left[lid] * bp // BP) for lid in covered)

    def take(self, split: Mapping[str, int]) -> None:
        for lid, amount in split.items():
            self.left[lid] -= amount


def quote(
    lines: Sequence[Line],
    offers: Iterable[Offer],
    codes: Sequence[Code] = (),
    *,
    now: datetime,
    best: bool = False,
) -> Priced:
    """Price `lines` with the automatic `offers` and the customer's `codes`.

    `offers` holds every promotion that might touch the cart (automatic ones
    and those the codes point at). With `best`, the codes used are the
    combination that leaves the customer the lowest total, found exactly.
    """
    by_id = {o.id: o for o in offers}
    usable, refused = _usable_codes(codes, by_id, now)
    if best:
        return _best(lines, by_id, usable, refused, now)
    return _price(lines, by_id, usable, refused, now)


def _usable_codes(
    codes: Sequence[Code], by_id: Mapping[int, Offer], now: datetime
) -> tuple[list[Code], list[NotApplied]]:
    usable: list[Code] = []
    refused: list[NotApplied] = []
    seen: set[int] = set()
    for code in codes:
        offer = by_id.get(code.promotion_id) if code.promotion_id is not None else None
        if offer is None or not offer.coupon:
            refused.append(
                NotApplied(None, Reason.unknown_code, "no such coupon code", code=code.code)
            )
            continue
        reason = (code.blocked, code.blocked_detail) if code.blocked else _unavailable(offer, now)
        if reason:
            refused.append(NotApplied(offer.id, reason[0], reason[1], code=code.code))
        elif offer.id in seen:
            refused.append(
                NotApplied(
                    offer.id,
                    Reason.duplicate_code,
                    "another code of the same promotion is already in the cart",
                    code=code.code,
                )
            )
        else:
            seen.add(offer.id)
            usable.append(code)
    return usable, refused


def _unavailable(offer: Offer, now: datetime) -> tuple[str, str] | None:
    if offer.blocked:
        return offer.blocked, offer.blocked_detail
    if offer.starts_at is not None and now < offer.starts_at:
        return Reason.not_active, f"not active yet: starts at {offer.starts_at.isoformat()}"
    if offer.ends_at is not None and now >= offer.ends_at:
        return Reason.not_active, f"no longer active: ended at {offer.ends_at.isoformat()}"
    return None


def _price(
    lines: Sequence[Line],
    by_id: Mapping[int, Offer],
    codes: Sequence[Code],
    refused: Sequence[NotApplied],
    now: datetime,
) -> Priced:
    cart = _Cart({ln.id: ln for ln in lines}, {ln.id: ln.amount for ln in lines}, {})
    not_applied: list[NotApplied] = list(refused)
    code_of = {c.promotion_id: c.code for c in codes}
    candidates: list[Offer] = []
    for offer in by_id.values():
        if offer.coupon and offer.id not in code_of:
            continue  # a coupon applies only when its code is in the cart
        reason = _unavailable(offer, now)
        if offer.coupon or reason is None:
            if reason is None:
                candidates.append(offer)
            continue
        if cart.covered(offer):
            not_applied.append(NotApplied(offer.id, reason[0], reason[1]))
    applied: list[Applied] = []
    _claim_exclusive(cart, candidates, applied, not_applied, code_of)
    _item_stage(cart, [o for o in candidates if o.level == ITEM], applied, not_applied, code_of)
    _store_stage(cart, [o for o in candidates if o.level == STORE], applied, not_applied, code_of)
    _platform_stage(
        cart, [o for o in candidates if o.level == PLATFORM], applied, not_applied, code_of
    )
    subtotal = sum(ln.amount for ln in lines)
    discount = sum(a.amount for a in applied)
    return Priced(subtotal, discount, subtotal - discount, applied, not_applied, dict(cart.left))


def _claim_exclusive(
    cart: _Cart,
    candidates: list[Offer],
    applied: list[Applied],
    not_applied: list[NotApplied],
    code_of: Mapping[int, str],
) -> None:
    """Exclusive promotions go first, the deepest first: each takes its lines
    whole, at full price, and those lines are out of every other promotion's
    scope. Each fills its stacking slot (one store coupon per merchant, one
    platform coupon...) as any other promotion would."""
    exclusive = [o for o in candidates if o.exclusive]
    if not exclusive:
        return
    worth = {o.id: compute(o, cart.group(o), cart.lines).amount for o in exclusive}
    for offer in sorted(exclusive, key=lambda o: (-worth[o.id], o.id)):
        candidates.remove(offer)
        group = cart.group(offer)
        outcome = compute(offer, group, cart.lines)
        code = code_of.get(offer.id)
        if outcome.amount <= 0:
            not_applied.append(
                _shut_out(cart, offer, code) or _explain_miss(offer, outcome, group, code)
            )
            continue
        slots = cart.slots_of(offer, group)
        taken = [cart.slots[key] for key in slots if key in cart.slots]
        if taken:
            not_applied.append(
                NotApplied(
                    offer.id,
                    Reason.stacking_limit,
                    f"exclusive promotion {taken[0]} already fills this stacking slot",
                    code=code,
                    by=taken[0],
                )
            )
            continue
        cart.slots.update(dict.fromkeys(slots, offer.id))
        for lid in group:
            cart.claimed[lid] = offer.id
        cart.take(outcome.lines)
        applied.append(Applied(offer.id, offer.level, outcome.amount, outcome.lines, code=code))
    for offer in list(candidates):
        miss = _shut_out(cart, offer, code_of.get(offer.id))
        if miss is not None:
            not_applied.append(miss)
            candidates.remove(offer)


def _shut_out(cart: _Cart, offer: Offer, code: str | None) -> NotApplied | None:
    """The explanation when exclusive promotions hold every line `offer` covers."""
    covered = cart.covered(offer)
    holders = {cart.claimed[lid] for lid in covered if lid in cart.claimed}
    if not covered or any(cart.claimed.get(lid, offer.id) == offer.id for lid in covered):
        return None
    by = min(holders)
    return NotApplied(
        offer.id,
        Reason.exclusive,
        f"promotion {by} is exclusive and holds every line this one covers",
        code=code,
        by=by,
    )


def _explain_miss(offer: Offer, outcome: Outcome, group: Mapping[str, int], code) -> NotApplied:
    if not group:
        return NotApplied(offer.id, Reason.out_of_scope, "no line of the cart is in scope", code)
    if outcome.short_by:
        return NotApplied(
            offer.id,
            Reason.threshold_not_reached,
            f"the scoped subtotal {sum(group.values())} is {outcome.short_by} short "
            "of the threshold",
            code,
            short_by=outcome.short_by,
        )
    if not sum(group.values()):
        return NotApplied(
            offer.id, Reason.nothing_left, "earlier stages left nothing to discount", code
        )
    return NotApplied(
        offer.id, Reason.threshold_not_reached, "the scoped units do not fill a group", code
    )


def _item_stage(cart, offers, applied, not_applied, code_of) -> None:
    # Each line keeps the largest share; on a tie, the lowest promotion id.
    best_share: dict[str, int] = {}
    best_id: dict[str, int] = {}
    outcomes: list[int] = []  # the promotions with a positive share, in order
    for offer in offers:
        oid = offer.id
        if offer.kind == "percent_off":
            # Most item promotions: each line's share is its own, so the
            # shares come straight from what is left, no group to build.
            pairs: Iterable[tuple[str, int]] = cart.percent_pairs(offer)
        else:
            group = cart.group(offer)
            outcome = compute(offer, group, cart.lines)
            if outcome.amount <= 0:
                not_applied.append(_explain_miss(offer, outcome, group, code_of.get(oid)))
                continue
            pairs = outcome.lines.items()
        reached = False
        for lid, share in pairs:
            if share <= 0:
                continue
            reached = True
            held = best_share.get(lid, 0)
            if share > held or (share == held and oid < best_id[lid]):
                best_share[lid] = share
                best_id[lid] = oid
        if reached:
            outcomes.append(oid)
        else:  # a percent_off that rounds to nothing: say why
            group = cart.group(offer)
            outcome = compute(offer, group, cart.lines)
            not_applied.append(_explain_miss(offer, outcome, group, code_of.get(oid)))
    winners: dict[int, dict[str, int]] = {}
    for lid in cart.lines:
        if lid in best_id:
            winners.setdefault(best_id[lid], {})[lid] = best_share[lid]
    for oid in outcomes:
        if oid in winners:
            split = winners[oid]
            cart.take(split)
            applied.append(Applied(oid, ITEM, sum(split.values()), split, code=code_of.get(oid)))
        else:
            not_applied.append(
                NotApplied(
                    oid,
                    Reason.stacking_limit,
                    "another item promotion gives each of its lines more",
                    code=code_of.get(oid),
                )
            )


def _best_of(cart: _Cart, offers: list[Offer], only=None) -> tuple[Offer | None, dict]:
    """The automatic promotion worth most on the group; every outcome by id."""
    results: dict[int, tuple[Outcome, dict[str, int]]] = {}
    winner: Offer | None = None
    if len(offers) == 1:  # no rival: its split at once
        (offer,) = offers
        group = cart.group(offer, only)
        outcome = compute(offer, group, cart.lines)
        results[offer.id] = (outcome, group)
        return (offer if outcome.amount > 0 else None), results
    # Rivals filed under one key alone cover the same lines: with no line
    # claimed, they share one group (covered lists are shared per key).
    shared: dict[int, dict[str, int]] = {}
    for offer in offers:
        if cart.claimed or not offer.scope.by_key_alone:
            group = cart.group(offer, only)
        else:
            covered = cart.covered(offer)
            group = shared.get(id(covered))
            if group is None:
                group = shared[id(covered)] = cart.group(offer, only)
        outcome = compute(offer, group, cart.lines, split=False)
        results[offer.id] = (outcome, group)
        if outcome.amount > 0 and (winner is None or outcome.amount > results[winner.id][0].amount):
            winner = offer
    if winner is not None:  # only the winner's split is ever used
        group = results[winner.id][1]
        results[winner.id] = (compute(winner, group, cart.lines), group)
    return winner, results


def _apply_slot(cart, offers, applied, not_applied, code_of, level, only, label, key) -> None:
    if key in cart.slots:
        by = cart.slots[key]
        for offer in offers:
            not_applied.append(
                NotApplied(
                    offer.id,
                    Reason.stacking_limit,
                    f"at most one {label}; exclusive promotion {by} fills it",
                    code=code_of.get(offer.id),
                    by=by,
                )
            )
        return
    winner, results = _best_of(cart, offers, only)
    for offer in offers:
        outcome, group = results[offer.id]
        code = code_of.get(offer.id)
        if winner is not None and offer.id == winner.id:
            cart.take(outcome.lines)
            applied.append(Applied(offer.id, level, outcome.amount, outcome.lines, code=code))
        elif outcome.amount > 0:
            not_applied.append(
                NotApplied(
                    offer.id,
                    Reason.stacking_limit,
                    f"at most one {label}; promotion {winner.id} gives more"
                    if winner is not None
                    else f"at most one {label}",
                    code=code,
                    by=winner.id if winner is not None else None,
                )
            )
        else:
            not_applied.append(_explain_miss(offer, outcome, group, code))


def _store_stage(cart, offers, applied, not_applied, code_of) -> None:
    by_merchant: dict[int, set[str]] = {}
    for lid, ln in cart.lines.items():
        by_merchant.setdefault(ln.merchant_id, set()).add(lid)
    # merchant → (automatic, coupons): the store offers that reach its
    # lines, each list in the order of `offers`
    reaching: dict[int, tuple[list[Offer], list[Offer]]] = {}
    lines = cart.lines
    for offer in offers:
        merchants = {lines[lid].merchant_id for lid in cart.covered(offer)}
        for merchant_id in merchants:
            pair = reaching.get(merchant_id)
            if pair is None:
                pair = reaching[merchant_id] = ([], [])
            pair[1 if offer.coupon else 0].append(offer)
    touched: set[int] = set()
    for merchant_id, lids in sorted(by_merchant.items()):
        here = reaching.get(merchant_id, ([], []))
        for coupon in (False, True):
            slot = here[1 if coupon else 0]
            if not slot:
                continue
            touched.update(o.id for o in slot)
            label = "store coupon per merchant" if coupon else "automatic store promotion"
            key = (STORE, coupon, merchant_id)
            _apply_slot(cart, slot, applied, not_applied, code_of, STORE, lids, label, key)
    for offer in offers:
        if offer.id not in touched:
            not_applied.append(
                NotApplied(
                    offer.id,
                    Reason.out_of_scope,
                    "no line of the cart is in scope",
                    code=code_of.get(offer.id),
                )
            )
    _merge_store_entries(applied, not_applied)


def _merge_store_entries(applied: list[Applied], not_applied: list[NotApplied]) -> None:
    # An automatic store promotion without a merchant in its scope applies in
    # each store; report it once, with the sum, and drop misses where it applied.
    merged: dict[int, Applied] = {}
    kept: list[Applied] = []
    for entry in applied:
        if entry.level == STORE and entry.promotion_id in merged:
            target = merged[entry.promotion_id]
            target.amount += entry.amount
            target.lines.update(entry.lines)
            continue
        if entry.level == STORE:
            merged[entry.promotion_id] = entry
        kept.append(entry)
    applied[:] = kept
    seen: set[tuple[int | None, str | None]] = set()
    kept_na: list[NotApplied] = []
    for entry in not_applied:
        key = (entry.promotion_id, entry.code)
        if entry.promotion_id in merged or key in seen:
            continue
        seen.add(key)
        kept_na.append(entry)
    not_applied[:] = kept_na


def _platform_stage(cart, offers, applied, not_applied, code_of) -> None:
    automatic = [o for o in offers if not o.coupon]
    coupons = [o for o in offers if o.coupon]
    label = "automatic cross-store promotion"
    _apply_slot(
        cart, automatic, applied, not_applied, code_of, PLATFORM, None, label, (PLATFORM, False)
    )
    _apply_slot(
        cart,
        coupons,
        applied,
        not_applied,
        code_of,
        PLATFORM,
        None,
        "platform coupon",
        (PLATFORM, True),
    )


# --- best: true -----------------------------------------------------------------


def _best(
    lines: Sequence[Line],
    by_id: Mapping[int, Offer],
    codes: Sequence[Code],
    refused: Sequence[NotApplied],
    now: datetime,
) -> Priced:
    """Branch and bound over the customer's codes.

    The choices: each item coupon in or out; per merchant, one of its store
    coupons or none; one platform coupon or none (a stage takes at most one,
    so giving two prices the same as giving the better). A node's bound is the
    most any completion could take off: every kind is monotone in its base,
    and earlier stages and exclusive promotions only shrink a promotion's
    base, so its stand-alone discount on full prices bounds what it takes in
    any stack; a slot that holds at most one promotion is bounded by its
    largest member. Nodes whose bound cannot beat the best found so far are
    cut; every other leaf is priced in full, so the answer is exact.
    """
    bounds = _Bounds(lines, by_id, codes, now)
    groups = bounds.groups()
    found: list[tuple[int, list[Code]]] = []  # (discount, codes): the incumbent
    searched = 0

    def search(depth: int, chosen: list[Code]) -> None:
        nonlocal searched
        if found and bounds.of(groups[depth:], chosen) <= found[0][0]:
            return
        if depth == len(groups):
            searched += 1
            priced = _price(lines, by_id, chosen, (), now)
            if not found or priced.discount > found[0][0]:
                found[:] = [(priced.discount, list(chosen))]
            return
        for option in groups[depth][1]:
            search(depth + 1, [*chosen, option] if option else chosen)

    search(0, [])
    best_choice = found[0][1]
    result = _price(lines, by_id, best_choice, refused, now)
    chosen_codes = {c.code for c in best_choice}
    for c in codes:
        if c.code not in chosen_codes:
            result.not_applied.append(
                NotApplied(
                    c.promotion_id,
                    Reason.not_best,
                    "the best combination for this cart does not use this code",
                    code=c.code,
                )
            )
    result.searched = searched
    return result


class _Bounds:
    """Upper bounds on the discount of any stack, for the branch and bound."""

    def __init__(
        self, lines: Sequence[Line], by_id: Mapping[int, Offer], codes: Sequence[Code], now
    ) -> None:
        self.lines = {ln.id: ln for ln in lines}
        self.full = {ln.id: ln.amount for ln in lines}
        self.subtotal = sum(self.full.values())
        self.offer_of = {c.code: by_id[c.promotion_id] for c in codes if c.promotion_id}
        self.codes = codes
        auto = [o for o in by_id.values() if not o.coupon and _unavailable(o, now) is None]
        self.item_auto = [o for o in auto if o.level == ITEM]
        coupons = list(self.offer_of.values())
        self.alone = {o.id: self._alone(o) for o in [*auto, *coupons]}
        # Exclusive promotions shrink the groups of the others, which can move
        # an item promotion's split onto fewer lines: bound each line by the
        # whole discount then, not by its share.
        self.loose_items = any(o.exclusive for o in [*auto, *coupons])
        store_auto = [o for o in auto if o.level == STORE]
        merchants = {ln.merchant_id for ln in lines}
        self.fixed = sum(
            max((self._in_store(o, m).amount for o in store_auto), default=0) for m in merchants
        ) + max((self.alone[o.id].amount for o in auto if o.level == PLATFORM), default=0)
        # An exclusive promotion stands outside the slots: it may apply beside
        # the slot's own promotion (on other lines), so count it in full.
        self.fixed += sum(self.alone[o.id].amount for o in auto if o.exclusive)

    def _in_store(self, offer: Offer, merchant_id: int) -> Outcome:
        group = {
            lid: a
            for lid, a in self.full.items()
            if self.lines[lid].merchant_id == merchant_id and offer.scope.covers(self.lines[lid])
        }
        return compute(offer, group, self.lines)

    def _alone(self, offer: Offer) -> Outcome:
        if offer.level == STORE:  # applied store by store
            parts = [
                self._in_store(offer, m) for m in {ln.merchant_id for ln in self.lines.values()}
            ]
            split: dict[str, int] = {}
            for part in parts:
                split.update(part.lines)
            return Outcome(sum(p.amount for p in parts), split)
        group = {lid: a for lid, a in self.full.items() if offer.scope.covers(self.lines[lid])}
        return compute(offer, group, self.lines)

    def groups(self) -> list[tuple[str, list[Code | None]]]:
        """The choices, each a list of options; the most promising first, so
        that a good incumbent is found early."""
        groups: list[tuple[str, list[Code | None]]] = []
        by_merchant: dict[int, list[Code]] = {}
        platform: list[Code] = []
        for c in self.codes:
            offer = self.offer_of[c.code]
            single = offer.scope.merchants is not None and len(offer.scope.merchants) == 1
            if offer.level == STORE and single:
                by_merchant.setdefault(next(iter(offer.scope.merchants)), []).append(c)
            elif offer.level == PLATFORM:
                platform.append(c)
            else:  # item coupons, and store coupons that may apply in several stores
                groups.append(("binary", [c, None]))
        groups.extend(("slot", [*cs, None]) for _m, cs in sorted(by_merchant.items()))
        if platform:
            groups.append(("slot", [*platform, None]))
        for _kind, options in groups:
            options.sort(key=lambda c: -self.worth(c) if c else 1)
        return groups

    def worth(self, code: Code) -> int:
        return self.alone[self.offer_of[code.code].id].amount

    def of(self, undecided: Sequence[tuple[str, list[Code | None]]], chosen: list[Code]) -> int:
        item_in = [self.offer_of[c.code] for c in chosen if self.offer_of[c.code].level == ITEM]
        rest = 0
        for _kind, options in undecided:
            for c in options:
                if c is not None and self.offer_of[c.code].level == ITEM:
                    item_in.append(self.offer_of[c.code])
            rest += max(
                (self.worth(c) for c in options if c and self.offer_of[c.code].level != ITEM),
                default=0,
            )
        decided = sum(self.worth(c) for c in chosen if self.offer_of[c.code].level != ITEM)
        return min(self.subtotal, self._items(item_in) + self.fixed + rest + decided)

    def _items(self, coupons: list[Offer]) -> int:
        offers = [*self.item_auto, *coupons]
        total = 0
        for lid, amount in self.full.items():
            if self.loose_items:
                share = max(
                    (self.alone[o.id].amount for o in offers if o.scope.covers(self.lines[lid])),
                    default=0,
                )
            else:
                share = max((self.alone[o.id].lines.get(lid, 0) for o in offers), default=0)
            total += min(amount, share)
        return total


def brute_force_best(
    lines: Sequence[Line], offers: Iterable[Offer], codes: Sequence[Code], *, now: datetime
) -> int:
    """The lowest total over every subset of `codes` (for tests: exponential)."""
    offers = list(offers)
    return min(
        quote(lines, offers, list(subset), now=now).total
        for size in range(len(codes) + 1)
        for subset in itertools.combinations(codes, size)
    )


# --- risk ---------------------------------------------------------------------


def depth_bp(offer: Offer) -> int:
    """The deepest share of a price this promotion alone can take, in bp
    (rounded up: the guard must not under-report)."""
    params = offer.params
    if offer.kind == "percent_off":
        return int(params["percent_bp"])
    if offer.kind == "amount_off":
        min_spend = int(params.get("min_spend") or 0)
        # With no minimum spend, an amount off can take a cheap item to zero.
        return BP if min_spend <= 0 else min(BP, -(-int(params["amount"]) * BP // min_spend))
    if offer.kind == "threshold":
        if "tiers" in params:
            return min(BP, max(-(-int(t["off"]) * BP // int(t["min"])) for t in params["tiers"]))
        every = params["every"]
        return min(BP, -(-int(every["off"]) * BP // int(every["step"])))
    if offer.kind == "buy_n_get_m":
        buy, get = int(params["buy"]), int(params["get"])
        return -(-get * BP // (buy + get))
    raise ValueError(f"unknown kind {offer.kind!r}")


@dataclass(frozen=True)
class Probe:
    """An item the risk check imagines: None means "any other"."""

    category: str | None
    sku: str | None

    def hit_by(self, offer: Offer) -> bool:
        scope = offer.scope
        if self.sku is not None and self.sku in scope.exclude_skus:
            return False
        if scope.skus is not None and (self.sku is None or self.sku not in scope.skus):
            return False
        return scope.categories is None or (
            self.category is not None and self.category in scope.categories
        )


@dataclass
class Depth:
    probe: Probe
    depth_bp: int
    promotion_ids: list[int]


SLOTS = ((ITEM, None), (STORE, False), (STORE, True), (PLATFORM, False), (PLATFORM, True))


def worst_depth(probe: Probe, offers: Sequence[Offer]) -> Depth:
    """The deepest stack that could hit `probe` at one moment: the deepest
    member of each stacking slot, compounded, or an exclusive one alone."""
    hits = [o for o in offers if probe.hit_by(o)]
    left = BP
    stack: list[int] = []
    for level, coupon in SLOTS:
        slot = [
            o
            for o in hits
            if not o.exclusive and o.level == level and (coupon is None or o.coupon == coupon)
        ]
        if not slot:
            continue
        deepest = max(slot, key=lambda o: (depth_bp(o), -o.id))
        left = left * (BP - depth_bp(deepest)) // BP
        stack.append(deepest.id)
    worst = Depth(probe, BP - left, stack)
    for offer in hits:
        if offer.exclusive and depth_bp(offer) > worst.depth_bp:
            worst = Depth(probe, depth_bp(offer), [offer.id])
    return worst


def probes_for(target: Offer, others: Sequence[Offer]) -> list[Probe]:
    """Every category and SKU named by the promotions that can stack with
    `target`, and "any other", as far as `target` reaches them."""
    every = [target, *others]
    categories: set[str | None] = {None}
    skus: set[str | None] = {None}
    for offer in every:
        categories.update(offer.scope.categories or ())
        skus.update(offer.scope.skus or ())
    probes = [
        Probe(c, s)
        for c in sorted(categories, key=lambda v: (v is not None, v or ""))
        for s in sorted(skus, key=lambda v: (v is not None, v or ""))
    ]
    return [p for p in probes if p.hit_by(target)]


def risk(target: Offer, others: Sequence[Offer]) -> list[Depth]:
    """Worst-case depth for each probe `target` reaches, deepest first."""
    everyone = [target, *[o for o in others if o.id != target.id]]
    depths = [worst_depth(p, everyone) for p in probes_for(target, others)]
    depths.sort(key=lambda d: (-d.depth_bp, d.probe.category or "", d.probe.sku or ""))
    return depths


# --- rule validation -----------------------------------------------------------

MAX_MINOR = 10**12  # a trillion minor units: far above any real price or budget


def check_rule(
    kind: str, level: str, params: Mapping[str, Any], currency: str, coupon: bool, scope: Scope
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every reason the rule cannot make sense, each with the field it is about."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    allowed = {
        "percent_off": {"percent_bp"},
        "amount_off": {"amount", "min_spend", "currency"},
        "threshold": {"tiers", "every"},
        "buy_n_get_m": {"buy", "get"},
    }[kind]
    for name in sorted(set(params) - allowed):
        errors.append((("params", name), f"unknown parameter for {kind}"))

    def whole(name: str, value: Any, low: int, high: int = MAX_MINOR, loc=None) -> None:
        where = loc or ("params", name)
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append((where, "must be a whole number"))
        elif not low <= value <= high:
            errors.append((where, f"must be between {low} and {high}"))

    if kind == "percent_off":
        if "percent_bp" not in params:
            errors.append((("params", "percent_bp"), "required"))
        else:
            whole("percent_bp", params["percent_bp"], 1, BP)
    elif kind == "amount_off":
        if "amount" not in params:
            errors.append((("params", "amount"), "required"))
        else:
            whole("amount", params["amount"], 1)
        if "min_spend" in params:
            whole("min_spend", params["min_spend"], 0)
        if "currency" in params and params["currency"] != currency:
            errors.append(
                (
                    ("params", "currency"),
                    f"the amount is in {params['currency']!r}, the promotion in {currency!r}",
                )
            )
    elif kind == "threshold":
        errors.extend(_check_threshold(params, whole))
    elif kind == "buy_n_get_m":
        for name in ("buy", "get"):
            if name not in params:
                errors.append((("params", name), "required"))
            else:
                whole(name, params[name], 1, 1000)
        if level != ITEM:
            errors.append((("level",), "buy_n_get_m prices units: it is an item promotion"))
    if level == STORE and coupon and (scope.merchants is None or len(scope.merchants) != 1):
        errors.append(
            (("scope", "merchants"), "a store coupon belongs to exactly one merchant: name it")
        )
    return errors


def _check_threshold(params: Mapping[str, Any], whole) -> list[tuple[tuple, str]]:
    errors: list[tuple[tuple, str]] = []
    if ("tiers" in params) == ("every" in params):
        return [(("params",), "give exactly one of `tiers` or `every`")]
    if "every" in params:
        every = params["every"]
        if not isinstance(every, dict):
            return [(("params", "every"), "must be an object {step, off, cap?}")]
        for name in sorted(set(every) - {"step", "off", "cap"}):
            errors.append((("params", "every", name), "unknown field"))
        for name in ("step", "off"):
            if name not in every:
                errors.append((("params", "every", name), "required"))
            else:
                whole(name, every[name], 1, loc=("params", "every", name))
        if "cap" in every:
            whole("cap", every["cap"], 1, loc=("params", "every", "cap"))
        if not errors and every["off"] > every["step"]:
            errors.append((("params", "every", "off"), "cannot take off more than each step"))
        return errors
    tiers = params["tiers"]
    if not isinstance(tiers, list) or not tiers or len(tiers) > 20:
        return [(("params", "tiers"), "must be a list of 1 to 20 tiers {min, off}")]
    for i, tier in enumerate(tiers):
        if not isinstance(tier, dict) or set(tier) != {"min", "off"}:
            errors.append((("params", "tiers", i), "each tier is exactly {min, off}"))
            continue
        whole("min", tier["min"], 1, loc=("params", "tiers", i, "min"))
        whole("off", tier["off"], 1, loc=("params", "tiers", i, "off"))
    if errors:
        return errors
    for i, tier in enumerate(tiers):
        if tier["off"] > tier["min"]:
            errors.append((("params", "tiers", i, "off"), "cannot take off more than its min"))
        if i and tier["min"] <= tiers[i - 1]["min"]:
            errors.append((("params", "tiers", i, "min"), "tiers must go up: min above the last"))
        elif i and tier["off"] <= tiers[i - 1]["off"]:
            errors.append((("params", "tiers", i, "off"), "a higher tier must take off more"))
    return errors


# --- the scope index --------------------------------------------------------------


def scope_keys(scope: Scope) -> list[tuple[str, str]]:
    """Where a promotion is filed: the narrowest dimension its scope names
    (every line it can cover carries one of these keys)."""
    for dim, values in (("sku", scope.skus), ("merchant", scope.merchants)):
        if values:
            return sorted({(dim, str(v)) for v in values})
    for dim, values in (("category", scope.categories), ("tier", scope.tiers)):
        if values:
            return sorted({(dim, str(v)) for v in values})
    return [("all", "")]


def cart_keys(lines: Iterable[Line]) -> set[tuple[str, str]]:
    """Every key a line of the cart answers to, and `all`."""
    keys: set[tuple[str, str]] = {("all", "")}
    for ln in lines:
        keys.update({("sku", ln.sku), ("merchant", str(ln.merchant_id)), ("category", ln.category)})
        if ln.tier:
            keys.add(("tier", ln.tier))
    return keys


class OfferIndex:
    """Automatic offers filed by scope key, so that finding those that can
    touch a cart costs what the cart touches, not how many offers exist."""

    def __init__(self, offers: Iterable[Offer]) -> None:
        self._by_key: dict[tuple[str, str], list[Offer]] = {}
        for offer in offers:
            for key in offer.scope.keys:
                self._by_key.setdefault(key, []).append(offer)
        self._file_by_dimension()

    def _file_by_dimension(self) -> None:
        # The same lists, one map per dimension keyed by the line's own
        # value: a cart looks them up without building a key per line.
        self._all = self._by_key.get(("all", ""), [])
        self._sku: dict[str, list[Offer]] = {}
        self._merchant: dict[int, list[Offer]] = {}
        self._category: dict[str, list[Offer]] = {}
        self._tier: dict[str, list[Offer]] = {}
        for (dim, value), filed in self._by_key.items():
            if dim == "sku":
                self._sku[value] = filed
            elif dim == "merchant":
                self._merchant[int(value)] = filed
            elif dim == "category":
                self._category[value] = filed
            elif dim == "tier":
                self._tier[value] = filed

    def replaced(self, gone: Iterable[Offer], new: Iterable[Offer]) -> OfferIndex:
        """A copy without `gone` and with `new`; this one is left as it is
        (readers may be using it), and only the touched keys are copied."""
        out = OfferIndex(())
        out._by_key = dict(self._by_key)
        dropped: dict[tuple[str, str], set[int]] = {}
        for offer in gone:
            for key in offer.scope.keys:
                dropped.setdefault(key, set()).add(offer.id)
        for key, ids in dropped.items():
            kept = [o for o in out._by_key.get(key, ()) if o.id not in ids]
            if kept:
                out._by_key[key] = kept
            else:
                out._by_key.pop(key, None)
        copied: set[tuple[str, str]] = set(dropped)
        for offer in new:
            for key in offer.scope.keys:
                if key not in copied:
                    out._by_key[key] = list(out._by_key.get(key, ()))
                    copied.add(key)
                out._by_key.setdefault(key, []).append(offer)
        out._file_by_dimension()
        return out

    def touching(self, lines: Sequence[Line]) -> list[Offer]:
        """Every offer filed under a key of the cart (see `cart_keys`), by id."""
        found = {o.id: o for o in self._all}
        skus, merchants, categories, tiers = self._sku, self._merchant, self._category, self._tier
        for ln in lines:
            for filed in (
                skus.get(ln.sku),
                merchants.get(ln.merchant_id),
                categories.get(ln.category),
                tiers.get(ln.tier) if ln.tier else None,
            ):
                if filed:
                    for offer in filed:
                        found[offer.id] = offer
        return [found[i] for i in sorted(found)]
