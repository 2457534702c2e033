"""The risk guard at scale: app/promotions/risk.py gives engine.risk's
answer without probes × offers, and the guard loads only the promotions
that can stack with the one it checks — with the verdict of the old full
load (every promotion in the window), which these tests keep as the
reference."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.promotions import engine, repository, service
from app.promotions import risk as stacks
from app.promotions.engine import Depth, Offer, Probe, Scope
from app.promotions.models import Promotion
from app.promotions.risk import Stacker
from tests.factories import create_event
from tests.promotions.factories import create_merchant, create_promotion

CATEGORIES = ["a", "b", "c", ""]
# 41 categories (40 and "any") × a few SKUs that stand for the rest
PROBES_ASKED = 41 * 3
SKUS = ["x", "y", "z", "w"]
PARAMS = {
    "percent_off": st.sampled_from([1000, 2000, 3000, 5000]).map(lambda bp: {"percent_bp": bp}),
    "amount_off": st.sampled_from([0, 5000, 10000]).map(
        lambda spend: {"amount": 1000, "min_spend": spend}
    ),
    "threshold": st.sampled_from([1000, 2000, 3000]).map(
        lambda off: {"every": {"step": 10000, "off": off}}
    ),
    "buy_n_get_m": st.integers(1, 3).map(lambda buy: {"buy": buy, "get": 1}),
}


def maybe(values: list) -> st.SearchStrategy:
    return st.none() | st.lists(st.sampled_from(values), max_size=3, unique=True)


scopes = st.builds(
    lambda categories, skus, excluded, merchants: {
        k: v
        for k, v in {
            "categories": categories,
            "skus": skus,
            "exclude_skus": excluded,
            "merchants": merchants,
        }.items()
        if v is not None
    },
    maybe(CATEGORIES),
    maybe(SKUS),
    st.none() | st.lists(st.sampled_from([*SKUS[:3], "v"]), min_size=1, max_size=2, unique=True),
    st.none() | st.just([1]),
)


@st.composite
def offers(draw: st.DrawFn, oid: int) -> Offer:
    kind = draw(st.sampled_from(sorted(PARAMS)))
    return Offer(
        oid,
        kind,
        draw(st.sampled_from(["item", "store", "platform"])),
        draw(PARAMS[kind]),
        Scope.from_dict(draw(scopes)),
        coupon=draw(st.booleans()),
        exclusive=draw(st.integers(0, 6)) == 0,
    )


@st.composite
def sets(draw: st.DrawFn) -> tuple[Offer, list[Offer]]:
    ids = draw(st.lists(st.integers(1, 60), max_size=14, unique=True))
    others = [draw(offers(i)) for i in ids]
    return draw(offers(draw(st.sampled_from([0, 30, 100])))), others


def _order(depth: Depth) -> tuple:
    return (-depth.depth_bp, depth.probe.category or "", depth.probe.sku or "")


class TestSameAnswerAsTheEngine:
    @settings(max_examples=200, deadline=None)
    @given(sets())
    def test_every_row_and_the_worst_are_engine_risks(self, pair):
        target, others = pair
        expected = engine.risk(target, others)
        read = Stacker.of(target), [Stacker.of(o) for o in others]
        assert stacks.risk(*read) == expected
        assert stacks.worst(*read) == (expected[0] if expected else None)

    @settings(max_examples=200, deadline=None)
    @given(sets())
    def test_leaving_out_what_cannot_stack_keeps_the_worst_and_every_row_that_matters(self, pair):
        target, others = pair
        full = engine.risk(target, others)
        kept = [o for o in others if stacks.can_stack(Stacker.of(target), Stacker.of(o))]
        narrowed = engine.risk(target, kept)
        assert (narrowed[0] if narrowed else None) == (full[0] if full else None)
        rows = {d.probe: d for d in full}
        assert all(rows[d.probe] == d for d in narrowed)
        # A row left out is a category or SKU only promotions that cannot
        # stack name: it meets part of what its "*" row meets, which is
        # kept and ranks before it.
        kept_rows = {d.probe: d for d in narrowed}
        for probe, depth in rows.items():
            if probe in kept_rows:
                continue
            stars = [
                kept_rows.get(Probe(c, s))
                for c, s in ((None, probe.sku), (probe.category, None), (None, None))
            ]
            assert any(s is not None and _order(s) <= _order(depth) for s in stars), depth

    def test_a_store_promotion_among_thousands_of_sku_promotions_is_checked_at_once(self):
        # engine.risk asks 41 categories × 2,001 SKUs = 82,041 probes about
        # each of the 2,041 offers here: minutes. The files take milliseconds.
        rnd = random.Random(5)
        others = [
            Offer(i + 1, "percent_off", "item", {"percent_bp": 1000}, Scope.from_dict(scope))
            for i, scope in enumerate(
                [{"categories": [f"C{c}"]} for c in range(40)]
                + [{"skus": [f"S{s}"]} for s in range(2000)]
            )
        ]
        others[rnd.randrange(40, 2040)] = Offer(
            9000, "percent_off", "item", {"percent_bp": 6000}, Scope.from_dict({"skus": ["S77"]})
        )
        target = Offer(
            0,
            "threshold",
            "store",
            {"every": {"step": 10000, "off": 3000}},
            Scope.from_dict({"merchants": [1]}),
        )
        asked: list[tuple] = []
        depth = stacks.Stacks.depth

        def counted(self, category, sku):
            asked.append((category, sku))
            return depth(self, category, sku)

        with mock.patch.object(stacks.Stacks, "depth", counted):
            worst = stacks.worst(Stacker.of(target), [Stacker.of(o) for o in others])
        # The work, not the time: a few probes stand for the 82,041.
        assert 0 < len(asked) <= PROBES_ASKED, len(asked)
        assert worst == Depth(Probe(None, "S77"), 10000 - 4000 * 7000 // 10000, [9000, 0])


# --- through the database ---------------------------------------------------------------

START = datetime(2027, 11, 1, tzinfo=UTC)


def _random_body(rnd: random.Random, merchants: list[int], events: list[int]) -> dict:
    scope: dict = {}
    for name, values in (("categories", CATEGORIES[:3]), ("skus", SKUS)):
        if rnd.random() < 0.5:
            scope[name] = rnd.sample(values, rnd.randint(1, 2))
    if rnd.random() < 0.2:
        scope["exclude_skus"] = rnd.sample([*SKUS, "v"], 1)
    if rnd.random() < 0.3:
        scope["merchants"] = [rnd.choice(merchants)]
    if rnd.random() < 0.1:
        scope["tiers"] = ["head"]
    level = rnd.choice(["item", "store", "platform"])
    coupon = rnd.random() < 0.3
    if level == "store" and coupon:
        scope["merchants"] = [rnd.choice(merchants)]
    body = {
        "level": level,
        "coupon": coupon,
        "exclusive": rnd.random() < 0.1,
        "params": {"percent_bp": rnd.choice([500, 1000, 2000, 3000])},
        "scope": scope,
        "currency": rnd.choice(["CNY", "CNY", "CNY", "USD"]),
    }
    if rnd.random() < 0.2:  # its event's window (or phase); an ended event's does not count
        body["event_id"] = rnd.choice(events)
        if rnd.random() < 0.5:
            body["phase"] = rnd.choice(["presale", "peak", "encore"])
    elif rnd.random() < 0.5:
        starts = START + timedelta(days=rnd.randrange(20))
        body["starts_at"] = starts
        if rnd.random() < 0.7:
            body["ends_at"] = starts + timedelta(days=rnd.randint(1, 5))
    return body


def _full_load(session: Session, promotion: Promotion) -> tuple[list[Offer], list[Depth]]:
    """The guard before: every promotion in the window, then engine.risk."""
    context = service._Context(session)
    starts, ends = context.window(promotion)
    others = []
    for other in session.exec(select(Promotion).order_by(Promotion.id)):
        if (
            other.id == promotion.id
            or other.currency != promotion.currency
            or service._over(context, other)
        ):
            continue
        o_starts, o_ends = context.window(other)
        if (o_starts is None or ends is None or o_starts < ends) and (
            o_ends is None or starts is None or o_ends > starts
        ):
            others.append(service._offer(other, context))
    return others, engine.risk(service._offer(promotion, context), others)


class TestTheGuardLoadsOnlyWhatCanStack:
    def test_the_guard_and_the_risk_rows_agree_with_the_full_load(self, session: Session):
        merchants = [create_merchant(session).id for _ in range(3)]
        events = [
            create_event(session, starts_at=START + timedelta(days=d), status=status).id
            for d, status in ((3, "scheduled"), (12, "draft"), (6, "ended"))
        ]
        seen = {"breaks": 0, "left out": 0}
        for seed in range(4):
            rnd = random.Random(seed)
            made = [
                create_promotion(session, **_random_body(rnd, merchants, events)) for _ in range(30)
            ]
            for promotion in made:
                everyone, full = _full_load(session, promotion)
                context = service._Context(session)
                assert service._worst(session, context, promotion) == (full[0] if full else None)
                seen["left out"] += len(service._stack(session, context, promotion)[1]) < len(
                    everyone
                )
                read = service.risk(session, promotion_id=promotion.id)
                assert read.breaks == any(d.depth_bp > read.floor_bp for d in full)
                seen["breaks"] += read.breaks
                rows = {(d.probe.category or "*", d.probe.sku or "*"): d for d in full}
                for row in read.worst:  # every row it gives is the full load's
                    depth = rows[(row.category, row.sku)]
                    assert (row.depth_bp, row.promotion_ids) == (
                        depth.depth_bp,
                        depth.promotion_ids,
                    )
            for promotion in made:
                session.delete(promotion)
            session.flush()
        # The random sets did test something: stacks that break the floor,
        # and promotions the narrowed load left out.
        assert seen["breaks"] >= 10 and seen["left out"] >= 10, seen

    def test_a_sku_promotion_reads_neither_other_skus_nor_other_categories(self, session: Session):
        merchant = create_merchant(session)
        mine = create_promotion(session, scope={"skus": ["s1"]})
        other_sku = create_promotion(session, scope={"skus": ["s2"]})
        both = create_promotion(session, scope={"skus": ["s1", "s2"]})
        shop = create_promotion(session, scope={"merchants": [merchant.id]})
        shoes = create_promotion(session, scope={"categories": ["shoes"]})
        everything = create_promotion(session, level="platform")
        read = repository.stacking_candidates(
            session, currency="CNY", starts_at=None, ends_at=None, skus={"s1"}, categories={"bags"}
        )
        assert [r.id for r in read] == [mine.id, both.id, shop.id, everything.id]
        assert other_sku.id not in [r.id for r in read] and shoes.id not in [r.id for r in read]
