"""Use cases of the launches domain, and the orchestration of a launch,
a phase start and a teardown across calendar, slots, promotions and webhooks.

Every transition is applied inside one transaction that also marks its row
done and writes its job run and its outbox rows: it happens entirely, once,
or not at all. The row lock on the transition (and the calendar's
compare-and-set on the event's status) is what makes "once" hold between
replicas, the clock, a planner and a webhook racing for the same event.

The receivers at the bottom plan transitions when the calendar schedules,
moves or cancels an event; `app/launches/router.py` imports this module so
that they are connected whenever the app is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app import audit, signals
from app.auth import Principal
from app.calendar import service as calendar_service
from app.calendar.errors import CannotSchedule
from app.calendar.models import Event
from app.config import get_settings
from app.db import session_scope
from app.launches import lifecycle, repository
from app.launches.errors import (
    InvalidTransition,
    LaunchBlocked,
    LaunchModeMismatch,
    OutsideLaunchWindow,
)
from app.launches.lifecycle import Action, Trigger
from app.launches.models import JobRun, Transition
from app.promotions import service as promotions_service
from app.slots import service as slots_service
from app.types import utcnow
from app.webhooks import service as webhooks_service

log = logging.getLogger("promoplan.launches")

CLOCK_ACTOR = "system:clock"
# A unit of work: a context manager yielding a session, committing at the end.
Scope = Callable[[], AbstractContextManager[Session]]
# session.info key: the earliest due time planned in this transaction (wakes the clock).
DUE_FLAG = "promoplan.launches.next_due"


# --- reading -------------------------------------------------------------------


def get_event_or_raise(session: Session, *, event_id: int) -> Event:
    return calendar_service.get_or_raise(session, event_id=event_id)


def list_transitions(session: Session, *, event_id: int) -> list[Transition]:
    calendar_service.get_or_raise(session, event_id=event_id)
    return repository.transitions_of(session, event_id)


def transitions_statement(*, event_id: int):
    return repository.transitions_statement(event_id)


def _phase_windows(session: Session, event_id: int) -> list[lifecycle.PhaseWindow]:
    return [
        lifecycle.PhaseWindow(p.key, p.starts_at, p.ends_at)
        for p in calendar_service.list_phases(session, event_id=event_id)
    ]


def _gate_config(raw: Any) -> Mapping[str, object] | None:
    """The event's `gates`: `{gate: bool}`; a list names the gates that are on."""
    if isinstance(raw, list):
        names = {"required_tasks", "allocation", "risk"}
        return {name: name in raw for name in names}
    return raw if isinstance(raw, Mapping) else None


def readiness(session: Session, *, event_id: int) -> lifecycle.Readiness:
    """The gates a launch checks, each with its state and why."""
    event = calendar_service.get_or_raise(session, event_id=event_id)
    results = [
        calendar_service.launch_gate(session, event_id=event_id),
        slots_service.launch_gate(session, event_id=event_id),
        promotions_service.launch_gate(session, event_id=event_id),
    ]
    return lifecycle.readiness(
        [(r.gate, r.applies, r.passed, r.detail) for r in results], _gate_config(event.gates)
    )


def readiness_body(event_id: int, verdict: lifecycle.Readiness, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ready": verdict.ready,
        "gates": [
            {
                "gate": g.gate,
                "enabled": g.enabled,
                "applies": g.applies,
                "passed": g.passed,
                "detail": g.detail,
            }
            for g in verdict.gates
        ],
        "checked_at": at.isoformat(),
    }


# --- planning ------------------------------------------------------------------


def _note_due(session: Session, due_at: datetime | None) -> None:
    if due_at is None:
        return
    current = session.info.get(DUE_FLAG)
    if current is None or due_at < current:
        session.info[DUE_FLAG] = due_at


