"""The risk guard at scale (pure): which promotions can stack with a
target, and `engine.risk`'s answer without asking every probe about every
offer.

`engine.risk` pairs every probe (each category × each SKU named anywhere)
with every offer: probes × offers, which is hours once a target reaches
every SKU (a store or platform promotion among 10,000 SKU promotions). Here
each offer is filed once by what its scope names — nothing (`wide`), its
categories only, its SKUs only, or both — each file keeps its offers per
stacking slot, deepest first, and a probe combines the heads of the few
files it meets. The probes, their order, their depths and their stacks are
`engine.risk`'s (tests/promotions/test_risk_scale.py compares them on
random sets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from app.promotions.engine import BP, SLOTS, Depth, Offer, Probe, depth_bp

# A file's offers per stacking slot (SLOTS' order), then the exclusive ones.
EXCLUSIVE = len(SLOTS)
# An offer at the head of a slot: compared as engine.worst_depth chooses —
# the deepest, then (slots) the lowest id or (exclusive) the first offered.
# (depth_bp, tie-break, offer id)
_Entry = tuple[int, int, int]
_NONE: tuple[_Entry | None, ...] = (None,) * (EXCLUSIVE + 1)
_NO_IDS: frozenset[int] = frozenset()


# --- who can stack ----------------------------------------------------------------


class Stacker(NamedTuple):
    """A promotion as the risk check reads it: its stacking slot, its depth
    and the categories and SKUs it reaches (None: any; merchants and tiers
    are not probed: any shop may sell any SKU). A tuple: made 100,000 times
    when everything can stack, and a frozen dataclass takes thrice as long."""

    id: int
    level: str
    coupon: bool
    exclusive: bool
    depth_bp: int
    categories: frozenset[str] | None
    skus: frozenset[str] | None
    exclude_skus: frozenset[str]

    @classmethod
    def of(cls, offer: Offer) -> Stacker:
        scope = offer.scope
        return cls(
            offer.id,
            offer.level,
            offer.coupon,
            offer.exclusive,
            depth_bp(offer),
            scope.categories,
            scope.skus,
            scope.exclude_skus,
        )

    @classmethod
    def of_row(cls, row: Any) -> Stacker:
        """From a promotion's row (or model), reading its scope as
        Scope.from_dict does without building a Scope: the scope's index
        keys, which a Scope derives at once, would cost more than the rest
        of the check when 100,000 promotions can stack."""
        scope = row.scope or {}
        return cls(
            row.id,
            row.level,
            row.coupon,
            row.exclusive,
            depth_bp(row),  # reads `kind` and `params` only
            _names(scope.get("categories")),
            _names(scope.get("skus")),
            frozenset(scope.get("exclude_skus") or ()),
        )


def _names(values: Iterable[Any] | None) -> frozenset | None:
    return None if values is None else frozenset(values)


def can_stack(a: Stacker, b: Stacker) -> bool:
    """Whether some probe engine.risk could ask about `a` also hits `b`: a
    category both reach and a SKU both reach. Leaving out the promotions
    for which this is false changes nothing in `engine.risk(a, ...)` but
    rows for categories or SKUs only they name, each of which meets part of
    what its "*" row meets (so never goes deeper, nor ranks first)."""
    return _categories_meet(a, b) and _skus_meet(a, b)


def _categories_meet(a: Stacker, b: Stacker) -> bool:
    if a.categories is None:
        return b.categories is None or bool(b.categories)
    if b.categories is None:
        return bool(a.categories)
    return not a.categories.isdisjoint(b.categories)


def _skus_meet(a: Stacker, b: Stacker) -> bool:
    if a.skus is None and b.skus is None:
        return True  # the "any other SKU" probe, which nothing excludes
    if a.skus is None:
        both = b.skus
    elif b.skus is None:
        both = a.skus
    else:
        both = a.skus & b.skus
    if not a.exclude_skus and not b.exclude_skus:
        return bool(both)
    excluded = a.exclude_skus | b.exclude_skus
    return any(sku not in excluded for sku in both)


# --- files of offers -------------------------------------------------------------------


class _File:
    """Offers filed together, per slot, deepest first."""

    __slots__ = ("slots",)

    def __init__(self) -> None:
        # Most files hold one offer: a list only for the slots in use.
        self.slots: dict[int, list[_Entry]] = {}

    def add(self, slot: int, entry: _Entry) -> None:
        self.slots.setdefault(slot, []).append(entry)

    def seal(self) -> _File:
        for entries in self.slots.values():
            entries.sort(reverse=True)
        return self

    def heads(self, excluded: frozenset[int] | set[int]) -> tuple[_Entry | None, ...]:
        """The deepest offer of each slot that does not exclude the probe's SKU."""
        slots = self.slots
        if not excluded:
            return tuple(slots[i][0] if i in slots else None for i in range(EXCLUSIVE + 1))
        return tuple(
            next((e for e in slots.get(i, ()) if e[2] not in excluded), None)
            for i in range(EXCLUSIVE + 1)
        )


