"""The pure planning module: CPM on hand-checked plans, cycles, broken
links, forward scheduling, conflicts, and invariants on random plans."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.calendar.planning import (
    CycleError,
    DueMilestone,
    Link,
    Peak,
    PlanTask,
    UnknownTask,
    critical_path,
    peak_overlaps,
    schedule_forward,
    team_overloads,
)

H = 3600
D = 86400


def T(
    task_id: int, start: int, duration: int, pinned: bool = False, fixed: bool = False
) -> PlanTask:
    return PlanTask(task_id, start, duration, pinned, fixed)


class TestCriticalPathByHand:
    def test_a_diamond_has_one_critical_branch(self):
        # 1 (2h) → 2 (3h) → 4 (1h); 1 → 3 (1h) → 4. Path via 2 is longer.
        tasks = [T(1, 0, 2 * H), T(2, 2 * H, 3 * H), T(3, 2 * H, 1 * H), T(4, 5 * H, 1 * H)]
        links = [Link(2, 1), Link(3, 1), Link(4, 2), Link(4, 3)]
        plan = critical_path(tasks, links)
        assert plan.critical_path == [1, 2, 4]
        assert plan.finish == 6 * H
        three = plan.times[3]
        assert (three.early_start, three.early_finish) == (2 * H, 3 * H)
        assert (three.late_start, three.late_finish) == (4 * H, 5 * H)
        assert three.slack == 2 * H and not three.critical
        assert plan.violations == []

    @pytest.mark.parametrize(
        ("kind", "lag", "expected_start"),
        [
            ("FS", 0, 10 * H),  # after A finishes
            ("FS", 2 * H, 12 * H),  # two hours after A finishes
            ("FS", -H, 9 * H),  # a lead of one hour
            ("SS", 3 * H, 3 * H),  # three hours after A starts
            ("FF", 0, 6 * H),  # B (4h) finishes when A finishes at 10h
            ("SF", 5 * H, 1 * H),  # B finishes 5h after A starts
        ],
    )
    def test_each_link_type_pushes_the_successor_as_the_books_say(
        self, kind: str, lag: int, expected_start: int
    ):
        # A: 0h-10h. B: 4h long, planned at 0 so that only the link decides.
        plan = critical_path([T(1, 0, 10 * H), T(2, 0, 4 * H)], [Link(2, 1, kind, lag)])
        assert plan.times[2].early_start == expected_start

    def test_a_task_never_starts_before_its_planned_date(self):
        # B is planned two days after A ends: its early start stays there.
        plan = critical_path([T(1, 0, D), T(2, 3 * D, D)], [Link(2, 1)])
        assert plan.times[2].early_start == 3 * D
        # A can slip until B's planned start without delaying anything.
        assert plan.times[1].slack == 2 * D
        assert plan.critical_path == [2]

    def test_a_fixed_milestone_makes_the_tight_chain_before_it_critical(self):
        # build (2 days) → launch on day 5 (fixed); review after launch ends the plan.
        # design (1 day) → build, with a day of buffer; build ends right at launch.
        tasks = [T(1, D, D), T(2, 3 * D, 2 * D), T(3, 5 * D, 0, fixed=True), T(4, 9 * D, D)]
        links = [Link(2, 1), Link(3, 2), Link(4, 3)]
        plan = critical_path(tasks, links)
        assert plan.critical_path == [2, 3, 4]
        assert plan.times[1].slack == D
        # Unfixed, the launch could slip to the review: nothing but it is critical.
        loose = critical_path([T(3, 5 * D, 0) if t.id == 3 else t for t in tasks], links)
        assert loose.critical_path == [4]

    def test_a_milestone_has_no_duration(self):
        plan = critical_path([T(1, 0, D), T(2, D, 0)], [Link(2, 1)])
        two = plan.times[2]
        assert two.early_start == two.early_finish == D
        assert plan.critical_path == [1, 2]


class TestViolations:
    def test_an_fs_link_broken_by_the_plan_is_reported_with_how_much(self):
        plan = critical_path([T(1, 0, 2 * D), T(2, D, D)], [Link(2, 1, "FS", 0)])
        (broken,) = plan.violations
        assert (broken.task_id, broken.depends_on, broken.constrained) == (2, 1, "start")
        assert (broken.required, broken.planned, broken.by) == (2 * D, D, D)

    def test_an_ff_link_is_checked_on_the_finish(self):
        # A ends at 10h; B (2h) must end 1h after: at 11h; planned to end at 8h.
        plan = critical_path([T(1, 0, 10 * H), T(2, 6 * H, 2 * H)], [Link(2, 1, "FF", H)])
        (broken,) = plan.violations
        assert broken.constrained == "finish"
        assert (broken.required, broken.planned, broken.by) == (11 * H, 8 * H, 3 * H)

    def test_links_the_plan_keeps_are_not_reported(self):
        tasks = [T(1, 0, 10 * H), T(2, 3 * H, H)]
        assert critical_path(tasks, [Link(2, 1, "SS", 3 * H)]).violations == []
        assert critical_path(tasks, [Link(2, 1, "SF", 4 * H)]).violations == []


class TestCycles:
    def test_a_cycle_is_named_task_by_task(self):
        tasks = [T(i, 0, H) for i in range(1, 6)]
        # 1 → 2 → 3 → 4 → 2 (a cycle of three), and 5 alone.
        links = [Link(2, 1), Link(3, 2), Link(4, 3), Link(2, 4)]
        with pytest.raises(CycleError) as raised:
            critical_path(tasks, links)
        cycle = raised.value.cycle
        assert sorted(cycle) == [2, 3, 4]
        # Each depends on the one before it, the first on the last.
        pairs = {(link.depends_on, link.task_id) for link in links}
        for before, after in zip(cycle, cycle[1:] + cycle[:1], strict=True):
            assert (before, after) in pairs

    def test_a_link_to_an_unknown_task_is_refused(self):
        with pytest.raises(UnknownTask):
            critical_path([T(1, 0, H)], [Link(1, 99)])

    def test_an_unknown_link_type_is_refused(self):
        with pytest.raises(ValueError, match="unknown dependency type"):
            critical_path([T(1, 0, H), T(2, 0, H)], [Link(2, 1, "XX")])


class TestScheduleForward:
    def test_a_milestone_keeps_its_promised_date(self):
        # Sign-up closes (a milestone) 20 days after it opens: pulling it
        # forward would close applications early, so it stays.
        tasks = [T(1, 0, 0, fixed=True), T(2, 20 * D, 0, fixed=True), T(3, 25 * D, D)]
        plan = schedule_forward(tasks, [Link(2, 1), Link(3, 2)])
        assert plan.starts[2] == 20 * D
        assert plan.starts[3] == 20 * D  # work after it still moves up

    def test_tasks_move_as_early_as_their_dependencies_allow(self):
        # B planned a week late, C planned too early: both move to right after.
        tasks = [T(1, 0, D), T(2, 8 * D, D), T(3, 0, D)]
        plan = schedule_forward(tasks, [Link(2, 1), Link(3, 2)])
        assert plan.starts == {1: 0, 2: D, 3: 2 * D}
        assert [(m.task_id, m.old_start, m.new_start) for m in plan.moves] == [
            (2, 8 * D, D),
            (3, 0, 2 * D),
        ]
        moved = [T(1, 0, D), T(2, D, D), T(3, 2 * D, D)]
        assert critical_path(moved, [Link(2, 1), Link(3, 2)]).violations == []

    def test_a_pinned_task_stays_where_it_is(self):
        tasks = [T(1, 0, D), T(2, 5 * D, D, pinned=True), T(3, 9 * D, D)]
        plan = schedule_forward(tasks, [Link(2, 1), Link(3, 2)])
        assert plan.starts == {1: 0, 2: 5 * D, 3: 6 * D}

    def test_nothing_moves_into_the_past(self):
        tasks = [T(1, 0, D), T(2, 9 * D, D)]
        plan = schedule_forward(tasks, [Link(2, 1)], now=3 * D)
        assert plan.starts[2] == 3 * D


class TestConflicts:
    def test_overlapping_peaks_are_paired_and_touching_ones_are_not(self):
        peaks = [Peak(1, 0, 10), Peak(2, 5, 15), Peak(3, 15, 20), Peak(4, 30, 40)]
        found = peak_overlaps(peaks)
        assert [(o.event_ids, o.start, o.end) for o in found] == [((1, 2), 5, 10)]

    def test_a_team_over_its_daily_limit_is_reported_across_events(self):
        day = date(2027, 10, 6)
        due = [DueMilestone(i, 1 + i % 2, "activity", day) for i in range(4)]
        due += [DueMilestone(9, 1, "design", day)]
        (overload,) = team_overloads(due, limit=3)
        assert (overload.team, overload.day, overload.event_ids) == ("activity", day, (1, 2))
        assert overload.task_ids == (0, 1, 2, 3)
        assert team_overloads(due, limit=4) == []


@st.composite
def plans(draw) -> tuple[list[PlanTask], list[Link]]:
    """Random acyclic plans: links only go from a lower to a higher id."""
    n = draw(st.integers(min_value=1, max_value=25))
    tasks = [
        T(
            i,
            draw(st.integers(0, 30)) * H,
            draw(st.sampled_from([0, H, 3 * H, D])),
            fixed=draw(st.booleans()),
        )
        for i in range(n)
    ]
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1]),
            max_size=3 * n,
            unique=True,
        )
    )
    links = [
        Link(s, p, draw(st.sampled_from(["FS", "SS", "FF", "SF"])), draw(st.integers(-4, 8)) * H)
        for p, s in pairs
    ]
    return tasks, links


class TestInvariants:
    @settings(max_examples=150, deadline=None)
    @given(plans())
    def test_slack_is_never_negative_and_critical_means_none(self, plan):
        tasks, links = plan
        result = critical_path(tasks, links)
        for task in tasks:
            times = result.times[task.id]
            assert times.slack >= 0
            assert times.early_start <= times.late_start
            assert times.early_finish <= times.late_finish <= result.finish
            assert times.critical == (task.id in result.critical_path) == (times.slack == 0)
        assert result.critical_path, "some task always ends the project"

    @settings(max_examples=150, deadline=None)
    @given(plans())
    def test_early_dates_keep_every_link(self, plan):
        tasks, links = plan
        result = critical_path(tasks, links)
        moved = [T(t.id, result.times[t.id].early_start, t.duration) for t in tasks]
        assert critical_path(moved, links).violations == []

    @settings(max_examples=150, deadline=None)
    @given(plans())
    def test_forward_scheduling_breaks_no_link_except_into_fixed_dates(self, plan):
        tasks, links = plan
        starts = schedule_forward(tasks, links).starts
        fixed = {t.id for t in tasks if t.fixed or t.pinned}
        assert all(starts[t] == t_.start for t_ in tasks for t in [t_.id] if t in fixed)
        moved = [T(t.id, starts[t.id], t.duration) for t in tasks]
        broken = critical_path(moved, links).violations
        assert all(v.task_id in fixed for v in broken)

    @settings(max_examples=100, deadline=None)
    @given(plans(), st.data())
    def test_a_back_link_on_a_path_is_a_cycle(self, plan, data):
        tasks, links = plan
        if not links:
            return
        link = data.draw(st.sampled_from(links))
        with pytest.raises(CycleError) as raised:
            critical_path(tasks, [*links, Link(link.depends_on, link.task_id)])
        assert len(raised.value.cycle) >= 2