def plan(session: Session, *, event: Event, now: datetime) -> list[Transition]:
    """Bring the event's pending transitions in step with the event.

    New ones are added, pending ones moved, those of removed phases dropped;
    done and skipped ones are history and stay. A launch that failed (a gate
    blocked it) is planned again when its due time moves.
    """
    assert event.id is not None
    planned = lifecycle.plan_transitions(
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        phases=_phase_windows(session, event.id),
        launch_mode=event.launch_mode,
    )
    # Lock first, then read: the rows we may change are then current.
    free = repository.lock_free_open_ids(session, event.id)
    existing = {row.key: row for row in repository.transitions_of(session, event.id)}
    for item in planned:
        row = existing.pop(item.key, None)
        if row is None:
            session.add(
                Transition(
                    event_id=event.id,
                    key=item.key,
                    action=item.action.value,
                    phase_key=item.phase_key,
                    seq=item.seq,
                    due_at=item.due_at,
                    trigger=item.trigger.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            continue
        if row.id not in free:
            continue  # done, skipped, or being applied right now
        moved = row.due_at != item.due_at
        if row.status == "failed" and moved:
            row.status, row.attempts, row.applied_at = "pending", 0, None
            row.detail = f"planned again for {item.due_at.isoformat()}"
        if row.status != "pending":
            continue
        if moved:
            row.next_attempt_at = None
        row.due_at, row.seq, row.trigger, row.updated_at = (
            item.due_at,
            item.seq,
            item.trigger.value,
            now,
        )
        session.add(row)
    for row in existing.values():
        if row.status == "pending" and row.id in free:
            session.delete(row)
    session.flush()
    rows = repository.transitions_of(session, event.id)
    _note_due(
        session,
        min(
            (r.due_at for r in rows if r.status == "pending" and r.trigger == "schedule"),
            default=None,
        ),
    )
    return rows


def _skip_pending(
    session: Session, *, event_id: int, detail: str, now: datetime, except_id: int | None = None
) -> int:
    """Mark the event's pending transitions skipped (those another
    transaction is applying right now are left to it)."""
    session.flush()
    ids = repository.lock_free_open_ids(session, event_id) - {except_id}
    if not ids:
        return 0
    result = session.execute(
        update(Transition)
        .where(col(Transition.id).in_(sorted(ids)), col(Transition.status) == "pending")
        .values(
            status="skipped",
            detail=detail,
            applied_at=now,
            updated_at=now,
            next_attempt_at=None,
            version=Transition.version + 1,  # type: ignore[operator]
        )
        .execution_options(synchronize_session=False)
    )
    # Only the rows just changed are stale; expiring more would drop the
    # caller's unflushed changes.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Transition) and obj.event_id == event_id:
            session.expire(obj)
    return result.rowcount


@dataclass(frozen=True)
class Applied:
    """What one run of a transition did."""

    transition: Transition
    run: JobRun
    readiness: lifecycle.Readiness | None = None
    overridden: bool = False


@dataclass(frozen=True)
class _Run:
    """One run of a claimed (locked) transition: by whom, how, when."""

    transition: Transition
    event: Event
    event_id: int
    actor: str
    trigger: str
    instance_id: str
    started_at: datetime
    now: datetime


def _event_data(event: Event, transition: Transition, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "name": event.name,
        "slug": event.slug,
        "status": event.status,
        "timezone": event.timezone,
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "phase": event.current_phase_key,
        "transition": {
            "id": transition.id,
            "action": transition.action,
            "phase": transition.phase_key,
            "due_at": transition.due_at.isoformat(),
        },
        "at": at.isoformat(),
    }


def _notify(session: Session, run: _Run, type: str, **extra: Any) -> None:
    """Queue `type` to subscribers, in the transaction of the change."""
    webhooks_service.enqueue(
        session,
        type=type,
        data={**_event_data(run.event, run.transition, run.now), **extra},
        at=run.now,
        event_id=run.event_id,
    )


def _finish(session: Session, run: _Run, *, status: str, outcome: str, detail: str) -> JobRun:
    """Close the transition and write its job run, in the transaction that applied it."""
    transition = run.transition
    transition.status = status
    transition.detail = detail
    transition.applied_at = run.now
    transition.applied_by = run.actor
    transition.next_attempt_at = None
    transition.updated_at = run.now
    session.add(transition)
    job = JobRun(
        transition_id=transition.id,  # type: ignore[arg-type]
        event_id=run.event_id,
        action=transition.action,
        phase_key=transition.phase_key,
        trigger=run.trigger,
        instance_id=run.instance_id,
        attempt=max(1, transition.attempts),
        due_at=transition.due_at,
        started_at=run.started_at,
        finished_at=utcnow(),
        outcome=outcome,
        detail=detail,
    )
    session.add(job)
    session.flush()
    return job


def _audit_status(session: Session, run: _Run, *, action: str, before: str, detail: str) -> None:
    audit.record(
        session,
        actor=run.actor,
        action=action,
        resource_type="event",
        resource_id=run.event_id,
        before={"status": before},
        after={"status": run.event.status, "phase": run.event.current_phase_key, "detail": detail},
    )


def _apply(
    session: Session,
    *,
    transition: Transition,
    now: datetime,
    actor: str,
    trigger: str,
    instance_id: str,
    started_at: datetime,
    checked: lifecycle.Readiness | None = None,
    override: bool = False,
) -> Applied:
    """Apply a claimed (locked) transition to its event. `checked` is a
    readiness verdict already taken (manual launch); the clock checks here."""
    event = calendar_service.get_or_raise(session, event_id=transition.event_id)
    session.refresh(event)  # the committed status, not what this session saw before the lock
    run = _Run(transition, event, transition.event_id, actor, trigger, instance_id, started_at, now)
    action = Action(transition.action)
    decision = lifecycle.decide(
        action, event_status=event.status, event_ends_at=event.ends_at, now=now
    )
    if decision.verdict is lifecycle.Verdict.skip:
        job = _finish(session, run, status="skipped", outcome="skipped", detail=decision.reason)
        return Applied(transition, job)
    if action is Action.launch:
        return _launch(session, run, checked=checked, override=override)
    if action is Action.phase_start:
        return _start_phase(session, run)
    return _teardown(session, run)


def _block(session: Session, run: _Run, verdict: lifecycle.Readiness) -> Applied:
    """A gate fails: record why, keep the event scheduled, tell subscribers."""
    detail = f"blocked: {verdict.explain()}"
    job = _finish(session, run, status="failed", outcome="blocked", detail=detail)
    _notify(
        session,
        run,
        "event.launch_blocked",
        readiness=readiness_body(run.event_id, verdict, run.now),
    )
    audit.record(
        session,
        actor=run.actor,
        action="event.launch_blocked",
        resource_type="event",
        resource_id=run.event_id,
        after={"detail": detail},
    )
    return Applied(run.transition, job, verdict)


def _status_changed_first(session: Session, run: _Run) -> Applied:
    # Unreachable while the row lock is held, but a compare-and-set that
    # loses must still leave a trace rather than act.
    job = _finish(
        session,
        run,
        status="skipped",
        outcome="skipped",
        detail="the event's status changed first",
    )
    return Applied(run.transition, job)


def _launch(
    session: Session, run: _Run, *, checked: lifecycle.Readiness | None, override: bool
) -> Applied:
    verdict = checked or readiness(session, event_id=run.event_id)
    if not verdict.ready and not override:
        return _block(session, run, verdict)
    if not calendar_service.transition_status(
        session, event_id=run.event_id, expected={"scheduled"}, new="live", at=run.now
    ):
        return _status_changed_first(session, run)
    run.event.current_phase_key = lifecycle.current_phase(
        _phase_windows(session, run.event_id), run.now
    )
    run.event.updated_at = run.now
    session.add(run.event)
    session.flush()
    slots_service.set_live(session, event_id=run.event_id, live=True, at=run.now)
    overridden = override and not verdict.ready
    detail = f"launched by override despite: {verdict.explain()}" if overridden else "launched"
    job = _finish(session, run, status="done", outcome="done", detail=detail)
    _notify(session, run, "event.launched")
    _audit_status(session, run, action="event.launch", before="scheduled", detail=detail)
    return Applied(run.transition, job, verdict, overridden=overridden)


def _start_phase(session: Session, run: _Run) -> Applied:
    run.event.current_phase_key = run.transition.phase_key
    run.event.updated_at = run.now
    session.add(run.event)
    session.flush()
    detail = f"phase {run.transition.phase_key} started"
    job = _finish(session, run, status="done", outcome="done", detail=detail)
    _notify(session, run, "event.phase_started")
    return Applied(run.transition, job)


def _teardown(session: Session, run: _Run) -> Applied:
    before = run.event.status
    if not calendar_service.transition_status(
        session, event_id=run.event_id, expected={"scheduled", "live"}, new="ended", at=run.now
    ):
        return _status_changed_first(session, run)
    if before == "live":
        slots_service.set_live(session, event_id=run.event_id, live=False, at=run.now)
        detail = "torn down"
    else:
        detail = "ended without having launched"
    _skip_pending(
        session,
        event_id=run.event_id,
        detail="the event ended first",
        now=run.now,
        except_id=run.transition.id,
    )
    session.refresh(run.transition)
    session.refresh(run.event)
    job = _finish(session, run, status="done", outcome="done", detail=detail)
    _notify(session, run, "event.ended")
    _audit_status(session, run, action="event.teardown", before=before, detail=detail)
    return Applied(run.transition, job)


def _locked_row(session: Session, event: Event, key: str, now: datetime) -> Transition:
    """The event's transition `key`, locked; planned first if the event
    somehow has none yet (scheduled before this domain was installed)."""
    row = repository.lock_transition(session, event.id, key)  # type: ignore[arg-type]
    if row is None:
        plan(session, event=event, now=now)
        row = repository.lock_transition(session, event.id, key)  # type: ignore[arg-type]
    assert row is not None
    return row


def launch(
    session: Session,
    *,
    event_id: int,
    actor: Principal | str,
    trigger: Trigger,
    now: datetime,
    override: bool = False,
    reason: str | None = None,
    instance_id: str | None = None,
) -> Applied:
    """Launch by hand or on a signed webhook. 409 when the event is not
    scheduled, its window has passed (or, for a webhook, not yet opened), or
    a gate fails (a planner may override; a webhook may not)."""
    started_at = utcnow()
    actor_name = actor.actor if isinstance(actor, Principal) else actor
    event = calendar_service.get_or_raise(session, event_id=event_id)
    if event.status == "draft":
        raise InvalidTransition("the event is a draft; schedule it first")
    # Lock the launch row first: the clock takes the same lock, so only one
    # of them can apply it, whichever comes second sees it done.
    row = _locked_row(session, event, Action.launch.value, now)
    session.refresh(event)
    if event.status != "scheduled":
        raise InvalidTransition(f"the event is {event.status}; only a scheduled event can launch")
    if now >= event.ends_at:
        raise InvalidTransition(f"the event ended at {event.ends_at.isoformat()}")
    if trigger is Trigger.webhook:
        if event.launch_mode == Trigger.schedule.value:
            raise LaunchModeMismatch(
                "this event launches on its schedule; set launch_mode to webhook or manual "
                "to let a webhook launch it"
            )
        problem = lifecycle.webhook_window_problem(
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            lead=timedelta(seconds=get_settings().webhook_launch_lead_seconds),
            now=now,
        )
        if problem:
            raise OutsideLaunchWindow(problem)
    verdict = readiness(session, event_id=event_id)
    if not verdict.ready and not override:
        raise LaunchBlocked(
            f"launch blocked: {verdict.explain()}"
            + ("; a planner may launch with override" if trigger is Trigger.manual else ""),
            readiness=readiness_body(event_id, verdict, now),
        )
    row.attempts += 1
    applied = _apply(
        session,
        transition=row,
        now=now,
        actor=actor_name,
        trigger=trigger.value,
        instance_id=instance_id or get_settings().instance_id,
        started_at=started_at,
        checked=verdict,
        override=override,
    )
    if reason:
        audit.record(
            session,
            actor=actor_name,
            action="event.launch_reason",
            resource_type="event",
            resource_id=event_id,
            after={"reason": reason, "override": override},
        )
    return applied


def teardown(
    session: Session,
    *,
    event_id: int,
    actor: Principal | str,
    trigger: Trigger,
    now: datetime,
    reason: str | None = None,
    instance_id: str | None = None,
) -> Applied:
    """End a live event now, by hand or on a signed webhook; 409 unless live."""
    started_at = utcnow()
    actor_name = actor.actor if isinstance(actor, Principal) else actor
    event = calendar_service.get_or_raise(session, event_id=event_id)
    if event.status == "draft":
        raise InvalidTransition("the event is a draft; there is nothing to tear down")
    row = _locked_row(session, event, Action.teardown.value, now)
    session.refresh(event)
    if event.status != "live":
        raise InvalidTransition(f"the event is {event.status}; only a live event can be torn down")
    row.attempts += 1
    applied = _apply(
        session,
        transition=row,
        now=now,
        actor=actor_name,
        trigger=trigger.value,
        instance_id=instance_id or get_settings().instance_id,
        started_at=started_at,
    )
    if reason:
        audit.record(
            session,
            actor=actor_name,
            action="event.teardown_reason",
            resource_type="event",
            resource_id=event_id,
            after={"reason": reason},
        )
    return applied


# --- the clock's runner --------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    transition_id: int
    event_id: int
    action: str
    outcome: str


def _record_failure(
    session: Session,
    *,
    transition_id: int,
    seen_attempts: int,
    error: str,
    now: datetime,
    started_at: datetime,
    instance_id: str,
    max_attempts: int,
) -> str:
    """After a run raised (and rolled back): retry with backoff, or give up."""
    transition = session.get(Transition, transition_id)
    if transition is None:
        return "gone"
    attempt = seen_attempts + 1
    give_up = attempt >= max_attempts
    retry_at = None if give_up else now + lifecycle.retry_delay(attempt)
    detail = (
        f"failed after {attempt} attempts: {error}"
        if give_up
        else f"attempt {attempt} failed ({error}); retrying at {retry_at.isoformat()}"  # type: ignore[union-attr]
    )
    if not repository.record_failed_attempt(
        session,
        transition_id=transition_id,
        seen_attempts=seen_attempts,
        now=now,
        next_attempt_at=retry_at,
        detail=detail,
    ):
        return "superseded"
    outcome = "failed" if give_up else "error"
    session.add(
        JobRun(
            transition_id=transition_id,
            event_id=transition.event_id,
            action=transition.action,
            phase_key=transition.phase_key,
            trigger=Trigger.schedule.value,
            instance_id=instance_id,
            attempt=attempt,
            due_at=transition.due_at,
            started_at=started_at,
            finished_at=utcnow(),
            outcome=outcome,
            error=error[:4000],
            detail=detail,
        )
    )
    if give_up:
        session.refresh(transition)
        event = calendar_service.get(session, event_id=transition.event_id)
        if event is not None:
            webhooks_service.enqueue(
                session,
                type="event.transition_failed",
                data={**_event_data(event, transition, now), "error": error[:1000]},
                at=now,
                event_id=event.id,
            )
    session.flush()
    return outcome


def run_due(
    *,
    engine: Engine | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
    instance_id: str | None = None,
    limit: int = 10_000,
) -> list[RunReport]:
    """Apply every due clock-driven transition, earliest first, one
    transaction each; returns what happened. Safe to run in every replica at
    once. `now` pins the clock (tests); otherwise each claim reads the time.
    `scope` makes the unit of work (default: `session_scope(engine)`)."""
    settings = get_settings()
    unit = scope or (lambda: session_scope(engine))
    instance = instance_id or settings.instance_id
    reports: list[RunReport] = []
    failed_now: set[int] = set()
    while len(reports) < limit:
        at = now or utcnow()
        started_at = utcnow()
        claimed: tuple[int, int, int, str] | None = None
        try:
            with unit() as session:
                row = repository.claim_next_due(session, now=at, exclude=failed_now)
                if row is None:
                    break
                claimed = (row.id, row.event_id, row.attempts - 1, row.action)  # type: ignore[assignment]
                applied = _apply(
                    session,
                    transition=row,
                    now=at,
                    actor=CLOCK_ACTOR,
                    trigger=Trigger.schedule.value,
                    instance_id=instance,
                    started_at=started_at,
                )
                reports.append(RunReport(row.id, row.event_id, row.action, applied.run.outcome))  # type: ignore[arg-type]
        except Exception as exc:
            if claimed is None:
                log.exception("could not claim due transitions")
                break
            transition_id, event_id, seen, action = claimed
            log.warning("transition %s failed: %s", transition_id, exc)
            failed_now.add(transition_id)
            try:
                with unit() as session:
                    outcome = _record_failure(
                        session,
                        transition_id=transition_id,
                        seen_attempts=seen,
                        error=f"{type(exc).__name__}: {exc}",
                        now=at,
                        started_at=started_at,
                        instance_id=instance,
                        max_attempts=settings.transition_max_attempts,
                    )
            except Exception:
                log.exception("could not record the failure of transition %s", transition_id)
                outcome = "error"
            reports.append(RunReport(transition_id, event_id, action, outcome))
    return reports


def next_due_at(*, engine: Engine | None = None, scope: Scope | None = None) -> datetime | None:
    with (scope or (lambda: session_scope(engine)))() as session:
        return repository.next_ready_at(session)


def job_runs_statement(*, event_id: int | None, outcome: str | None):
    return repository.job_runs_statement(event_id, outcome)


# --- reactions to the calendar ---------------------------------------------------


@signals.event_scheduled.connect
def plan_when_scheduled(session: Session, *, event: Event, **_: Any) -> None:
    now = utcnow()
    problems = lifecycle.scheduling_problems(
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        phases=_phase_windows(session, event.id),  # type: ignore[arg-type]
        launch_mode=event.launch_mode,
        now=now,
    )
    if problems:
        raise CannotSchedule("; ".join(problems), reasons=problems)
    plan(session, event=event, now=now)


@signals.event_rescheduled.connect
def replan_when_moved(session: Session, *, event: Event, **_: Any) -> None:
    if event.status not in ("scheduled", "live"):
        return
    plan(session, event=event, now=utcnow())


@signals.event_cancelled.connect
def drop_when_cancelled(session: Session, *, event: Event, **_: Any) -> None:
    now = utcnow()
    assert event.id is not None
    _skip_pending(session, event_id=event.id, detail="the event was cancelled", now=now)
    if event.launched_at is not None:
        slots_service.set_live(session, event_id=event.id, live=False, at=now)
    webhooks_service.enqueue(
        session,
        type="event.cancelled",
        data={
            "event_id": event.id,
            "name": event.name,
            "slug": event.slug,
            "status": event.status,
            "starts_at": event.starts_at.isoformat(),
            "ends_at": event.ends_at.isoformat(),
            "at": now.isoformat(),
        },
        at=now,
        event_id=event.id,
    )
