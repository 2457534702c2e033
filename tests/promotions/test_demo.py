"""The promotions part of `promoplan demo`."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from app.promotions import demo, service
from app.promotions.schemas import QuoteRequest
from app.slots.models import Merchant
from tests.factories import create_event


class TestDemoSeed:
    def test_double11_gets_its_discounts_under_the_risk_floor(self, session: Session):
        event = create_event(session, status="scheduled")
        shops = [Merchant(name=f"shop {i}", tier="head", categories=["apparel"]) for i in range(3)]
        session.add_all(shops)
        session.flush()
        ctx = {"events": {"double11": event.id}, "merchants": {m.name: m.id for m in shops}}
        lines = demo.seed(session, ctx)
        assert "Promotions: 7 Double 11 discounts" in lines[0]
        gate = service.launch_gate(session, event_id=event.id)
        assert gate.applies and gate.passed, gate.detail
        code = ctx["coupon_codes"]["platform"][0]
        quote = service.quote(
            session,
            data=QuoteRequest(
                customer_id="c",
                at=event.starts_at + timedelta(days=1, hours=2),  # the peak phase
                lines=[
                    {
                        "id": "1",
                        "sku": "T-1",
                        "merchant_id": shops[0].id,
                        "category": "apparel",
                        "unit_price": 50000,
                        "quantity": 1,
                    }
                ],
                coupon_codes=[code],
                best=True,
            ),
        )
        # 8折 (10000), store 满减 ¥400-70 (7000), 跨店 every 300-50 (5000 on 33000),
        # then the platform coupon ¥20 off ¥199 (2000).
        assert [a.amount for a in quote.applied] == [10000, 7000, 5000, 2000]

    def test_without_the_event_it_skips(self, session: Session):
        assert demo.seed(session, {}) == ["Promotions: skipped (no Double 11 event in the demo)."]
