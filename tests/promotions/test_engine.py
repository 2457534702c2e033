"""The pricing engine on plain data: kinds, stacking, explanations, the exact
best combination (against brute force), and the risk depth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.promotions import engine
from app.promotions.engine import Code, Line, Offer, Probe, Reason, Scope

NOW = datetime(2027, 11, 11, 4, 0, tzinfo=UTC)


def line(lid="a", *, sku=None, merchant=1, category="shoes", price=10000, qty=1, tier=None):
    return Line(lid, sku or f"sku-{lid}", merchant, category, price, qty, tier)


def offer(oid, kind, level="item", *, scope=None, coupon=False, exclusive=False, **params):
    return Offer(
        oid, kind, level, params, Scope.from_dict(scope), coupon=coupon, exclusive=exclusive
    )


def applied(priced):
    return {a.promotion_id: a.amount for a in priced.applied}


def reasons(priced):
    return {(n.promotion_id, n.code): n.reason for n in priced.not_applied}


class TestKinds:
    def test_percent_off_rounds_each_line_down(self):
        lines = [line("a", price=999), line("b", price=1001)]
        priced = engine.quote(lines, [offer(1, "percent_off", percent_bp=2000)], now=NOW)
        assert priced.applied[0].lines == {"a": 199, "b": 200}
        assert priced.discount == 399 and priced.total == 2000 - 399

    def test_amount_off_is_capped_at_the_scoped_subtotal(self):
        priced = engine.quote([line(price=500)], [offer(1, "amount_off", amount=800)], now=NOW)
        assert priced.discount == 500 and priced.total == 0

    def test_amount_off_below_its_minimum_spend_says_by_how_much(self):
        priced = engine.quote(
            [line(price=500)], [offer(1, "amount_off", amount=100, min_spend=800)], now=NOW
        )
        (miss,) = priced.not_applied
        assert miss.reason == Reason.threshold_not_reached and miss.short_by == 300

    def test_tiered_threshold_takes_the_highest_tier_reached(self):
        tiers = [{"min": 20000, "off": 3000}, {"min": 40000, "off": 7000}]
        o = offer(1, "threshold", "store", tiers=tiers)
        assert engine.quote([line(price=39999)], [o], now=NOW).discount == 3000
        assert engine.quote([line(price=40000)], [o], now=NOW).discount == 7000
        miss = engine.quote([line(price=19000)], [o], now=NOW).not_applied[0]
        assert miss.reason == Reason.threshold_not_reached and miss.short_by == 1000

    def test_repeating_threshold_counts_full_steps_up_to_its_cap(self):
        o = offer(1, "threshold", "platform", every={"step": 30000, "off": 5000, "cap": 10000})
        assert engine.quote([line(price=59999)], [o], now=NOW).discount == 5000
        assert engine.quote([line(price=90000)], [o], now=NOW).discount == 10000

    def test_buy_two_get_one_frees_the_cheapest_of_each_group_pooled_across_lines(self):
        lines = [line("a", price=3000, qty=2), line("b", price=1000, qty=2)]
        priced = engine.quote(lines, [offer(1, "buy_n_get_m", buy=2, get=1)], now=NOW)
        # units 3000 3000 1000 | 1000: one full group, its cheapest (1000) is free
        assert priced.discount == 1000 and priced.applied[0].lines == {"b": 1000}

    def test_a_split_sums_to_its_amount_by_largest_remainder(self):
        lines = [line("a", price=100), line("b", price=100), line("c", price=100)]
        priced = engine.quote(lines, [offer(1, "amount_off", "store", amount=100)], now=NOW)
        split = priced.applied[0].lines
        assert sum(split.values()) == 100 and sorted(split.values()) == [33, 33, 34]


class TestStacking:
    def test_stages_run_item_then_store_then_platform_on_what_is_left(self):
        lines = [line("a", price=50000)]
        offers = [
            offer(1, "percent_off", percent_bp=2000),  # 10000 off: 40000 left
            offer(2, "threshold", "store", tiers=[{"min": 40000, "off": 5000}]),  # 35000 left
            offer(3, "threshold", "platform", every={"step": 30000, "off": 5000}),
        ]
        priced = engine.quote(lines, offers, now=NOW)
        assert applied(priced) == {1: 10000, 2: 5000, 3: 5000}
        assert priced.total == 30000

    def test_one_item_promotion_per_line_the_best_one(self):
        lines = [line("a", price=10000), line("b", price=10000, category="bags")]
        offers = [
            offer(1, "percent_off", percent_bp=1000),
            offer(2, "percent_off", percent_bp=3000, scope={"categories": ["bags"]}),
        ]
        priced = engine.quote(lines, offers, now=NOW)
        assert priced.applied[0].lines == {"a": 1000}
        assert {a.promotion_id: a.lines for a in priced.applied} == {
            1: {"a": 1000},
            2: {"b": 3000},
        }

    def test_only_one_automatic_store_promotion_per_merchant(self):
        offers = [
            offer(1, "amount_off", "store", amount=1000),
            offer(2, "amount_off", "store", amount=2000),
        ]
        priced = engine.quote([line()], offers, now=NOW)
        assert applied(priced) == {2: 2000}
        assert reasons(priced)[(1, None)] == Reason.stacking_limit

    def test_an_exclusive_promotion_shuts_others_out_of_its_lines_only(self):
        lines = [line("a", category="shoes"), line("b", category="bags")]
        offers = [
            offer(
                1, "percent_off", exclusive=True, percent_bp=5000, scope={"categories": ["shoes"]}
            ),
            offer(2, "percent_off", "platform", percent_bp=1000),
        ]
        priced = engine.quote(lines, offers, now=NOW)
        assert {a.promotion_id: a.lines for a in priced.applied} == {
            1: {"a": 5000},
            2: {"b": 1000},
        }

    def test_out_of_scope_and_not_active_are_explained(self):
        later = Offer(
            2, "percent_off", "item", {"percent_bp": 1000}, starts_at=NOW + timedelta(days=1)
        )
        out = offer(1, "percent_off", percent_bp=1000, scope={"skus": ["nope"]}, coupon=True)
        priced = engine.quote([line()], [later, out], [Code("C1", 1), Code("ZZ", None)], now=NOW)
        got = reasons(priced)
        assert got[(2, None)] == Reason.not_active
        assert got[(1, "C1")] == Reason.out_of_scope
        assert got[(None, "ZZ")] == Reason.unknown_code

    def test_two_store_coupons_of_one_merchant_use_the_better(self):
        coupons = [
            offer(1, "amount_off", "store", coupon=True, amount=500, scope={"merchants": [1]}),
            offer(2, "amount_off", "store", coupon=True, amount=900, scope={"merchants": [1]}),
        ]
        priced = engine.quote([line()], coupons, [Code("A", 1), Code("B", 2)], now=NOW)
        assert applied(priced) == {2: 900}
        assert reasons(priced)[(1, "A")] == Reason.stacking_limit


class TestBest:
    def test_knapsack_case_where_the_biggest_store_coupon_loses(self):
        # Platform coupon: 30000 off once what is left reaches 100000.
        # The big store coupon (2000) drops the cart under the platform
        # threshold; the small one (500) keeps it: greedy loses 27500.
        lines = [line("a", price=101000)]
        offers = [
            offer(1, "amount_off", "store", coupon=True, amount=2000, scope={"merchants": [1]}),
            offer(2, "amount_off", "store", coupon=True, amount=500, scope={"merchants": [1]}),
            offer(3, "threshold", "platform", coupon=True, tiers=[{"min": 100000, "off": 30000}]),
        ]
        codes = [Code("BIG", 1), Code("SMALL", 2), Code("PLAT", 3)]
        priced = engine.quote(lines, offers, codes, now=NOW, best=True)
        assert applied(priced) == {2: 500, 3: 30000}
        assert reasons(priced)[(1, "BIG")] == Reason.not_best
        assert priced.total == engine.brute_force_best(lines, offers, codes, now=NOW)


# --- property tests -------------------------------------------------------------

prices = st.integers(min_value=1, max_value=40000)


@st.composite
def carts(draw):
    n = draw(st.integers(1, 4))
    return [
        Line(
            f"l{i}",
            f"s{draw(st.integers(0, 3))}",
            draw(st.integers(1, 2)),
            draw(st.sampled_from(["shoes", "bags"])),
            draw(prices),
            draw(st.integers(1, 3)),
        )
        for i in range(n)
    ]


@st.composite
def params_for(draw, kind):
    if kind == "percent_off":
        return {"percent_bp": draw(st.integers(1, 10000))}
    if kind == "amount_off":
        return {"amount": draw(st.integers(1, 20000)), "min_spend": draw(st.integers(0, 60000))}
    if kind == "threshold":
        if draw(st.booleans()):
            first = draw(st.integers(1000, 50000))
            off = draw(st.integers(100, first))
            return {"tiers": [{"min": first, "off": off}, {"min": first * 2, "off": off * 2}]}
        step = draw(st.integers(1000, 40000))
        return {"every": {"step": step, "off": draw(st.integers(1, step))}}
    return {"buy": draw(st.integers(1, 3)), "get": draw(st.integers(1, 2))}


@st.composite
def offers_and_codes(draw):
    offers, codes = [], []
    for oid in range(1, draw(st.integers(1, 7)) + 1):
        coupon = draw(st.booleans())
        level = draw(st.sampled_from(engine.LEVELS))
        kind = draw(st.sampled_from(engine.KINDS if level == "item" else engine.KINDS[:3]))
        scope: dict = {}
        if level == "store" and coupon:
            scope["merchants"] = [draw(st.integers(1, 2))]
        if draw(st.integers(0, 3)) == 0:
            scope["categories"] = [draw(st.sampled_from(["shoes", "bags"]))]
        offers.append(
            offer(
                oid,
                kind,
                level,
                scope=scope,
                coupon=coupon,
                exclusive=draw(st.integers(0, 5)) == 0,
                **draw(params_for(kind)),
            )
        )
        if coupon:
            codes.append(Code(f"C{oid}", oid))
    return offers, codes


def check_invariants(lines, priced):
    assert priced.total == priced.subtotal - priced.discount
    assert priced.discount == sum(a.amount for a in priced.applied)
    for a in priced.applied:
        assert a.amount > 0 and sum(a.lines.values()) == a.amount
        assert all(v > 0 for v in a.lines.values())
    for ln in lines:
        taken = sum(a.lines.get(ln.id, 0) for a in priced.applied)
        assert 0 <= taken <= ln.amount
        assert priced.line_totals[ln.id] == ln.amount - taken


class TestProperties:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(carts(), offers_and_codes())
    def test_best_matches_brute_force_over_every_subset(self, lines, pair):
        offers, codes = pair
        priced = engine.quote(lines, offers, codes, now=NOW, best=True)
        check_invariants(lines, priced)
        assert priced.total == engine.brute_force_best(lines, offers, codes, now=NOW)

    @settings(max_examples=200, deadline=None)
    @given(carts(), offers_and_codes())
    def test_every_quote_keeps_the_invariants(self, lines, pair):
        offers, codes = pair
        check_invariants(lines, engine.quote(lines, offers, codes, now=NOW))


class TestRisk:
    def test_stacked_depth_compounds_one_promotion_per_slot(self):
        item = offer(1, "percent_off", percent_bp=5000)
        store = offer(2, "threshold", "store", tiers=[{"min": 10000, "off": 2000}])
        platform = offer(
            3, "threshold", "platform", coupon=True, every={"step": 30000, "off": 5000}
        )
        worst = engine.worst_depth(Probe("shoes", None), [item, store, platform])
        # 50 % → 20 % of what is left → 16.67 % (rounded up) of what is left
        assert worst.depth_bp == 10000 - 5000 * 8000 // 10000 * 8333 // 10000
        assert worst.promotion_ids == [1, 2, 3]

    def test_an_amount_off_without_a_minimum_can_take_an_item_to_zero(self):
        assert engine.depth_bp(offer(1, "amount_off", amount=100)) == 10000

    def test_probes_follow_the_scopes_the_target_reaches(self):
        target = offer(1, "percent_off", percent_bp=3000, scope={"categories": ["shoes"]})
        other = offer(2, "percent_off", "platform", percent_bp=6000, scope={"skus": ["x"]})
        depths = engine.risk(target, [other])
        assert depths[0].probe == Probe("shoes", "x") and depths[0].promotion_ids == [1, 2]
        assert {d.probe for d in depths} == {Probe("shoes", None), Probe("shoes", "x")}


class TestOfferIndex:
    def test_a_cart_finds_the_offers_filed_under_its_keys_and_the_global_ones(self):
        offers = [
            offer(1, "percent_off", percent_bp=100, scope={"skus": ["a"]}),
            offer(2, "percent_off", percent_bp=100, scope={"merchants": [7]}),
            offer(3, "percent_off", percent_bp=100, scope={"categories": ["bags"]}),
            offer(4, "percent_off", "platform", percent_bp=100),
            offer(5, "percent_off", percent_bp=100, scope={"skus": ["zzz"]}),
        ]
        index = engine.OfferIndex(offers)
        found = index.touching([line("x", sku="a", merchant=7, category="shoes")])
        assert sorted(o.id for o in found) == [1, 2, 4]

    def test_a_replaced_index_moves_changed_offers_and_leaves_the_old_one_as_it_was(self):
        before = [
            offer(1, "percent_off", percent_bp=100, scope={"skus": ["a"]}),
            offer(2, "percent_off", percent_bp=100, scope={"skus": ["a", "b"]}),
            offer(3, "percent_off", "platform", percent_bp=100),
        ]
        index = engine.OfferIndex(before)
        moved = offer(2, "percent_off", percent_bp=200, scope={"categories": ["bags"]})
        added = offer(4, "percent_off", percent_bp=100, scope={"skus": ["b"]})
        after = index.replaced([before[1], before[2]], [moved, added])
        cart_a = [line("x", sku="a", category="shoes")]
        cart_b = [line("y", sku="b", category="bags")]
        assert sorted(o.id for o in after.touching(cart_a)) == [1]
        assert sorted((o.id, o.params["percent_bp"]) for o in after.touching(cart_b)) == [
            (2, 200),
            (4, 100),
        ]
        assert sorted(o.id for o in index.touching(cart_a)) == [1, 2, 3]
        assert sorted(o.id for o in index.touching(cart_b)) == [2, 3]
