"""The quote cache: a change committed anywhere is seen by the next quote.

A real server process quotes; this process changes promotions through the
service in its own transactions (as another replica would), on SQLite and
PostgreSQL. No timing: every step waits for its commit, then quotes once.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from app import auth
from app.config import get_settings
from app.db import build_engine, engine_for, session_scope
from app.promotions import repository, service
from app.promotions.schemas import PromotionUpdate, QuoteRequest, RedemptionCreate
from tests.factories import create_event
from tests.live import LiveServer
from tests.promotions.factories import create_merchant, create_promotion

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
            # Every quote reads the token: a change elsewhere is seen at once.
            fresh = {"PROMOPLAN_QUOTE_CACHE_SECONDS": "0"}
            with (
                LiveServer(live_db, **fresh) as server,
                httpx.Client(base_url=server.base_url) as client,
            ):
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
                shop = create_merchant(session)
                create_promotion(session, params={"percent_bp": 1500}, scope={"skus": ["SKU-1"]})
                create_promotion(
                    session, kind="threshold", level="store",
                    params={"tiers": [{"min": 20000, "off": 3000}]}, scope={"merchants": [shop.id]},
                )  # fmt: skip
                create_promotion(
                    session, event_id=event.id, phase="peak", kind="amount_off",
                    level="platform", params={"amount": 900}, budget={"per_customer": 1},
                )  # fmt: skip
            line = {**_cart()["lines"][0], "merchant_id": shop.id}
            data = QuoteRequest.model_validate(_cart(at=DURING.isoformat(), lines=[line]))
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


def _change_behind_this_process(engine, promotion_id: int, percent_bp: int) -> None:
    """What a change committed by another process looks like from here: the
    rows and the token move, and nothing in this process hears of it."""
    with session_scope(engine) as session:
        session.execute(
            text("UPDATE promotion SET params = :params, version = version + 1 WHERE id = :id"),
            {"params": f'{{"percent_bp": {percent_bp}}}', "id": promotion_id},
        )
        repository.bump_generation(session)


class TestTrustedCache:
    """Quotes trust the cache for `quote_cache_seconds` without reading the
    token: changes made in this process are seen at once, changes made by
    another process once the bound has passed (here: never, it is an hour)."""

    @pytest.fixture
    def trust_an_hour(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(get_settings(), "quote_cache_seconds", 3600.0)

    def test_a_change_elsewhere_waits_for_the_bound_one_here_does_not(
        self, live_db: str, trust_an_hour
    ):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                promo = create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 3000
            _change_behind_this_process(engine, promo.id, 2000)
            with session_scope(engine) as session:  # trusted: the token is not read
                assert service.quote(session, data=data).discount == 3000
            with session_scope(engine) as session:  # a change made here
                other = create_promotion(
                    session, kind="amount_off", level="platform", params={"amount": 100}
                )
            with session_scope(engine) as session:  # reloads: both changes are seen
                priced = service.quote(session, data=data)
                assert {a.promotion_id: a.amount for a in priced.applied} == {
                    promo.id: 6000,
                    other.id: 100,
                }
        finally:
            engine.dispose()

    def test_when_trust_runs_out_one_quote_checks_and_the_others_go_on(
        self, live_db: str, trust_an_hour
    ):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                promo = create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 3000
                cache = service.trusted_snapshot(session)
            _change_behind_this_process(engine, promo.id, 2000)
            cache.trusted_until = 1.0  # the hour is over
            with session_scope(engine) as session:
                assert service.trusted_snapshot(session) is None  # this one checks...
                assert service.trusted_snapshot(session) is cache  # ...the others go on
                assert service.snapshot(session) is not cache  # the check finds the change
                assert service.quote(session, data=data).discount == 6000
        finally:
            engine.dispose()

    def test_a_failing_check_stops_the_others_coasting(
        self, live_db: str, trust_an_hour, monkeypatch
    ):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                service.quote(session, data=data)
                cache = service.trusted_snapshot(session)
            cache.trusted_until = 1.0  # the hour is over
            with session_scope(engine) as session:
                assert service.trusted_snapshot(session) is None  # this one checks...

                def unreachable(_session):
                    raise RuntimeError("database unreachable")

                monkeypatch.setattr(repository, "generation_token", unreachable)
                with pytest.raises(RuntimeError):
                    service.snapshot(session)
                assert service.trusted_snapshot(session) is None  # ...and nobody coasts on
        finally:
            engine.dispose()

    def test_without_a_bound_every_quote_reads_the_token(self, live_db: str, monkeypatch):
        monkeypatch.setattr(get_settings(), "quote_cache_seconds", 0.0)
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                promo = create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 3000
            _change_behind_this_process(engine, promo.id, 2000)
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 6000
        finally:
            engine.dispose()

    def test_a_rolled_back_change_is_never_trusted(self, live_db: str, trust_an_hour):
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        try:
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 0
            # Quoted inside the transaction that makes the change, on an
            # engine-bound session, then rolled back.
            with pytest.raises(RuntimeError), session_scope(engine) as session:
                create_promotion(session, params={"percent_bp": 5000})
                assert service.quote(session, data=data).discount == 15000
                raise RuntimeError("roll back")
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 0
        finally:
            engine.dispose()

    def test_redemptions_price_from_the_database_not_the_trusted_cache(
        self, live_db: str, trust_an_hour
    ):
        engine = build_engine(live_db)
        order = {**_cart(), "order_id": "o-1", "customer_id": "c9"}
        try:
            with session_scope(engine) as session:
                promo = create_promotion(session, params={"percent_bp": 1000})
            with session_scope(engine) as session:
                assert service.quote(session, data=QuoteRequest.model_validate(_cart())).discount
            _change_behind_this_process(engine, promo.id, 2000)
            with session_scope(engine) as session:
                redemption = service.redeem(session, data=RedemptionCreate.model_validate(order))
                assert service.redemption_read(redemption).discount == 6000
        finally:
            engine.dispose()

    def test_the_cache_is_warmed_in_the_background(self, live_db: str, monkeypatch):
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                create_promotion(session)
                token = repository.generation_token(session)
            monkeypatch.setattr(get_settings(), "database_url", live_db)
            service.warm_quote_cache().join(timeout=60)
            with session_scope() as session:  # the configured database, as `serve` uses
                warmed = service._snapshots[service._cache_key(session)]
            assert warmed.token == token
        finally:
            engine.dispose()
            engine_for(live_db).dispose()


class TestFirstLoad:
    def test_a_big_first_load_is_frozen_out_of_the_cycle_collector(self, live_db: str, monkeypatch):
        """A first load pauses the cyclic collector and freezes a big cache
        (here: "big" is one promotion); a refresh freezes nothing more."""
        monkeypatch.setattr(service, "FREEZE_FROM", 1)
        engine = build_engine(live_db)
        data = QuoteRequest.model_validate(_cart())
        frozen = gc.get_freeze_count()
        try:
            with session_scope(engine) as session:
                create_promotion(session)
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 3000
            assert gc.get_freeze_count() > frozen and gc.isenabled()
            frozen = gc.get_freeze_count()
            with session_scope(engine) as session:
                create_promotion(session, kind="amount_off", level="platform", params={"amount": 1})
            with session_scope(engine) as session:
                assert service.quote(session, data=data).discount == 3001
            assert gc.get_freeze_count() <= frozen  # (frozen objects freed since count down)
        finally:
            gc.unfreeze()
            engine.dispose()


class TestTrustedKeys:
    """An API key found valid is trusted for `auth_cache_seconds` without a
    query: revoked here, it stops at once; revoked by another process, once
    the bound has passed."""

    def test_a_key_revoked_elsewhere_works_until_the_bound_one_revoked_here_stops(
        self, live_db: str, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "auth_cache_seconds", 3600.0)
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                auth.create_key(session, name="admin", role="admin")
                key, raw = auth.create_key(session, name="storefront", role="viewer")
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw).key_id == key.id
            with session_scope(engine) as session:  # revoked behind this process's back
                session.execute(
                    text("UPDATE api_key SET revoked_at = created_at WHERE id = :id"),
                    {"id": key.id},
                )
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw).key_id == key.id  # trusted still
            with session_scope(engine) as session:
                session.execute(
                    text("UPDATE api_key SET revoked_at = NULL WHERE id = :id"), {"id": key.id}
                )
            with session_scope(engine) as session:
                auth.revoke_key(session, key_id=key.id)  # revoked here
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw) is None
        finally:
            engine.dispose()

    def test_when_trust_runs_out_one_request_looks_the_key_up_and_forgets_it_if_revoked(
        self, live_db: str, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "auth_cache_seconds", 3600.0)
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                key, raw = auth.create_key(session, name="storefront", role="viewer")
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw).key_id == key.id
            with session_scope(engine) as session:  # revoked behind this process's back
                session.execute(
                    text("UPDATE api_key SET revoked_at = created_at WHERE id = :id"),
                    {"id": key.id},
                )
            digest = auth.hash_key(raw)
            auth._trusted[digest].until = 1.0  # the hour is over
            assert auth._trusted_principal(digest) is None  # this request looks it up...
            assert auth._trusted_principal(digest).key_id == key.id  # ...the others go on
            with session_scope(engine) as session:
                assert auth._look_up(session, digest) is None  # its lookup: revoked
            assert auth._trusted_principal(digest) is None  # and forgotten at once
        finally:
            engine.dispose()

    def test_a_failing_lookup_forgets_the_key_and_coasting_is_bounded(
        self, live_db: str, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "auth_cache_seconds", 3600.0)
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                _key, raw = auth.create_key(session, name="storefront", role="viewer")
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw) is not None
            digest = auth.hash_key(raw)
            # Past the trust and past the coasting: every request asks.
            auth._trusted[digest].until = auth._trusted[digest].coast_until = 1.0
            assert auth._trusted_principal(digest) is None
            assert auth._trusted_principal(digest) is None

            def broken(_session, _digest):
                raise RuntimeError("database unreachable")

            monkeypatch.setattr(auth, "_principal_by_digest", broken)
            with session_scope(engine) as session, pytest.raises(RuntimeError):
                auth._look_up(session, digest)
            assert digest not in auth._trusted  # fails closed: nobody coasts on it
        finally:
            engine.dispose()

    def test_a_lookup_that_began_before_a_revocation_does_not_trust_the_key(
        self, live_db: str, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "auth_cache_seconds", 3600.0)
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                key, raw = auth.create_key(session, name="storefront", role="viewer")
            digest = auth.hash_key(raw)
            read = auth._principal_by_digest

            def read_then_revoked_here(session, digest):
                principal = read(session, digest)  # valid when read...
                auth._forget(digest)  # ...then a revocation in this process commits
                return principal

            monkeypatch.setattr(auth, "_principal_by_digest", read_then_revoked_here)
            with session_scope(engine) as session:
                assert auth._look_up(session, digest).key_id == key.id
            assert digest not in auth._trusted  # answered once, never trusted after
        finally:
            engine.dispose()

    def test_without_a_bound_every_request_asks_the_database(self, live_db: str, monkeypatch):
        monkeypatch.setattr(get_settings(), "auth_cache_seconds", 0.0)
        engine = build_engine(live_db)
        try:
            with session_scope(engine) as session:
                key, raw = auth.create_key(session, name="storefront", role="viewer")
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw) is not None
            with session_scope(engine) as session:
                session.execute(
                    text("UPDATE api_key SET revoked_at = created_at WHERE id = :id"),
                    {"id": key.id},
                )
            with session_scope(engine) as session:
                assert auth.principal_for(session, raw) is None
        finally:
            engine.dispose()
