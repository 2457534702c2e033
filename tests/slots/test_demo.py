"""The slots part of `promoplan demo`."""

from __future__ import annotations

from datetime import UTC, datetime

from app.slots import demo, repository
from tests.factories import create_event


class TestDemo:
    def test_it_plans_allocates_and_publishes_double_11(self, session):
        event = create_event(
            session,
            starts_at=datetime(2027, 10, 31, 16, tzinfo=UTC),
            ends_at=datetime(2027, 11, 13, 16, tzinfo=UTC),
        )
        ctx = {"events": {"double11": event}}
        lines = demo.seed(session, ctx)
        assert len(ctx["merchants"]) == len(demo.MERCHANTS)
        run = repository.published_run(session, event.id)
        assert run is not None and run.id == ctx["allocation_run_id"]
        assert run.optimal and run.stats["units_granted"] > 0
        assert len(repository.plans_of(session, event.id)) == 4
        assert any("published" in line for line in lines)

    def test_without_double_11_it_only_adds_merchants_and_slot_types(self, session):
        ctx: dict = {}
        lines = demo.seed(session, ctx)
        assert ctx["merchants"] and set(ctx["slot_types"]) >= {"homepage_banner", "push"}
        assert "no Double 11" in lines[-1]