def _merge(*heads: tuple[_Entry | None, ...]) -> tuple[_Entry | None, ...]:
    """Slot by slot, the deeper head."""
    return tuple(
        max((e for e in column if e is not None), default=None)
        for column in zip(*heads, strict=True)
    )


def _settle(probe: Probe, heads: tuple[_Entry | None, ...]) -> Depth:
    """engine.worst_depth from the slots' heads: the heads compounded in
    slot order, or the deepest exclusive offer alone when it goes deeper."""
    left = BP
    stack: list[int] = []
    for entry in heads[:EXCLUSIVE]:
        if entry is not None:
            left = left * (BP - entry[0]) // BP
            stack.append(entry[2])
    exclusive = heads[EXCLUSIVE]
    if exclusive is not None and exclusive[0] > BP - left:
        return Depth(probe, exclusive[0], [exclusive[2]])
    return Depth(probe, BP - left, stack)


# (level, coupon) → its slot's index in SLOTS (a coupon of None there: either).
_SLOT_OF = {
    (level, c): index
    for index, (level, coupon) in enumerate(SLOTS)
    for c in ((False, True) if coupon is None else (coupon,))
}


def _slot(offer: Stacker) -> int | None:
    """Its slot's index; None for a level no slot takes (it never stacks)."""
    if offer.exclusive:
        return EXCLUSIVE
    return _SLOT_OF.get((offer.level, offer.coupon))


