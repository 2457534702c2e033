"""The calendar part of `promoplan demo`.

Puts in `ctx`:
- `ctx["events"]`: `{"double11": event id, "618": event id}`, both drafts
  stamped from the built-in templates (anchors 2027-11-11 and 2027-06-18,
  Asia/Shanghai), with their phases and milestones (codes as in
  `app.calendar.templates.MILESTONE_CODES`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from app.calendar import service
from app.calendar.schemas import FromTemplate, TaskCreate, TaskUpdate
from app.types import utcnow

ACTOR = "demo"


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """Add this domain's demo data; return lines to print."""
    double11 = service.create_from_template(
        session,
        data=FromTemplate(
            template="double11",
            anchor="2027-11-11",  # type: ignore[arg-type]
            description="Tmall-style Double 11: pre-sale from 24 Oct 20:00, peak 10-11 Nov.",
        ),
        actor=ACTOR,
    )
    six18 = service.create_from_template(
        session,
        data=FromTemplate(
            template="618",
            anchor="2027-06-18",  # type: ignore[arg-type]
            description="JD-style 618: opening rush from 31 May 20:00, peak 17-18 June.",
        ),
        actor=ACTOR,
    )
    _work_in_progress(session, event_id=six18.id or 0)
    _work_in_progress(session, event_id=double11.id or 0)
    late = _late_task(session, event_id=double11.id or 0)
    _slipped_submission(session, event_id=double11.id or 0)
    ctx["events"] = {"double11": double11.id, "618": six18.id}
    return [
        f"Calendar: Double 11 2027 (event {double11.id}) and 618 2027 (event {six18.id}) "
        "from the built-in templates.",
        f"  Gantt: /api/v1/events/{double11.id}/gantt — the recruitment brief "
        f"(task {late.id}) is overdue, and a broken dependency: creative review "
        "is planned to finish before creative submission does.",
        "  Year view: /api/v1/calendar?from=2027-01-01&to=2028-01-01",
    ]


def _work_in_progress(session: Session, *, event_id: int) -> None:
    """Planning has begun: sign-up is being prepared and coupons drafted."""
    for code, progress in (("promotion_setup", 40), ("logistics_booking", 25)):
        task = service.get_task_by_code(session, event_id=event_id, code=code)
        if task is not None and task.id is not None:
            service.update_task(
                session,
                event_id=event_id,
                task_id=task.id,
                data=TaskUpdate(progress=progress),
                if_match=None,
                actor=ACTOR,
            )


def _late_task(session: Session, *, event_id: int):
    """The recruitment brief was due yesterday and is not finished."""
    now = utcnow().replace(microsecond=0)
    brief = service.create_task(
        session,
        event_id=event_id,
        data=TaskCreate(
            name="Merchant recruitment brief 招商方案",
            code="recruitment_brief",
            team="activity",
            starts_at=now - timedelta(days=14),
            ends_at=now - timedelta(days=1),
            progress=80,
            required=True,
        ),
        actor=ACTOR,
    )
    opens = service.get_task_by_code(session, event_id=event_id, code="signup_open")
    if opens is not None and opens.id is not None:
        service.update_task(
            session,
            event_id=event_id,
            task_id=opens.id,
            data=TaskUpdate.model_validate({"depends_on": [{"task_id": brief.id}]}),
            if_match=None,
            actor=ACTOR,
        )
    return brief


def _slipped_submission(session: Session, *, event_id: int) -> None:
    """Merchants asked for two more days of creative submission: the review
    (FF + 1 day) is now planned too early, a broken dependency in the Gantt."""
    task = service.get_task_by_code(session, event_id=event_id, code="creative_submission")
    if task is not None and task.id is not None:
        service.update_task(
            session,
            event_id=event_id,
            task_id=task.id,
            data=TaskUpdate(ends_at=task.ends_at + timedelta(days=2)),
            if_match=None,
            actor=ACTOR,
        )
