"""The launch state machine, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.launches import lifecycle
from app.launches.lifecycle import Action, PhaseWindow, Trigger, Verdict

T0 = datetime(2027, 11, 10, 16, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PHASES = [
    PhaseWindow("peak", T0 + DAY, T0 + 2 * DAY),
    PhaseWindow("presale", T0, T0 + DAY),
]


class TestPlanTransitions:
    def test_launch_each_phase_start_and_teardown_in_order(self):
        planned = lifecycle.plan_transitions(
            starts_at=T0, ends_at=T0 + 2 * DAY, phases=PHASES, launch_mode="schedule"
        )
        assert [(p.key, p.due_at) for p in planned] == [
            ("launch", T0),
            ("phase_start:presale", T0),
            ("phase_start:peak", T0 + DAY),
            ("teardown", T0 + 2 * DAY),
        ]
        # Same due time: launch first, then the phase.
        assert planned[0].seq < planned[1].seq < planned[3].seq

    @pytest.mark.parametrize("mode", ["webhook", "manual"])
    def test_a_webhook_or_manual_launch_is_not_the_clocks_but_teardown_is(self, mode):
        planned = lifecycle.plan_transitions(
            starts_at=T0, ends_at=T0 + DAY, phases=[], launch_mode=mode
        )
        assert planned[0].trigger is Trigger(mode)
        assert planned[-1].action is Action.teardown and planned[-1].trigger is Trigger.schedule

    def test_an_unknown_mode_is_refused(self):
        with pytest.raises(ValueError):
            lifecycle.plan_transitions(starts_at=T0, ends_at=T0 + DAY, phases=[], launch_mode="x")


class TestSchedulingProblems:
    def test_a_sound_event_has_none(self):
        assert not lifecycle.scheduling_problems(
            starts_at=T0, ends_at=T0 + 2 * DAY, phases=PHASES, launch_mode="schedule", now=T0 - DAY
        )

    def test_every_problem_is_listed(self):
        problems = lifecycle.scheduling_problems(
            starts_at=T0,
            ends_at=T0 + DAY,
            phases=[PhaseWindow("late", T0, T0 + 3 * DAY)],
            launch_mode="rocket",
            now=T0 + 2 * DAY,
        )
        assert len(problems) == 3
        assert any("launch_mode" in p for p in problems)
        assert any("has passed" in p for p in problems)
        assert any("'late'" in p for p in problems)


class TestDecide:
    def decide(self, action, status, now=T0):
        return lifecycle.decide(action, event_status=status, event_ends_at=T0 + DAY, now=now)

    def test_a_scheduled_event_launches_within_its_window(self):
        assert self.decide(Action.launch, "scheduled").verdict is Verdict.apply

    def test_a_launch_that_comes_after_the_end_is_skipped(self):
        decision = self.decide(Action.launch, "scheduled", now=T0 + DAY)
        assert decision.verdict is Verdict.skip and "before it could launch" in decision.reason

    @pytest.mark.parametrize("status", ["live", "ended", "cancelled", "draft"])
    def test_launch_only_moves_a_scheduled_event(self, status):
        assert self.decide(Action.launch, status).verdict is Verdict.skip

    def test_a_phase_starts_only_while_live(self):
        assert self.decide(Action.phase_start, "live").verdict is Verdict.apply
        assert self.decide(Action.phase_start, "scheduled").verdict is Verdict.skip

    @pytest.mark.parametrize("status", ["live", "scheduled"])
    def test_teardown_ends_a_live_or_never_launched_event(self, status):
        assert self.decide(Action.teardown, status).verdict is Verdict.apply

    @pytest.mark.parametrize("status", ["ended", "cancelled"])
    def test_teardown_of_a_finished_event_is_skipped(self, status):
        assert self.decide(Action.teardown, status).verdict is Verdict.skip


class TestReadiness:
    def test_all_pass(self):
        verdict = lifecycle.readiness(
            [("required_tasks", True, True, "ok"), ("allocation", False, True, "no plans")], None
        )
        assert verdict.ready and verdict.explain() == "every readiness gate passes"

    def test_a_failing_gate_blocks_and_says_why(self):
        verdict = lifecycle.readiness(
            [
                ("required_tasks", True, False, "2 required task(s) not done"),
                ("risk", True, True, ""),
            ],
            None,
        )
        assert not verdict.ready
        assert verdict.explain() == "required_tasks: 2 required task(s) not done"

    def test_a_gate_switched_off_passes(self):
        verdict = lifecycle.readiness(
            [("required_tasks", True, False, "x")], {"required_tasks": False}
        )
        assert verdict.ready and not verdict.gates[0].enabled

    def test_a_gate_that_does_not_apply_passes(self):
        verdict = lifecycle.readiness([("allocation", False, False, "no slot plans")], {})
        assert verdict.ready and not verdict.gates[0].applies


class TestHelpers:
    def test_current_phase(self):
        phases = sorted(PHASES, key=lambda p: p.starts_at)
        assert lifecycle.current_phase(phases, T0) == "presale"
        assert lifecycle.current_phase(phases, T0 + DAY) == "peak"
        assert lifecycle.current_phase(phases, T0 + 2 * DAY) is None

    def test_webhook_window(self):
        lead = timedelta(hours=1)
        window = {"starts_at": T0, "ends_at": T0 + DAY, "lead": lead}
        assert "not before" in lifecycle.webhook_window_problem(now=T0 - 2 * lead, **window)
        assert lifecycle.webhook_window_problem(now=T0 - lead, **window) is None
        assert "ended" in lifecycle.webhook_window_problem(now=T0 + DAY, **window)

    def test_retry_delay_doubles_and_is_capped(self):
        delays = [lifecycle.retry_delay(n).total_seconds() for n in (1, 2, 3, 20)]
        assert delays == [2, 4, 8, 300]