def _probe_order(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _row_order(depth: Depth) -> tuple[int, str, str]:
    """engine.risk's order of its rows (a stable sort of the probes)."""
    return (-depth.depth_bp, depth.probe.category or "", depth.probe.sku or "")


class Stacks:
    """`target` and the offers beside it, filed for probing."""

    def __init__(self, target: Stacker, others: Sequence[Stacker]) -> None:
        self.target = target
        everyone = [target, *[o for o in others if o.id != target.id]]
        self._wide = _File()
        self._by_category: dict[str, _File] = {}
        self._by_sku: dict[str, _File] = {}
        # Offers naming categories and SKUs both, by SKU: few, checked one by one.
        self._both: dict[str, list[tuple[Stacker, int, _Entry]]] = {}
        self._excluders: dict[str, set[int]] = {}
        for position, offer in enumerate(everyone):
            self._file(offer, position)
        for file in (self._wide, *self._by_category.values(), *self._by_sku.values()):
            file.seal()
        named = [target, *others]
        self.categories = self._reached(
            {c for o in named for c in o.categories or ()}, self._reaches_category
        )
        self.skus = self._reached({s for o in named for s in o.skus or ()}, self._reaches_sku)
        self._wide_heads = self._wide.heads(_NO_IDS)
        self._category_heads: dict[str | None, tuple[_Entry | None, ...]] = {}

    def _file(self, offer: Stacker, position: int) -> None:
        slot = _slot(offer)
        for sku in offer.exclude_skus:
            self._excluders.setdefault(sku, set()).add(offer.id)
        if slot is None:
            return
        entry = (offer.depth_bp, -position if slot == EXCLUSIVE else -offer.id, offer.id)
        if offer.categories is None and offer.skus is None:
            self._wide.add(slot, entry)
        elif offer.skus is None:
            for category in offer.categories:
                self._by_category.setdefault(category, _File()).add(slot, entry)
        elif offer.categories is None:
            for sku in offer.skus:
                self._by_sku.setdefault(sku, _File()).add(slot, entry)
        else:
            for sku in offer.skus:
                self._both.setdefault(sku, []).append((offer, slot, entry))

    def _reached(self, named: set[str], reaches: Callable[[str | None], bool]) -> list[str | None]:
        """`named` and the wildcard (None), in engine.probes_for's order, as
        far as the target reaches them."""
        return [v for v in sorted({None, *named}, key=_probe_order) if reaches(v)]

    def _reaches_category(self, category: str | None) -> bool:
        categories = self.target.categories
        return categories is None or (category is not None and category in categories)

    def _reaches_sku(self, sku: str | None) -> bool:
        target = self.target
        if sku is not None and sku in target.exclude_skus:
            return False
        return target.skus is None or (sku is not None and sku in target.skus)

    # --- one probe ---

    def _heads_of_category(self, category: str | None) -> tuple[_Entry | None, ...]:
        """Wide offers and those filed under `category`, nothing excluded."""
        if category not in self._category_heads:
            file = self._by_category.get(category) if category is not None else None
            self._category_heads[category] = (
                _merge(self._wide_heads, file.heads(_NO_IDS)) if file else self._wide_heads
            )
        return self._category_heads[category]

    def _heads_of_sku(self, category: str | None, sku: str) -> tuple[_Entry | None, ...]:
        """What only a SKU's probes meet: its file and its category+SKU offers."""
        excluded = self._excluders.get(sku, _NO_IDS)
        file = self._by_sku.get(sku)
        heads = file.heads(excluded) if file else _NONE
        both = self._both.get(sku)
        if both and category is not None:
            extra = _File()
            for offer, slot, entry in both:
                if category in offer.categories and sku not in offer.exclude_skus:
                    extra.add(slot, entry)
            heads = _merge(heads, extra.seal().heads(_NO_IDS))
        return heads

    def depth(self, category: str | None, sku: str | None) -> Depth:
        """engine.worst_depth(Probe(category, sku), [target, *others])."""
        probe = Probe(category, sku)
        if sku is None:
            return _settle(probe, self._heads_of_category(category))
        excluded = self._excluders.get(sku)
        if excluded:
            file = self._by_category.get(category) if category is not None else None
            base = _merge(self._wide.heads(excluded), file.heads(excluded) if file else _NONE)
        else:
            base = self._heads_of_category(category)
        return _settle(probe, _merge(base, self._heads_of_sku(category, sku)))

    # --- every probe, or the worst ---

    def all(self) -> list[Depth]:
        """engine.risk(target, others): every probe `target` reaches, deepest first."""
        depths = [self.depth(c, s) for c in self.categories for s in self.skus]
        depths.sort(key=_row_order)
        return depths

    def worst(self) -> Depth | None:
        """engine.risk(target, others)[0], asking only the probes that can be
        it: SKUs whose probes differ only by their own file's depths give the
        same depth with every category, so the first of each kind stands
        for them all."""
        skus = self._distinct_skus()
        best: Depth | None = None
        for category in self.categories:
            for sku in skus:
                depth = self.depth(category, sku)
                if best is None or _row_order(depth) < _row_order(best):
                    best = depth
        return best

    def _distinct_skus(self) -> list[str | None]:
        """The SKUs `target` reaches, keeping of those whose probes meet
        nothing but their own file (no exclusion, no category+SKU offer)
        only the first with each set of slot depths."""
        kept: list[str | None] = []
        seen: set[tuple[int, ...]] = set()
        for sku in self.skus:  # in probe order: the first kept is the one engine.risk ranks first
            if sku is None or sku in self._excluders or sku in self._both:
                kept.append(sku)
                continue
            file = self._by_sku.get(sku)
            kind = tuple(
                -1 if e is None else e[0] for e in (file.heads(_NO_IDS) if file else _NONE)
            )
            if kind not in seen:
                seen.add(kind)
                kept.append(sku)
        return kept


def risk(target: Stacker, others: Sequence[Stacker]) -> list[Depth]:
    """engine.risk(target, others), by files instead of probes × offers."""
    return Stacks(target, others).all()


def worst(target: Stacker, others: Sequence[Stacker]) -> Depth | None:
    """engine.risk(target, others)[0] (None when `target` reaches no probe)."""
    return Stacks(target, others).worst()
