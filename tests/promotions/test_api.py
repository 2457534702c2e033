"""Promotions, codes, quotes, redemptions and risk through HTTP, on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.promotions import service
from app.promotions.models import PromotionBudget
from tests.factories import create_event
from tests.problems import assert_problem as problem
from tests.promotions.factories import create_codes, create_merchant, create_promotion

DURING = datetime(2027, 11, 10, 20, 0, tzinfo=UTC)  # inside create_event's peak phase


def locs(body: dict) -> set[tuple]:
    return {tuple(e["loc"]) for e in body["errors"]}


def cart(*lines, codes=(), best=False, customer="c1", **extra):
    return {
        "customer_id": customer,
        "currency": "CNY",
        "lines": [
            {
                "id": str(i),
                "sku": sku,
                "merchant_id": merchant,
                "category": category,
                "unit_price": price,
                "quantity": qty,
            }
            for i, (sku, merchant, category, price, qty) in enumerate(lines, 1)
        ],
        "coupon_codes": list(codes),
        "best": best,
        **extra,
    }


SHOES = ("SKU-1", 1, "shoes", 30000, 1)


def sold_by(merchant_id: int, line: tuple = SHOES) -> tuple:
    """`line` sold by another merchant."""
    return (line[0], merchant_id, *line[2:])


class TestPromotionRules:
    def test_create_read_list_and_etag(self, client: TestClient, planner, session: Session):
        event = create_event(session)
        body = {
            "name": "D11 peak 8折",
            "event_id": event.id,
            "phase": "peak",
            "kind": "percent_off",
            "level": "item",
            "params": {"percent_bp": 2000},
            "scope": {"categories": ["shoes"]},
            "budget": {"max_redemptions": 10, "per_customer": 1},
        }
        created = client.post("/api/v1/promotions", json=body, headers=planner)
        assert created.status_code == 201, created.text
        promo = created.json()
        assert promo["budget"] == {
            "total_amount": None,
            "max_redemptions": 10,
            "per_customer": 1,
            "redemptions": 0,
            "spent": 0,
        }
        got = client.get(f"/api/v1/promotions/{promo['id']}", headers=planner)
        assert got.headers["etag"] == '"1"'
        listed = client.get(f"/api/v1/promotions?event_id={event.id}", headers=planner).json()
        assert [p["id"] for p in listed["items"]] == [promo["id"]]

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"params": {"percent_bp": 12000}}, ("body", "params", "percent_bp")),
            ({"params": {"percent": 20}}, ("body", "params", "percent")),
            (
                {
                    "kind": "threshold",
                    "level": "store",
                    "params": {"tiers": [{"min": 40000, "off": 7000}, {"min": 20000, "off": 3000}]},
                },
                ("body", "params", "tiers", 1, "min"),
            ),
            (
                {"kind": "amount_off", "params": {"amount": 500, "currency": "USD"}},
                ("body", "params", "currency"),
            ),
            (
                {"kind": "buy_n_get_m", "level": "platform", "params": {"buy": 2, "get": 1}},
                ("body", "level"),
            ),
            (
                {"level": "store", "coupon": True, "scope": {"categories": ["shoes"]}},
                ("body", "scope", "merchants"),
            ),
            ({"phase": "afterparty"}, ("body", "phase")),
            ({"starts_at": "2027-12-01T00:00:00"}, ("body", "starts_at")),
            ({"colour": "red"}, ("body", "colour")),
            ({"currency": "cny"}, ("body", "currency")),
            ({"currency": "XYZ"}, ("body", "currency")),
            (
                {"level": "store", "scope": {"merchants": [2**31 - 1]}},
                ("body", "scope", "merchants"),
            ),
        ],
    )
    def test_nonsense_is_refused_naming_the_field(
        self, client: TestClient, planner, session: Session, overrides, loc
    ):
        event = create_event(session)
        body = {
            "name": "x",
            "event_id": event.id,
            "kind": "percent_off",
            "level": "item",
            "params": {"percent_bp": 1000},
            **overrides,
        }
        response = client.post("/api/v1/promotions", json=body, headers=planner)
        assert loc in locs(problem(response, 422))

    def test_an_unknown_currency_or_merchant_is_named(
        self, client: TestClient, planner, session: Session
    ):
        shop = create_merchant(session)
        session.commit()
        body = {"name": "x", "kind": "percent_off", "level": "store", "params": {"percent_bp": 100}}
        unknown = {**body, "scope": {"merchants": [shop.id, 2**31 - 2, 2**31 - 1]}}
        refused = problem(client.post("/api/v1/promotions", json=unknown, headers=planner), 422)
        assert refused["errors"] == [
            {"loc": ["body", "scope", "merchants"], "msg": f"no merchant {2**31 - 2}, {2**31 - 1}"}
        ]
        made = client.post(
            "/api/v1/promotions", json={**body, "scope": {"merchants": [shop.id]}}, headers=planner
        )
        assert made.status_code == 201, made.text
        moved = client.patch(
            f"/api/v1/promotions/{made.json()['id']}",
            json={"scope": {"merchants": [2**31 - 1]}},
            headers=planner,
        )
        assert locs(problem(moved, 422)) == {("body", "scope", "merchants")}
        xyz = problem(
            client.post("/api/v1/quote", json=cart(SHOES, currency="XYZ"), headers=planner), 422
        )
        assert locs(xyz) == {("body", "currency")} and "ISO 4217" in xyz["errors"][0]["msg"]

    def test_a_naive_window_is_read_in_the_events_zone(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session, timezone="America/New_York")
        body = {
            "name": "x",
            "event_id": event.id,
            "starts_at": "2027-11-10T09:00:00",
            "kind": "percent_off",
            "level": "item",
            "params": {"percent_bp": 1000},
        }
        created = client.post("/api/v1/promotions", json=body, headers=planner).json()
        assert created["starts_at"] == "2027-11-10T14:00:00Z"

    def test_a_window_inside_an_event_moves_with_a_shift_on_the_wall_clock(
        self, client: TestClient, planner, admin, session: Session
    ):
        # New York leaves daylight saving time on 2027-11-07: a day later on the
        # wall clock is 25 hours later, and 09:00 must stay 09:00.
        event = create_event(
            session, timezone="America/New_York", starts_at=datetime(2027, 11, 6, 4, tzinfo=UTC)
        )
        session.commit()
        rule = {"kind": "percent_off", "level": "item", "params": {"percent_bp": 1000}}
        windowed = client.post(
            "/api/v1/promotions",
            json={"name": "morning", "event_id": event.id, **rule,
                  "starts_at": "2027-11-06T09:00:00", "ends_at": "2027-11-06T21:00:00"},
            headers=planner,
        ).json()  # fmt: skip
        phased = client.post(
            "/api/v1/promotions",
            json={"name": "peak", "event_id": event.id, "phase": "peak", **rule},
            headers=planner,
        ).json()
        shifted = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "P1D"}, headers=planner
        )
        assert shifted.status_code == 200, shifted.text
        moved = client.get(f"/api/v1/promotions/{windowed['id']}", headers=planner).json()
        assert (moved["starts_at"], moved["ends_at"]) == (
            "2027-11-07T14:00:00Z",
            "2027-11-08T02:00:00Z",
        )
        assert moved["version"] == windowed["version"] + 1
        kept = client.get(f"/api/v1/promotions/{phased['id']}", headers=planner).json()
        assert (kept["phase"], kept["starts_at"], kept["version"]) == ("peak", None, 1)
        trail = client.get(
            "/api/v1/audit",
            params={"resource_type": "promotion", "resource_id": windowed["id"]},
            headers=admin,
        )
        assert trail.status_code == 200, trail.text
        assert [r["action"] for r in trail.json()["items"]].count("promotion.update") == 1

    def test_a_shift_into_a_spring_forward_gap_keeps_the_window_inside_the_event(
        self, client: TestClient, planner, session: Session
    ):
        # 02:50 on 2027-03-14 does not exist in New York: the event starts at
        # 03:50 EDT, while 03:05 stays 03:05 — the window is kept inside.
        event = create_event(
            session,
            timezone="America/New_York",
            starts_at=datetime(2027, 3, 13, 7, 50, tzinfo=UTC),
            ends_at=datetime(2027, 3, 14, 4, tzinfo=UTC),
            phases=[],
        )
        session.commit()
        rule = {"kind": "percent_off", "level": "item", "params": {"percent_bp": 1000}}
        made = client.post(
            "/api/v1/promotions",
            json={"name": "early", "event_id": event.id, **rule,
                  "starts_at": "2027-03-13T03:05:00", "ends_at": "2027-03-13T22:00:00"},
            headers=planner,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        shifted = client.post(
            f"/api/v1/events/{event.id}/shift", json={"by": "P1D"}, headers=planner
        ).json()
        moved = client.get(f"/api/v1/promotions/{made.json()['id']}", headers=planner).json()
        assert shifted["starts_at"] == "2027-03-14T03:50:00-04:00"
        assert moved["starts_at"] == "2027-03-14T07:50:00Z"  # the event's start, not 07:05Z
        renamed = client.patch(
            f"/api/v1/promotions/{made.json()['id']}", json={"name": "still valid"}, headers=planner
        )
        assert renamed.status_code == 200, renamed.text

    def test_a_stale_if_match_is_412_and_a_viewer_cannot_write(
        self, client: TestClient, planner, viewer, session: Session
    ):
        promo = create_promotion(session)
        session.commit()
        url = f"/api/v1/promotions/{promo.id}"
        ok = client.patch(url, json={"name": "renamed"}, headers={**planner, "If-Match": '"1"'})
        assert ok.status_code == 200 and ok.json()["version"] == 2
        problem(client.patch(url, json={"name": "x"}, headers={**planner, "If-Match": '"1"'}), 412)
        problem(client.patch(url, json={"name": "x"}, headers=viewer), 403)

    def test_patching_one_budget_limit_keeps_the_others(
        self, client: TestClient, planner, session: Session
    ):
        promo = create_promotion(
            session, budget={"total_amount": 5000, "max_redemptions": 3, "per_customer": 1}
        )
        session.commit()
        url = f"/api/v1/promotions/{promo.id}"
        patched = client.patch(url, json={"budget": {"max_redemptions": 5}}, headers=planner)
        assert patched.status_code == 200, patched.text
        budget = patched.json()["budget"]
        assert (budget["total_amount"], budget["max_redemptions"], budget["per_customer"]) == (
            5000,
            5,
            1,
        )
        lifted = client.patch(url, json={"budget": None}, headers=planner).json()["budget"]
        assert (lifted["total_amount"], lifted["max_redemptions"], lifted["per_customer"]) == (
            None,
            None,
            None,
        )

    def test_a_redeemed_promotion_cannot_be_deleted(
        self, client: TestClient, planner, session: Session
    ):
        promo = create_promotion(session)
        session.commit()
        assert (
            client.post(
                "/api/v1/redemptions", json={**cart(SHOES), "order_id": "o1"}, headers=planner
            ).status_code
            == 201
        )
        problem(client.delete(f"/api/v1/promotions/{promo.id}", headers=planner), 409)
        unused = create_promotion(session, scope={"skus": ["nothing"]})
        session.commit()
        assert client.delete(f"/api/v1/promotions/{unused.id}", headers=planner).status_code == 204
        problem(client.get(f"/api/v1/promotions/{unused.id}", headers=planner), 404)


class TestCodes:
    def test_codes_are_unique_readable_and_exported_as_csv(
        self, client: TestClient, planner, session: Session
    ):
        promo = create_promotion(session, coupon=True)
        session.commit()
        made = client.post(
            f"/api/v1/promotions/{promo.id}/codes",
            json={"count": 2000, "prefix": "D11-", "uses_per_code": 1},
            headers=planner,
        )
        assert made.status_code == 201, made.text
        assert made.json()["created"] == 2000
        exported = client.get(
            f"/api/v1/promotions/{promo.id}/codes", headers={**planner, "Accept": "text/csv"}
        )
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        codes = [r["code"] for r in rows]
        assert len(codes) == len(set(codes)) == 2000
        assert all(c.startswith("D11-") and len(c) == 14 for c in codes)
        assert not set("".join(c[4:] for c in codes)) & set("01OI")
        # Not sequential: neighbours in insertion order share no long prefix.
        shared = sum(a[4:8] == b[4:8] for a, b in itertools.pairwise(codes))
        assert shared < 10
        page = client.get(f"/api/v1/promotions/{promo.id}/codes?limit=5", headers=planner).json()
        assert len(page["items"]) == 5 and page["next"]

    def test_codes_need_a_coupon_promotion(self, client: TestClient, planner, session: Session):
        promo = create_promotion(session)
        session.commit()
        response = client.post(
            f"/api/v1/promotions/{promo.id}/codes", json={"count": 5}, headers=planner
        )
        assert ("path", "promotion_id") in locs(problem(response, 422))
        bad = client.post(
            f"/api/v1/promotions/{promo.id}/codes",
            json={"count": 5, "prefix": "d 11"},
            headers=planner,
        )
        assert ("body", "prefix") in locs(problem(bad, 422))


class TestQuotes:
    def test_an_event_promotion_applies_only_while_the_event_is_live(
        self, client: TestClient, viewer, session: Session
    ):
        scheduled = create_event(session, status="scheduled")
        promo = create_promotion(session, event_id=scheduled.id, params={"percent_bp": 2000})
        session.commit()
        now = client.post("/api/v1/quote", json=cart(SHOES), headers=viewer).json()
        assert now["discount"] == 0
        assert now["not_applied"][0]["reason"] == "not_active"
        assert "scheduled" in now["not_applied"][0]["detail"]
        preview = client.post(
            "/api/v1/quote", json=cart(SHOES, at=DURING.isoformat()), headers=viewer
        ).json()
        assert preview["discount"] == 6000
        assert preview["applied"] == [
            {
                "promotion_id": promo.id,
                "code": None,
                "level": "item",
                "amount": 6000,
                "lines": {"1": 6000},
            }
        ]
        before = client.post(
            "/api/v1/quote",
            json=cart(SHOES, at=(scheduled.starts_at - timedelta(hours=1)).isoformat()),
            headers=viewer,
        ).json()
        assert before["not_applied"][0]["reason"] == "not_active"

    def test_a_phase_promotion_previews_in_its_phase_only(
        self, client: TestClient, viewer, session: Session
    ):
        event = create_event(session, status="live")
        create_promotion(session, event_id=event.id, phase="encore", params={"percent_bp": 3000})
        session.commit()
        peak = client.post(
            "/api/v1/quote", json=cart(SHOES, at=DURING.isoformat()), headers=viewer
        ).json()
        assert peak["discount"] == 0 and "not active yet" in peak["not_applied"][0]["detail"]
        encore = client.post(
            "/api/v1/quote",
            json=cart(SHOES, at=(DURING + timedelta(days=1)).isoformat()),
            headers=viewer,
        ).json()
        assert encore["discount"] == 9000

    def test_best_picks_the_cheaper_combination_and_says_why_not_the_other(
        self, client: TestClient, viewer, session: Session
    ):
        shop = create_merchant(session)
        big = create_promotion(
            session,
            kind="amount_off",
            level="store",
            coupon=True,
            params={"amount": 2000},
            scope={"merchants": [shop.id]},
        )
        small = create_promotion(
            session,
            kind="amount_off",
            level="store",
            coupon=True,
            params={"amount": 500},
            scope={"merchants": [shop.id]},
        )
        plat = create_promotion(
            session,
            kind="threshold",
            level="platform",
            coupon=True,
            params={"tiers": [{"min": 100000, "off": 30000}]},
        )
        codes = [create_codes(session, p)[0] for p in (big, small, plat)]
        session.commit()
        line = ("SKU-9", shop.id, "tv", 101000, 1)
        plain = client.post("/api/v1/quote", json=cart(line, codes=codes), headers=viewer).json()
        assert plain["discount"] == 2000  # the big store coupon leaves 99000: no platform
        best = client.post(
            "/api/v1/quote",
            json=cart(line, codes=[c.lower() for c in codes], best=True),
            headers=viewer,
        ).json()
        assert best["discount"] == 30500
        reasons = {n["promotion_id"]: n["reason"] for n in best["not_applied"]}
        assert reasons[big.id] == "not_best"

    def test_unknown_codes_and_bad_carts(self, client: TestClient, viewer):
        unknown = client.post("/api/v1/quote", json=cart(SHOES, codes=["NOPE"]), headers=viewer)
        assert unknown.json()["not_applied"][0]["reason"] == "unknown_code"
        twice = cart(SHOES, SHOES)
        twice["lines"][1]["id"] = "1"
        assert ("body", "lines") in locs(
            problem(client.post("/api/v1/quote", json=twice, headers=viewer), 422)
        )
        negative = cart(("S", 1, "c", -1, 1))
        assert ("body", "lines", 0, "unit_price") in locs(
            problem(client.post("/api/v1/quote", json=negative, headers=viewer), 422)
        )
        nul = cart(("S\u0000", 1, "c", 100, 1))
        assert ("body", "lines", 0, "sku") in locs(
            problem(client.post("/api/v1/quote", json=nul, headers=viewer), 422)
        )
        extra = cart(SHOES)
        extra["lines"][0]["colour"] = "red"
        assert ("body", "lines", 0, "colour") in locs(
            problem(client.post("/api/v1/quote", json=extra, headers=viewer), 422)
        )


class TestRedemptions:
    def test_an_unknown_code_refuses_the_order_naming_it(
        self, client: TestClient, planner, session: Session
    ):
        create_promotion(session)
        session.commit()
        body = {**cart(SHOES, codes=["nope-code"]), "order_id": "o-unknown"}
        response = client.post("/api/v1/redemptions", json=body, headers=planner)
        assert locs(problem(response, 422)) == {("body", "coupon_codes", 0)}
        retry = {**cart(SHOES), "order_id": "o-unknown"}
        assert client.post("/api/v1/redemptions", json=retry, headers=planner).status_code == 201

    def test_redeem_replays_its_key_and_cancel_gives_back_exactly(
        self, client: TestClient, planner, session: Session
    ):
        shop = create_merchant(session)
        promo = create_promotion(
            session,
            kind="amount_off",
            level="store",
            coupon=True,
            params={"amount": 1000},
            scope={"merchants": [shop.id]},
            budget={"max_redemptions": 5, "total_amount": 5000, "per_customer": 1},
        )
        (code,) = create_codes(session, promo, uses_per_code=1)
        session.commit()
        body = {**cart(sold_by(shop.id), codes=[code]), "order_id": "o-1"}
        key = {**planner, "Idempotency-Key": "k-1"}
        first = client.post("/api/v1/redemptions", json=body, headers=key)
        assert first.status_code == 201, first.text
        again = client.post("/api/v1/redemptions", json=body, headers=key)
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        budget = session.get(PromotionBudget, promo.id)
        session.refresh(budget)
        assert (budget.redemptions, budget.spent_minor) == (1, 1000)
        # The code is single-use: a second order with it is refused.
        refused = client.post(
            "/api/v1/redemptions",
            json={**body, "order_id": "o-2", "customer_id": "c2"},
            headers=planner,
        )
        assert problem(refused, 409)["reason"] == "code_exhausted"
        rid = first.json()["id"]
        cancelled = client.post(f"/api/v1/redemptions/{rid}/cancel", headers=planner)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        session.refresh(budget)
        assert (budget.redemptions, budget.spent_minor) == (0, 0)
        problem(client.post(f"/api/v1/redemptions/{rid}/cancel", headers=planner), 409)
        # Given back: the code and the customer's use work again.
        again = client.post(
            "/api/v1/redemptions", json={**body, "order_id": "o-3"}, headers=planner
        )
        assert again.status_code == 201, again.text

    def test_a_budget_that_cannot_cover_the_whole_discount_refuses_the_order(
        self, client: TestClient, planner, session: Session
    ):
        create_promotion(session, params={"percent_bp": 5000}, budget={"total_amount": 20000})
        session.commit()
        first = client.post(
            "/api/v1/redemptions", json={**cart(SHOES), "order_id": "a"}, headers=planner
        )
        assert first.json()["discount"] == 15000
        second = client.post(
            "/api/v1/redemptions", json={**cart(SHOES), "order_id": "b"}, headers=planner
        )
        assert problem(second, 409)["reason"] == "budget_exhausted"
        small = client.post(
            "/api/v1/redemptions",
            json={**cart(("S", 1, "c", 10000, 1)), "order_id": "c"},
            headers=planner,
        )
        assert small.status_code == 201 and small.json()["discount"] == 5000

    def test_per_customer_limit_and_order_reuse(
        self, client: TestClient, planner, session: Session
    ):
        shop = create_merchant(session)
        create_promotion(session, budget={"per_customer": 1})
        coupon = create_promotion(
            session,
            kind="amount_off",
            level="store",
            coupon=True,
            params={"amount": 1000},
            scope={"merchants": [shop.id]},
            budget={"per_customer": 1},
        )
        (code,) = create_codes(session, coupon)
        session.commit()

        def post(order, customer, codes=()):
            return client.post(
                "/api/v1/redemptions",
                json={**cart(sold_by(shop.id), customer=customer, codes=codes), "order_id": order},
                headers=planner,
            )

        assert post("o1", "alice").json()["discount"] == 3000
        # An automatic promotion the customer used up is left out, and said so...
        second = post("o2", "alice").json()
        assert second["discount"] == 0
        assert second["not_applied"][0]["reason"] == "customer_limit"
        # ...a coupon the customer asked for is refused with the order.
        assert post("o3", "bob", [code]).status_code == 201
        assert problem(post("o4", "bob", [code]), 409)["reason"] == "customer_limit"
        assert problem(post("o3", "carol"), 409)["type"].endswith("order-already-redeemed")
        at = {**cart(SHOES), "order_id": "o5", "at": DURING.isoformat()}
        assert ("body", "at") in locs(
            problem(client.post("/api/v1/redemptions", json=at, headers=planner), 422)
        )


class TestRisk:
    def test_a_stack_deeper_than_the_floor_is_409_with_the_combination(
        self, client: TestClient, planner, session: Session
    ):
        item = create_promotion(session, params={"percent_bp": 5000})
        session.commit()
        body = {
            "name": "platform 50 %",
            "kind": "percent_off",
            "level": "platform",
            "params": {"percent_bp": 5000},
        }
        refused = problem(client.post("/api/v1/promotions", json=body, headers=planner), 409)
        assert refused["combination"]["depth_bp"] == 7500
        assert item.id in refused["combination"]["promotion_ids"]
        forced = client.post("/api/v1/promotions?force=true", json=body, headers=planner)
        assert forced.status_code == 201
        risk = client.get(f"/api/v1/promotions/{item.id}/risk", headers=planner).json()
        assert risk["breaks"] and risk["worst"][0]["depth_bp"] == 7500
        assert risk["floor_bp"] == 7000

    def test_the_risk_rows_come_deepest_first_up_to_the_limit_with_the_counts(
        self, client: TestClient, planner, session: Session
    ):
        store = create_promotion(
            session, level="store", kind="threshold", params={"every": {"step": 100, "off": 30}}
        )
        for i, bp in enumerate([1000, 6000, 3000, 2000, 5000]):
            create_promotion(session, params={"percent_bp": bp}, scope={"skus": [f"S{i}"]})
        session.commit()
        url = f"/api/v1/promotions/{store.id}/risk"
        whole = client.get(url, headers=planner).json()
        assert whole["rows"] == len(whole["worst"]) == 6  # five SKUs and "*"
        assert whole["breaking_rows"] == 1 and whole["breaks"]
        top = client.get(url, params={"limit": 2}, headers=planner).json()
        assert top["rows"] == 6 and top["breaking_rows"] == 1
        assert [r["sku"] for r in top["worst"]] == ["S1", "S4"]
        assert top["worst"] == whole["worst"][:2]
        problem(client.get(url, params={"limit": 0}, headers=planner), 422)

    def test_promotions_that_never_meet_do_not_stack(self, session: Session):
        create_promotion(
            session,
            params={"percent_bp": 5000},
            starts_at=datetime(2027, 1, 1, tzinfo=UTC),
            ends_at=datetime(2027, 2, 1, tzinfo=UTC),
        )
        later = create_promotion(
            session,
            level="platform",
            params={"percent_bp": 5000},
            starts_at=datetime(2027, 3, 1, tzinfo=UTC),
            force=False,
        )
        assert not service.risk(session, promotion_id=later.id).breaks

    def test_the_launch_gate_fails_with_the_breaking_stack(self, session: Session):
        event = create_event(session)
        assert not service.launch_gate(session, event_id=event.id).applies
        create_promotion(session, event_id=event.id, params={"percent_bp": 3000})
        gate = service.launch_gate(session, event_id=event.id)
        assert gate.applies and gate.passed
        create_promotion(
            session,
            event_id=event.id,
            level="store",
            kind="threshold",
            params={"every": {"step": 10000, "off": 6000}},
        )
        gate = service.launch_gate(session, event_id=event.id)
        assert gate.applies and not gate.passed and "72 %" in gate.detail


class TestNeverA500:
    def test_odd_params_get_a_4xx_naming_the_field(self, client: TestClient, planner):
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        values = st.recursive(
            st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.text(max_size=5),
            lambda kids: (
                st.lists(kids, max_size=3)
                | st.dictionaries(st.sampled_from(["min", "off", "step", "cap", "x"]), kids)
            ),
            max_leaves=8,
        )
        names = ["percent_bp", "amount", "min_spend", "currency", "tiers", "every", "buy", "get"]

        @settings(
            max_examples=80,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
            derandomize=True,
        )
        @given(
            kind=st.sampled_from(["percent_off", "amount_off", "threshold", "buy_n_get_m"]),
            level=st.sampled_from(["item", "store", "platform"]),
            params=st.dictionaries(st.sampled_from(names), values, max_size=3),
        )
        def check(kind, level, params):
            body = {"name": "x", "kind": kind, "level": level, "params": params}
            response = client.post("/api/v1/promotions?force=true", json=body, headers=planner)
            assert response.status_code in {201, 422}, response.text
            if response.status_code == 422:
                assert response.json()["errors"][0]["loc"][0] == "body"

        check()

    def test_ids_beyond_32_bits_are_4xx_not_driver_errors(self, client: TestClient, planner):
        huge = 10**20
        for path in (f"/promotions/{huge}", f"/redemptions/{huge}", f"/promotions/{huge}/risk"):
            assert client.get(f"/api/v1{path}", headers=planner).status_code == 422
        cancel = client.post(f"/api/v1/redemptions/{huge}/cancel", headers=planner)
        assert cancel.status_code == 422
        assert client.get("/api/v1/promotions/99999", headers=planner).status_code == 404
        line = {"id": "1", "sku": "s", "merchant_id": huge, "category": "c", "unit_price": 1}
        body = {"customer_id": "c", "lines": [{**line, "quantity": 1}]}
        response = client.post("/api/v1/quote", json=body, headers=planner)
        assert ("body", "lines", 0, "merchant_id") in locs(problem(response, 422))
