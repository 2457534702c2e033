"""The launch state machine, pure: which transitions an event has, what each
one does given the event's state, and when a failed one is retried.

No database, no web: every input, `now` included, is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Action(StrEnum):
    launch = "launch"
    phase_start = "phase_start"
    teardown = "teardown"


class TransitionStatus(StrEnum):
    pending = "pending"
    done = "done"
    skipped = "skipped"
    failed = "failed"


class Trigger(StrEnum):
    """Who applies a transition: the clock, a signed webhook, or a planner."""

    schedule = "schedule"
    webhook = "webhook"
    manual = "manual"


LAUNCH_MODES = frozenset(t.value for t in Trigger)
# Within one due time: launch, then phase starts in order, then teardown.
_TEARDOWN_SEQ = 10_000


@dataclass(frozen=True)
class PhaseWindow:
    key: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class PlannedTransition:
    action: Action
    due_at: datetime
    seq: int
    trigger: Trigger
    phase_key: str | None = None

    @property
    def key(self) -> str:
        """Unique per event: `launch`, `teardown`, `phase_start:<phase key>`."""
        if self.action is Action.phase_start:
            return f"phase_start:{self.phase_key}"
        return self.action.value


def plan_transitions(
    *,
    starts_at: datetime,
    ends_at: datetime,
    phases: Sequence[PhaseWindow],
    launch_mode: str,
) -> list[PlannedTransition]:
    """An event's transitions: launch at its start (applied by whoever its
    launch mode names), each phase start, teardown at its end (always by the clock)."""
    launch_trigger = Trigger(launch_mode)
    planned = [PlannedTransition(Action.launch, starts_at, 0, launch_trigger)]
    for position, phase in enumerate(sorted(phases, key=lambda p: p.starts_at), start=1):
        planned.append(
            PlannedTransition(
                Action.phase_start, phase.starts_at, position, Trigger.schedule, phase.key
            )
        )
    planned.append(PlannedTransition(Action.teardown, ends_at, _TEARDOWN_SEQ, Trigger.schedule))
    return planned


def scheduling_problems(
    *,
    starts_at: datetime,
    ends_at: datetime,
    phases: Sequence[PhaseWindow],
    launch_mode: str,
    now: datetime,
) -> list[str]:
    """Why an event cannot be scheduled; empty when it can."""
    problems: list[str] = []
    if launch_mode not in LAUNCH_MODES:
        problems.append(f"launch_mode must be one of {', '.join(sorted(LAUNCH_MODES))}")
    if ends_at <= starts_at:
        problems.append("the event ends before it starts")
    if ends_at <= now:
        problems.append(f"the event ended at {ends_at.isoformat()}, which has passed")
    for phase in phases:
        if phase.starts_at < starts_at or phase.ends_at > ends_at:
            problems.append(f"phase {phase.key!r} lies outside the event's window")
    return problems


class Verdict(StrEnum):
    apply = "apply"
    skip = "skip"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(
    action: Action, *, event_status: str, event_ends_at: datetime, now: datetime
) -> Decision:
    """What a due transition does to an event in `event_status` at `now`.

    A launch only makes a scheduled event live, and not once its window is
    over (catch-up after downtime records it as skipped; the teardown runs).
    A phase start only matters while the event is live. A teardown ends a live
    event, and also a scheduled one whose window passed without a launch (a
    webhook or manual launch that never came), so nothing stays pending forever.
    """
    if action is Action.launch:
        if event_status == "scheduled" and now < event_ends_at:
            return Decision(Verdict.apply, "launched")
        if event_status == "scheduled":
            return Decision(
                Verdict.skip,
                f"the event ended at {event_ends_at.isoformat()} before it could launch",
            )
        return Decision(Verdict.skip, f"the event is {event_status}, not scheduled")
    if action is Action.phase_start:
        if event_status == "live":
            return Decision(Verdict.apply, "phase started")
        return Decision(Verdict.skip, f"the event is {event_status}, not live")
    if event_status == "live":
        return Decision(Verdict.apply, "torn down")
    if event_status == "scheduled":
        return Decision(Verdict.apply, "ended without having launched")
    return Decision(Verdict.skip, f"the event is {event_status}, nothing to tear down")


def current_phase(phases: Sequence[PhaseWindow], at: datetime) -> str | None:
    """The key of the phase running at `at` (start inclusive, end exclusive)."""
    for phase in phases:
        if phase.starts_at <= at < phase.ends_at:
            return phase.key
    return None


def webhook_window_problem(
    *, starts_at: datetime, ends_at: datetime, lead: timedelta, now: datetime
) -> str | None:
    """Why a signed trigger may not launch the event now; None when it may."""
    opens = starts_at - lead
    if now < opens:
        return f"a webhook may launch this event from {opens.isoformat()}, not before"
    if now >= ends_at:
        return f"the event ended at {ends_at.isoformat()}"
    return None


@dataclass(frozen=True)
class GateState:
    gate: str
    enabled: bool
    applies: bool
    passed: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    ready: bool
    gates: tuple[GateState, ...]

    @property
    def blocking(self) -> tuple[GateState, ...]:
        return tuple(g for g in self.gates if not g.passed)

    def explain(self) -> str:
        blocking = self.blocking
        if not blocking:
            return "every readiness gate passes"
        return "; ".join(f"{g.gate}: {g.detail}" for g in blocking)


def readiness(
    results: Sequence[tuple[str, bool, bool, str]], config: Mapping[str, object] | None
) -> Readiness:
    """Combine gate results `(gate, applies, passed, detail)` with the event's
    gate configuration (`{gate: false}` switches a gate off; None = all on).

    A gate that is off or does not apply passes.
    """
    states = []
    for gate, applies, passed, detail in results:
        enabled = bool((config or {}).get(gate, True))
        if not enabled:
            states.append(GateState(gate, False, applies, True, "switched off for this event"))
        elif not applies:
            states.append(GateState(gate, True, False, True, detail))
        else:
            states.append(GateState(gate, True, True, passed, detail))
    return Readiness(all(s.passed for s in states), tuple(states))


def retry_delay(
    attempt: int, *, base_seconds: float = 2.0, cap_seconds: float = 300.0
) -> timedelta:
    """Backoff before retrying a transition that raised on attempt `attempt` (1-based):
    2 s, 4 s, 8 s... capped. Short, because a launch is late while it waits."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1)))
