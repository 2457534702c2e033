"""Every SQL statement of the slots domain."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.slots.models import (
    AllocationAssignment,
    AllocationRefusal,
    AllocationRun,
    Merchant,
    RunStatus,
    SlotApplication,
    SlotLock,
    SlotPlan,
    SlotType,
)

# --- merchants and slot types ---------------------------------------------------


def merchants_query(merchant_id: int | None = None) -> SelectOfScalar[Merchant]:
    statement = select(Merchant)
    if merchant_id is not None:
        statement = statement.where(Merchant.id == merchant_id)
    return statement


def merchants_by_ids(session: Session, ids: Sequence[int]) -> dict[int, Merchant]:
    if not ids:
        return {}
    rows = session.exec(select(Merchant).where(col(Merchant.id).in_(list(set(ids)))))
    return {m.id: m for m in rows if m.id is not None}


def slot_type_by_code(session: Session, code: str) -> SlotType | None:
    return session.exec(select(SlotType).where(SlotType.code == code)).first()


def slot_types_by_ids(session: Session, ids: Sequence[int]) -> dict[int, SlotType]:
    if not ids:
        return {}
    rows = session.exec(select(SlotType).where(col(SlotType.id).in_(list(set(ids)))))
    return {t.id: t for t in rows if t.id is not None}


def slot_types_query() -> SelectOfScalar[SlotType]:
    return select(SlotType)


# --- plans and applications -----------------------------------------------------


def plan_for(session: Session, event_id: int, slot_type_id: int) -> SlotPlan | None:
    return session.exec(
        select(SlotPlan).where(SlotPlan.event_id == event_id, SlotPlan.slot_type_id == slot_type_id)
    ).first()


def plans_of(session: Session, event_id: int) -> list[SlotPlan]:
    statement = select(SlotPlan).where(SlotPlan.event_id == event_id).order_by(col(SlotPlan.id))
    return list(session.exec(statement))


def plans_query(event_id: int) -> SelectOfScalar[SlotPlan]:
    return select(SlotPlan).where(SlotPlan.event_id == event_id)


def count_plans(session: Session, event_id: int) -> int:
    statement = select(func.count()).select_from(SlotPlan).where(SlotPlan.event_id == event_id)
    return int(session.exec(statement).one())


def applications_query(
    event_id: int, merchant_id: int | None = None
) -> SelectOfScalar[SlotApplication]:
    statement = select(SlotApplication).where(SlotApplication.event_id == event_id)
    if merchant_id is not None:
        statement = statement.where(SlotApplication.merchant_id == merchant_id)
    return statement


def applications_of(session: Session, event_id: int) -> list[SlotApplication]:
    statement = applications_query(event_id).order_by(
        col(SlotApplication.created_at), col(SlotApplication.id)
    )
    return list(session.exec(statement))


def applications_by_ids(session: Session, ids: Collection[int]) -> list[SlotApplication]:
    if not ids:
        return []
    statement = select(SlotApplication).where(col(SlotApplication.id).in_(list(ids)))
    order = (col(SlotApplication.created_at), col(SlotApplication.id))
    return list(session.exec(statement.order_by(*order)))


def application(session: Session, application_id: int) -> SlotApplication | None:
    return session.get(SlotApplication, application_id)


# --- locks --------------------------------------------------------------------


def locks_of(session: Session, event_id: int) -> list[SlotLock]:
    statement = select(SlotLock).where(SlotLock.event_id == event_id).order_by(col(SlotLock.id))
    return list(session.exec(statement))


def lock_for(session: Session, application_id: int, window: date) -> SlotLock | None:
    return session.exec(
        select(SlotLock).where(
            SlotLock.application_id == application_id, SlotLock.window_date == window
        )
    ).first()


# --- runs -----------------------------------------------------------------------


def run(session: Session, event_id: int, run_id: int) -> AllocationRun | None:
    found = session.get(AllocationRun, run_id)
    return found if found is not None and found.event_id == event_id else None


def runs_query(event_id: int) -> SelectOfScalar[AllocationRun]:
    return select(AllocationRun).where(AllocationRun.event_id == event_id)


def published_run(session: Session, event_id: int) -> AllocationRun | None:
    return session.exec(
        select(AllocationRun).where(
            AllocationRun.event_id == event_id, AllocationRun.status == RunStatus.published
        )
    ).first()


def add_results(
    session: Session, assignments: list[dict[str, Any]], refusals: list[dict[str, Any]]
) -> None:
    """Bulk insert: a big run has hundreds of thousands of rows."""
    if assignments:
        session.execute(insert(AllocationAssignment), assignments)
    if refusals:
        session.execute(insert(AllocationRefusal), refusals)


def assignments_of(
    session: Session, run_id: int, merchant_id: int | None = None
) -> list[AllocationAssignment]:
    statement = select(AllocationAssignment).where(AllocationAssignment.run_id == run_id)
    if merchant_id is not None:
        statement = statement.where(AllocationAssignment.merchant_id == merchant_id)
    order = (
        col(AllocationAssignment.slot_type_id),
        col(AllocationAssignment.window_date),
        col(AllocationAssignment.position),
    )
    return list(session.exec(statement.order_by(*order)))


def refusals_of(
    session: Session, run_id: int, merchant_id: int | None = None
) -> list[AllocationRefusal]:
    statement = select(AllocationRefusal).where(AllocationRefusal.run_id == run_id)
    if merchant_id is not None:
        statement = statement.where(AllocationRefusal.merchant_id == merchant_id)
    order = (col(AllocationRefusal.application_id), col(AllocationRefusal.window_date))
    return list(session.exec(statement.order_by(*order)))


def supersede_published(session: Session, event_id: int, keep_run_id: int, at: datetime) -> int:
    """Mark the event's published run (other than `keep_run_id`) superseded."""
    result = session.execute(
        update(AllocationRun)
        .where(
            col(AllocationRun.event_id) == event_id,
            col(AllocationRun.status) == RunStatus.published,
            col(AllocationRun.id) != keep_run_id,
        )
        .values(status=RunStatus.superseded, superseded_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def mark_published(session: Session, run_id: int, at: datetime, actor: str) -> bool:
    """One conditional UPDATE; the partial unique index refuses a second
    published run of the same event, whoever writes it."""
    result = session.execute(
        update(AllocationRun)
        .where(
            col(AllocationRun.id) == run_id,
            col(AllocationRun.status).in_([RunStatus.solved, RunStatus.superseded]),
        )
        .values(
            status=RunStatus.published,
            published_at=at,
            published_by=actor,
            superseded_at=None,
            live_at=None,
            released_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def stamp_published(session: Session, event_id: int, column: str, at: datetime) -> int:
    """Set `live_at` or `released_at` on the published run once (idempotent)."""
    target = getattr(AllocationRun, column)
    result = session.execute(
        update(AllocationRun)
        .where(
            col(AllocationRun.event_id) == event_id,
            col(AllocationRun.status) == RunStatus.published,
            col(target).is_(None),
        )
        .values({column: at})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
