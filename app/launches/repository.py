"""Every SQL statement of the launches domain, atomic guards included."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, exists, select

from app.launches.models import JobRun, Transition


def transitions_of(session: Session, event_id: int) -> list[Transition]:
    statement = (
        select(Transition)
        .where(Transition.event_id == event_id)
        .order_by(col(Transition.due_at), col(Transition.seq))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(statement))


def transitions_statement(event_id: int):
    return select(Transition).where(Transition.event_id == event_id)


def lock_transition(session: Session, event_id: int, key: str) -> Transition | None:
    """The row, locked until the transaction ends (waits for a holder)."""
    statement = (
        select(Transition)
        .where(Transition.event_id == event_id, Transition.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


def lock_free_open_ids(session: Session, event_id: int) -> set[int]:
    """Lock the event's pending and failed rows that nobody else holds, and
    return their ids. Rows a replica is applying right now are skipped, not
    waited for: whoever changes the event (cancel, edit) has already locked
    the event row, and the applier will lock it next — waiting here would
    deadlock. The applier then finds the event changed and stands down."""
    statement = (
        select(Transition.id)
        .where(Transition.event_id == event_id, col(Transition.status).in_(["pending", "failed"]))
        .with_for_update(skip_locked=True)
    )
    return set(session.exec(statement))


def _clock_may_take(candidate) -> list:
    """Conditions for the clock to take `candidate` (an alias of Transition)
    once its time comes: pending, clock-driven, and no earlier pending
    clock-driven row of the same event before it."""
    earlier = aliased(Transition, name="earlier")
    waits_for_earlier = exists().where(
        earlier.event_id == candidate.event_id,
        earlier.status == "pending",
        earlier.trigger == "schedule",
        or_(
            earlier.due_at < candidate.due_at,
            and_(earlier.due_at == candidate.due_at, earlier.seq < candidate.seq),
        ),
    )
    return [candidate.status == "pending", candidate.trigger == "schedule", ~waits_for_earlier]


def claim_next_due(
    session: Session, *, now: datetime, exclude: Collection[int] = ()
) -> Transition | None:
    """Claim the earliest due clock-driven transition for this transaction.

    One statement: `UPDATE transition ... WHERE id = (SELECT ... LIMIT 1 FOR
    UPDATE SKIP LOCKED) AND status = 'pending' RETURNING *`. On PostgreSQL
    SKIP LOCKED takes a row no other replica holds, and the row lock lasts
    until the transaction that applies it commits; on SQLite the transaction
    already holds the database's write lock (BEGIN IMMEDIATE). The outer
    `status = 'pending'` is the compare-and-set: a row that changed since it
    was picked is not claimed.

    A row waits while an earlier pending clock-driven row of the same event
    exists, so one event's transitions apply in order even when several
    replicas take rows at once (a teardown never overtakes its launch).
    """
    candidate = aliased(Transition, name="candidate")
    pick = (
        select(candidate.id)
        .where(
            *_clock_may_take(candidate),
            func.coalesce(candidate.next_attempt_at, candidate.due_at) <= now,
        )
        .order_by(candidate.due_at, candidate.seq, candidate.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=candidate)
    )
    if exclude:
        pick = pick.where(col(candidate.id).not_in(list(exclude)))
    claim = (
        update(Transition)
        .where(col(Transition.id) == pick.scalar_subquery(), col(Transition.status) == "pending")
        .values(
            attempts=Transition.attempts + 1,  # type: ignore[operator]
            version=Transition.version + 1,  # type: ignore[operator]
        )
        .returning(Transition)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.execute(claim).scalars().first()


def next_ready_at(session: Session) -> datetime | None:
    """When the clock next has something to do (rows waiting for an earlier
    one of their event do not count: that one's time comes first)."""
    candidate = aliased(Transition, name="candidate")
    statement = select(func.min(func.coalesce(candidate.next_attempt_at, candidate.due_at))).where(
        *_clock_may_take(candidate)
    )
    return session.exec(statement).first()


def record_failed_attempt(
    session: Session,
    *,
    transition_id: int,
    seen_attempts: int,
    now: datetime,
    next_attempt_at: datetime | None,
    detail: str,
) -> bool:
    """After a run raised: count the attempt and retry later, or give up
    (`next_attempt_at` None). Conditional on nobody having moved the row."""
    values: dict[str, object] = {
        "attempts": seen_attempts + 1,
        "updated_at": now,
        "detail": detail,
        "version": Transition.version + 1,  # type: ignore[operator]
    }
    if next_attempt_at is None:
        values.update(status="failed", next_attempt_at=None, applied_at=now)
    else:
        values["next_attempt_at"] = next_attempt_at
    result = session.execute(
        update(Transition)
        .where(
            col(Transition.id) == transition_id,
            col(Transition.status) == "pending",
            col(Transition.attempts) == seen_attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def job_runs_statement(event_id: int | None = None, outcome: str | None = None):
    statement = select(JobRun)
    if event_id is not None:
        statement = statement.where(JobRun.event_id == event_id)
    if outcome is not None:
        statement = statement.where(JobRun.outcome == outcome)
    return statement
