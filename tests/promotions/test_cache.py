"""The quote cache: a change committed anywhere is seen by the next quote.

A real server process quotes; this process changes promotions through the
service in its own transactions (as another replica would), on SQLite and
PostgreSQL. No timing: every step waits for its commit, then quotes once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from app import auth
from app.db import build_engine, session_scope
from app.promotions import repository, service
from app.promotions.schemas import PromotionUpdate, QuoteRequest, RedemptionCreate
from tests.factories import create_event
from tests.live import LiveServer
from tests.promotions.factories import create_promotion

pytestmark = pytest.mark.slow

DURING = datetime(2027, 11, 10, 20, 0, tzinfo=UTC)  # inside create_event's window


def _cart(**extra) -> dict:
    return {
        "customer_id": "c1",
        "currency": "CNY",
        "lines": [
            {
                "id": "1",
                "sku": "SKU-1",
                "merchant_id": 1,
                "category": "shoes",
                "unit_price": 30000,
                "quantity": 1,
            }
        ],
        **extra,
    }


def _applied(body: dict) -> dict[int, int]:
    return {a["promotion_id"]: a["amount"] for a in body["applied"]}


def _mentioned(body: dict) -> set[int]:
    return set(_applied(body)) | {n["promotion_id"] for n in body["not_applied"]}


class TestChangesFromAnotherProcess:
    def test_the_next_quote_sees_every_committed_change(self, live_db: str):
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                _key, raw = auth.create_key(session, name="storefront", role="viewer")
                first = create_promotion(session, params={"percent_bp": 1000})
            with LiveServer(live_db) as server, httpx.Client(base_url=server.base_url) as client:
                headers = {"Authorization": f"Bearer {raw}"}

                def quote(**extra) -> dict:
                    response = client.post("/api/v1/quote", json=_cart(**extra), headers=headers)
                    assert response.status_code == 200, response.text
                    return response.json()

                assert _applied(quote()) == {first.id: 3000}  # the server caches it now

                # Created elsewhere: applies at once.
                with session_scope(engine) as session:
                    store = create_promotion(
                        session, kind="amount_off", level="store", params={"amount": 500}
                    )
                assert _applied(quote()) == {first.id: 3000, store.id: 500}

                # Changed elsewhere: the new rule prices the next quote.
                with session_scope(engine) as session:
                    service.update(
                        session,
                        promotion_id=first.id,
                        data=PromotionUpdate(params={"percent_bp": 2000}),
                        actor=auth.SYSTEM,
                        force=True,
                    )
                assert _applied(quote()) == {first.id: 6000, store.id: 500}

                # Deleted elsewhere: gone from the next quote.
                with session_scope(engine) as session:
                    service.delete(session, promotion_id=store.id, actor=auth.SYSTEM)
                after_delete = quote()
                assert _applied(after_delete) == {first.id: 6000}
                assert store.id not in _mentioned(after_delete)

                # Ended (its window moved into the past elsewhere): not applied.
                with session_scope(engine) as session:
                    past = datetime.now(UTC) - timedelta(days=1)
                    service.update(
                        session,
                        promotion_id=first.id,
                        data=PromotionUpdate(starts_at=past - timedelta(days=1), ends_at=past),
                        actor=auth.SYSTEM,
                        force=True,
                    )
                ended = quote()
                assert ended["discount"] == 0 and first.id not in _applied(ended)
        finally:
            engine.dispose()

    def test_expiry_budgets_and_deleted_events_need_no_token(self, live_db: str):
        """What moves without a promotion changing is read per quote: the
        clock against the window, budget counters, and the event (deleting
        it deletes its promotions behind the promotions domain's back)."""
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                _key, raw = auth.create_key(session, name="storefront", role="planner")
                ends = DURING + timedelta(hours=1)
                windowed = create_promotion(
                    session, starts_at=DURING - timedelta(hours=1), ends_at=ends
                )
                capped = create_promotion(
                    session,
                    kind="amount_off",
                    level="platform",
                    params={"amount": 100},
                    budget={"max_redemptions": 1},
                )
                event = create_event(session, status="live")
                tied = create_promotion(
                    session, event_id=event.id, level="store", kind="amount_off",
                    params={"amount": 700},
                )  # fmt: skip
            with LiveServer(live_db) as server, httpx.Client(base_url=server.base_url) as client:
                headers = {"Authorization": f"Bearer {raw}"}

                def quote(at: datetime) -> dict:
                    response = client.post(
                        "/api/v1/quote", json=_cart(at=at.isoformat()), headers=headers
                    )
                    assert response.status_code == 200, response.text
                    return response.json()

                during = quote(DURING)
                assert set(_applied(during)) == {windowed.id, capped.id, tied.id}
                # The same cache, a moment after the window: expired, not applied.
                after = quote(ends + timedelta(minutes=1))
                assert windowed.id not in _applied(after)

                # The budget is spent by a redemption elsewhere.
                with session_scope(engine) as session:
                    service.redeem(
                        session,
                        data=RedemptionCreate.model_validate(
                            {**_cart(), "order_id": "o-1", "customer_id": "c9"}
                        ),
                    )
                spent = quote(DURING)
                assert capped.id not in _applied(spent)
                assert {n["promotion_id"]: n["reason"] for n in spent["not_applied"]}[
                    capped.id
                ] == "budget_exhausted"

                # The event is deleted (its promotions go with it, by cascade).
                with session_scope(engine) as session:
                    session.execute(text("DELETE FROM event WHERE id = :id"), {"id": event.id})
                gone = quote(DURING)
                assert tied.id not in _mentioned(gone)
        finally:
            engine.dispose()


class TestCacheInProcess:
    def test_a_rolled_back_change_is_never_seen_and_a_committed_one_is(self, live_db: str):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 0
            # A change quoted inside its own transaction, then rolled back.
            with engine.connect() as connection:
                transaction = connection.begin()
                with Session(bind=connection) as session:
                    create_promotion(session, params={"percent_bp": 5000})
                    assert service.quote(session, data=data).discount == 15000
                transaction.rollback()
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 0
                # Another change (SQLite may give the same id again) is seen.
                promo = create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                priced = service.quote(session, data=data)
                assert [a.promotion_id for a in priced.applied] == [promo.id]
                assert priced.discount == 3000
        finally:
            engine.dispose()

    def test_the_cached_quote_matches_a_quote_read_from_the_database(self, live_db: str):
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                event = create_event(session, status="live")
                create_promotion(session, params={"percent_bp": 1500}, scope={"skus": ["SKU-1"]})
                create_promotion(
                    session, kind="threshold", level="store",
                    params={"tiers": [{"min": 20000, "off": 3000}]}, scope={"merchants": [1]},
                )  # fmt: skip
                create_promotion(
                    session, event_id=event.id, phase="peak", kind="amount_off",
                    level="platform", params={"amount": 900}, budget={"per_customer": 1},
                )  # fmt: skip
            data = QuoteRequest.model_validate(_cart(at=DURING.isoformat()))
            with session_scope(engine) as session:
                cached = service.quote(session, data=data)
                body = service.quote_json(session, data=data, cache=service.snapshot(session))
                direct = service._quote_read(data.currency, service._price(session, data))
                assert repository.generation_token(session) != "initial"  # changes wrote one
            assert cached.model_dump() == direct.model_dump()
            assert body == direct.model_dump_json().encode()  # the route's body, byte for byte
        finally:
            engine.dispose()

    def test_a_scope_moved_by_an_update_moves_in_the_index(self, live_db: str):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                promo = create_promotion(session, scope={"skus": ["SKU-1"]})
            with session_scope(engine) as session:
                assert [a.promotion_id for a in service.quote(session, data=data).applied] == [
                    promo.id
                ]
            with session_scope(engine) as session:
                service.update(
                    session,
                    promotion_id=promo.id,
                    data=PromotionUpdate.model_validate({"scope": {"categories": ["bags"]}}),
                    actor=auth.SYSTEM,
                    force=True,
                )
            with session_scope(engine) as session:
                priced = service.quote(session, data=data)
                assert priced.applied == [] and priced.not_applied == []
                moved = QuoteRequest.model_validate(
                    _cart(lines=[{**_cart()["lines"][0], "category": "bags"}])
                )
                assert service.quote(session, data=moved).discount == 3000
        finally:
            engine.dispose()
