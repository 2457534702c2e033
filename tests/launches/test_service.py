"""Transitions: planning, the clock's runs, gates, retries, manual and
webhook triggers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app import signals
from app.calendar.errors import CannotSchedule
from app.calendar.models import Event, Phase
from app.launches import service
from app.launches.errors import (
    InvalidTransition,
    LaunchBlocked,
    LaunchModeMismatch,
    OutsideLaunchWindow,
)
from app.launches.lifecycle import Trigger
from app.slots import service as slots_service
from tests.factories import create_event, create_task
from tests.launches.factories import (
    create_scheduled_event,
    create_subscription,
    job_runs,
    outbox_types,
    run_clock,
    transitions,
)

T0 = datetime(2027, 11, 9, 16, 0, tzinfo=UTC)  # the factories' default start
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def live_calls(monkeypatch) -> list[tuple[int, bool]]:
    calls: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        slots_service,
        "set_live",
        lambda session, *, event_id, live, at: calls.append((event_id, live)),
    )
    return calls


class TestPlanning:
    def test_scheduling_plans_launch_phases_and_teardown(self, session: Session):
        event = create_scheduled_event(session)
        rows = transitions(session, event)
        assert {k: (r.due_at, r.status, r.trigger) for k, r in rows.items()} == {
            "launch": (T0, "pending", "schedule"),
            "phase_start:presale": (T0, "pending", "schedule"),
            "phase_start:peak": (T0 + DAY, "pending", "schedule"),
            "phase_start:encore": (T0 + 2 * DAY, "pending", "schedule"),
            "teardown": (T0 + 3 * DAY, "pending", "schedule"),
        }

    def test_an_event_that_already_ended_cannot_be_scheduled(self, session: Session):
        event = create_event(
            session, status="scheduled", starts_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        with pytest.raises(CannotSchedule) as caught:
            signals.event_scheduled.send(session, event=event)
        assert any("has passed" in r for r in caught.value.extra["reasons"])

    def test_scheduling_twice_keeps_one_row_per_transition(self, session: Session):
        event = create_scheduled_event(session)
        signals.event_scheduled.send(session, event=event)
        assert len(transitions(session, event)) == 5

    def test_moving_the_event_moves_pending_rows_and_drops_removed_phases(self, session: Session):
        event = create_scheduled_event(session)
        event.starts_at, event.ends_at = T0 + DAY, T0 + 3 * DAY
        for phase in session.exec(select(Phase).where(Phase.event_id == event.id)).all():
            if phase.key == "encore":
                session.delete(phase)
            else:
                phase.starts_at += DAY
                phase.ends_at += DAY
        session.flush()
        signals.event_rescheduled.send(session, event=event)
        rows = transitions(session, event)
        assert sorted(rows) == ["launch", "phase_start:peak", "phase_start:presale", "teardown"]
        assert rows["launch"].due_at == T0 + DAY
        assert rows["phase_start:peak"].due_at == T0 + 2 * DAY
        assert rows["teardown"].due_at == T0 + 3 * DAY

    def test_moving_a_live_event_leaves_done_rows_alone(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        run_clock(session, T0)
        event.ends_at = T0 + 4 * DAY
        session.flush()
        signals.event_rescheduled.send(session, event=event)
        rows = transitions(session, event)
        assert rows["launch"].status == "done" and rows["launch"].due_at == T0
        assert rows["teardown"].due_at == T0 + 4 * DAY

    def test_a_changed_launch_mode_changes_who_launches(self, session: Session):
        event = create_scheduled_event(session)
        event.launch_mode = "webhook"
        session.flush()
        signals.event_rescheduled.send(session, event=event)
        assert transitions(session, event)["launch"].trigger == "webhook"

    def test_a_draft_gets_no_transitions_when_edited(self, session: Session):
        event = create_event(session)
        signals.event_rescheduled.send(session, event=event)
        assert transitions(session, event) == {}


class TestClock:
    def test_nothing_happens_before_the_start(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        assert [r for r in run_clock(session, T0 - SECOND) if r.event_id == event.id] == []
        assert event.status == "scheduled"

    def test_at_the_start_the_event_launches_and_its_first_phase_starts(
        self, session: Session, live_calls
    ):
        create_subscription(session)
        event = create_scheduled_event(session)
        reports = [r for r in run_clock(session, T0) if r.event_id == event.id]
        assert [(r.action, r.outcome) for r in reports] == [
            ("launch", "done"),
            ("phase_start", "done"),
        ]
        session.refresh(event)
        assert event.status == "live" and event.current_phase_key == "presale"
        assert event.launched_at == T0
        assert live_calls == [(event.id, True)]
        assert outbox_types(session, event) == ["event.launched", "event.phase_started"]
        rows = transitions(session, event)
        assert rows["launch"].status == "done" and rows["launch"].applied_by == "system:clock"

    def test_a_second_run_at_the_same_time_does_nothing(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        run_clock(session, T0)
        assert [r for r in run_clock(session, T0) if r.event_id == event.id] == []
        assert len(job_runs(session, event)) == 2
        assert live_calls == [(event.id, True)]

    def test_the_whole_life_in_order_with_one_job_run_each(self, session: Session, live_calls):
        create_subscription(session)
        event = create_scheduled_event(session)
        for moment in (T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY):
            run_clock(session, moment)
        session.refresh(event)
        assert event.status == "ended" and event.ended_at == T0 + 3 * DAY
        assert [(r.action, r.phase_key, r.outcome) for r in job_runs(session, event)] == [
            ("launch", None, "done"),
            ("phase_start", "presale", "done"),
            ("phase_start", "peak", "done"),
            ("phase_start", "encore", "done"),
            ("teardown", None, "done"),
        ]
        assert live_calls == [(event.id, True), (event.id, False)]
        assert outbox_types(session, event) == [
            "event.launched",
            "event.phase_started",
            "event.phase_started",
            "event.phase_started",
            "event.ended",
        ]

    def test_catching_up_mid_event_applies_what_fell_due_in_order(
        self, session: Session, live_calls
    ):
        event = create_scheduled_event(session)
        reports = [r for r in run_clock(session, T0 + 1.5 * DAY) if r.event_id == event.id]
        assert [r.action for r in reports] == ["launch", "phase_start", "phase_start"]
        session.refresh(event)
        assert event.status == "live" and event.current_phase_key == "peak"
        assert transitions(session, event)["phase_start:encore"].status == "pending"

    def test_catching_up_after_the_end_skips_the_launch_and_tears_down(
        self, session: Session, live_calls
    ):
        create_subscription(session)
        event = create_scheduled_event(session)
        reports = [r for r in run_clock(session, T0 + 5 * DAY) if r.event_id == event.id]
        assert [(r.action, r.outcome) for r in reports] == [
            ("launch", "skipped"),
            ("phase_start", "skipped"),
            ("phase_start", "skipped"),
            ("phase_start", "skipped"),
            ("teardown", "done"),
        ]
        rows = transitions(session, event)
        assert "before it could launch" in (rows["launch"].detail or "")
        session.refresh(event)
        assert event.status == "ended" and event.launched_at is None
        assert live_calls == []  # it never went live, so nothing to release
        assert outbox_types(session, event) == ["event.ended"]

    def test_a_failing_gate_blocks_the_launch_records_why_and_notifies(
        self, session: Session, live_calls
    ):
        create_subscription(session)
        event = create_scheduled_event(session)
        create_task(session, event=event, name="Creative review", required=True, progress=40)
        reports = [r for r in run_clock(session, T0) if r.event_id == event.id]
        assert [(r.action, r.outcome) for r in reports] == [
            ("launch", "blocked"),
            ("phase_start", "skipped"),
        ]
        launch = transitions(session, event)["launch"]
        assert launch.status == "failed"
        assert "required_tasks" in (launch.detail or "") and "Creative review" in (
            launch.detail or ""
        )
        session.refresh(event)
        assert event.status == "scheduled"
        assert outbox_types(session, event) == ["event.launch_blocked"]
        assert live_calls == []

    def test_a_gate_switched_off_for_the_event_does_not_block(self, session: Session, live_calls):
        event = create_scheduled_event(session, gates={"required_tasks": False})
        create_task(session, event=event, required=True, progress=0)
        run_clock(session, T0)
        session.refresh(event)
        assert event.status == "live"

    def test_a_failing_run_is_retried_with_backoff_then_marked_failed(
        self, session: Session, monkeypatch
    ):
        create_subscription(session)
        event = create_scheduled_event(session)

        def broken(session, *, event_id, live, at):
            raise RuntimeError("slot service down")

        monkeypatch.setattr(slots_service, "set_live", broken)
        now = T0
        for attempt in range(1, 5):
            reports = [r for r in run_clock(session, now) if r.event_id == event.id]
            assert [(r.action, r.outcome) for r in reports] == [("launch", "error")]
            launch = transitions(session, event)["launch"]
            assert launch.status == "pending" and launch.attempts == attempt
            assert launch.next_attempt_at == now + timedelta(seconds=2**attempt)
            # Not before the backoff has passed:
            assert [r for r in run_clock(session, now + SECOND) if r.event_id == event.id] == []
            now = launch.next_attempt_at
        reports = [r for r in run_clock(session, now) if r.event_id == event.id]
        assert reports[0].outcome == "failed"
        launch = transitions(session, event)["launch"]
        assert launch.status == "failed" and "slot service down" in (launch.detail or "")
        runs = job_runs(session, event)
        assert [r.outcome for r in runs][:5] == ["error"] * 4 + ["failed"]
        assert [r.attempt for r in runs][:5] == [1, 2, 3, 4, 5]
        assert all("slot service down" in (r.error or "") for r in runs[:5])
        session.refresh(event)
        assert event.status == "scheduled"  # each failed attempt rolled back entirely
        assert "event.transition_failed" in outbox_types(session, event)
        assert "event.launched" not in outbox_types(session, event)

    def test_a_teardown_never_overtakes_its_events_pending_launch(
        self, session: Session, monkeypatch
    ):
        event = create_scheduled_event(session, ends_at=T0 + 3 * SECOND, phases=[])

        def broken(session, *, event_id, live, at):
            raise RuntimeError("down")

        monkeypatch.setattr(slots_service, "set_live", broken)
        run_clock(session, T0)  # attempt 1 fails: retry at T0+2s
        run_clock(session, T0 + 2 * SECOND)  # attempt 2 fails: retry at T0+6s
        # The teardown is due, but the launch before it waits for its retry.
        assert [r for r in run_clock(session, T0 + 4 * SECOND) if r.event_id == event.id] == []
        assert transitions(session, event)["teardown"].status == "pending"
        reports = [r for r in run_clock(session, T0 + 6 * SECOND) if r.event_id == event.id]
        assert [(r.action, r.outcome) for r in reports] == [
            ("launch", "skipped"),
            ("teardown", "done"),
        ]

    def test_cancelling_skips_pending_rows_releases_and_notifies(
        self, session: Session, live_calls
    ):
        create_subscription(session)
        event = create_scheduled_event(session)
        run_clock(session, T0)
        event.status = "cancelled"
        session.flush()
        signals.event_cancelled.send(session, event=event)
        rows = transitions(session, event)
        assert rows["launch"].status == "done"
        assert {rows[k].status for k in rows if k != "launch" and k != "phase_start:presale"} == {
            "skipped"
        }
        assert rows["teardown"].detail == "the event was cancelled"
        assert live_calls == [(event.id, True), (event.id, False)]
        assert outbox_types(session, event)[-1] == "event.cancelled"
        assert [r for r in run_clock(session, T0 + 9 * DAY) if r.event_id == event.id] == []


class TestManualLaunch:
    def test_a_planner_launches_early_once(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        applied = service.launch(
            session, event_id=event.id, actor="key:1:ops", trigger=Trigger.manual, now=T0 - DAY
        )
        assert applied.transition.status == "done" and applied.run.trigger == "manual"
        session.refresh(event)
        assert event.status == "live"
        with pytest.raises(InvalidTransition, match="live"):
            service.launch(
                session, event_id=event.id, actor="key:1:ops", trigger=Trigger.manual, now=T0 - DAY
            )
        # The clock finds the launch done; only the phase start is left for it.
        reports = [r for r in run_clock(session, T0) if r.event_id == event.id]
        assert [r.action for r in reports] == ["phase_start"]
        assert live_calls == [(event.id, True)]

    def test_a_failing_gate_is_a_409_unless_overridden(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        create_task(session, event=event, required=True, progress=10)
        with pytest.raises(LaunchBlocked) as caught:
            service.launch(
                session, event_id=event.id, actor="key:1:ops", trigger=Trigger.manual, now=T0
            )
        gates = caught.value.extra["readiness"]["gates"]
        assert [g["gate"] for g in gates if not g["passed"]] == ["required_tasks"]
        applied = service.launch(
            session,
            event_id=event.id,
            actor="key:1:ops",
            trigger=Trigger.manual,
            now=T0,
            override=True,
            reason="exec sign-off",
        )
        assert applied.overridden and "override" in (applied.transition.detail or "")

    def test_a_blocked_launch_can_be_overridden_later(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        create_task(session, event=event, required=True, progress=10)
        run_clock(session, T0)
        assert transitions(session, event)["launch"].status == "failed"
        service.launch(
            session,
            event_id=event.id,
            actor="key:1:ops",
            trigger=Trigger.manual,
            now=T0 + SECOND,
            override=True,
        )
        assert transitions(session, event)["launch"].status == "done"
        assert [r.outcome for r in job_runs(session, event)][-1] == "done"

    def test_a_draft_or_ended_event_cannot_launch(self, session: Session):
        draft = create_event(session)
        with pytest.raises(InvalidTransition, match="draft"):
            service.launch(session, event_id=draft.id, actor="x", trigger=Trigger.manual, now=T0)
        event = create_scheduled_event(session)
        with pytest.raises(InvalidTransition, match="ended"):
            service.launch(
                session, event_id=event.id, actor="x", trigger=Trigger.manual, now=T0 + 3 * DAY
            )

    def test_teardown_by_hand_ends_a_live_event_early(self, session: Session, live_calls):
        event = create_scheduled_event(session)
        run_clock(session, T0)
        applied = service.teardown(
            session, event_id=event.id, actor="key:1:ops", trigger=Trigger.manual, now=T0 + DAY / 2
        )
        assert applied.transition.status == "done"
        rows = transitions(session, event)
        assert rows["phase_start:peak"].status == "skipped"
        assert live_calls == [(event.id, True), (event.id, False)]
        with pytest.raises(InvalidTransition, match="ended"):
            service.teardown(
                session, event_id=event.id, actor="x", trigger=Trigger.manual, now=T0 + DAY
            )
        assert [r for r in run_clock(session, T0 + 9 * DAY) if r.event_id == event.id] == []

    def test_teardown_of_a_scheduled_event_is_a_409(self, session: Session):
        event = create_scheduled_event(session)
        with pytest.raises(InvalidTransition, match="only a live event"):
            service.teardown(session, event_id=event.id, actor="x", trigger=Trigger.manual, now=T0)


class TestWebhookTrigger:
    def test_a_scheduled_mode_event_refuses_webhook_launches(self, session: Session):
        event = create_scheduled_event(session)
        with pytest.raises(LaunchModeMismatch):
            service.launch(session, event_id=event.id, actor="w", trigger=Trigger.webhook, now=T0)

    def test_a_webhook_launch_waits_for_its_window(self, session: Session, live_calls):
        event = create_scheduled_event(session, launch_mode="webhook")
        with pytest.raises(OutsideLaunchWindow, match="not before"):
            service.launch(
                session, event_id=event.id, actor="w", trigger=Trigger.webhook, now=T0 - DAY
            )
        applied = service.launch(
            session,
            event_id=event.id,
            actor="w",
            trigger=Trigger.webhook,
            now=T0 - 30 * 60 * SECOND,
        )
        assert applied.run.trigger == "webhook"

    def test_the_clock_does_not_launch_a_webhook_event_but_does_tear_it_down(
        self, session: Session, live_calls
    ):
        event = create_scheduled_event(session, launch_mode="webhook")
        reports = [r for r in run_clock(session, T0 + 3 * DAY) if r.event_id == event.id]
        assert [r.action for r in reports] == ["phase_start"] * 3 + ["teardown"]
        rows = transitions(session, event)
        assert rows["launch"].status == "skipped"
        assert "ended first" in (rows["launch"].detail or "")
        session.refresh(event)
        assert event.status == "ended"

    def test_a_late_webhook_launch_lands_in_the_current_phase(self, session: Session, live_calls):
        event = create_scheduled_event(session, launch_mode="webhook")
        run_clock(session, T0 + 1.5 * DAY)  # presale and peak starts pass while not live
        service.launch(
            session, event_id=event.id, actor="w", trigger=Trigger.webhook, now=T0 + 1.5 * DAY
        )
        session.refresh(event)
        assert event.status == "live" and event.current_phase_key == "peak"


def test_events_in_a_dst_zone_keep_their_instants(session: Session):
    # 2027-11-07 02:00 EDT→EST in America/New_York: the phase boundary falls on it.
    start = datetime(2027, 11, 6, 4, 0, tzinfo=UTC)  # 00:00 EDT
    switch = datetime(2027, 11, 7, 5, 0, tzinfo=UTC)  # 00:00 EST
    event: Event = create_scheduled_event(
        session,
        timezone="America/New_York",
        starts_at=start,
        ends_at=switch + DAY,
        phases=[
            {"key": "warmup", "starts_at": start, "ends_at": switch},
            {"key": "peak", "starts_at": switch, "ends_at": switch + DAY},
        ],
    )
    rows = transitions(session, event)
    assert rows["phase_start:peak"].due_at == switch
    assert rows["phase_start:peak"].due_at - rows["launch"].due_at == timedelta(hours=25)
