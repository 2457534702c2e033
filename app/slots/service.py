"""Use cases of the slots domain.

The first functions are the slots domain's contract with the others
(promotions, launches): keep their names and signatures.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import audit, signals
from app.auth import Principal, Role
from app.calendar import repository as calendar_repository
from app.calendar import service as calendar_service
from app.calendar.models import Event, EventStatus
from app.errors import Conflict, ValidationProblem
from app.gates import GateResult
from app.slots import repository, solver
from app.slots.errors import (
    AllocationConflict,
    ApplicationNotFound,
    DuplicateLock,
    DuplicateSlotPlan,
    DuplicateSlotType,
    EventClosed,
    LockConflict,
    LockNotFound,
    MerchantNotFound,
    NotYourMerchant,
    PublishConflict,
    RunNotFound,
    SignupClosed,
    SlotPlanConflict,
    SlotPlanNotFound,
)
from app.slots.models import (
    AllocationRun,
    Merchant,
    RunStatus,
    SlotApplication,
    SlotLock,
    SlotPlan,
    SlotType,
)
from app.slots.schemas import (
    ApplicationCreate,
    ApplicationRead,
    AssignmentRead,
    LockCreate,
    LockRead,
    MerchantCreate,
    MerchantRead,
    RefusalRead,
    RunRead,
    RunSummary,
    SlotPlanCreate,
    SlotPlanRead,
    SlotPlanUpdate,
    SlotTypeCreate,
    SlotTypeRead,
)
from app.types import parse_duration, utcnow, zone
from app.versioning import check_version

SYSTEM_ACTOR = "system:slots"

# --- contract with other domains -------------------------------------------


def merchant_tiers(session: Session, *, merchant_ids: list[int]) -> dict[int, str]:
    """The tier of each known merchant among `merchant_ids`."""
    if not merchant_ids:
        return {}
    rows = session.exec(
        select(Merchant.id, Merchant.tier).where(col(Merchant.id).in_(merchant_ids))
    )
    return {merchant_id: tier for merchant_id, tier in rows if merchant_id is not None}


def launch_gate(session: Session, *, event_id: int) -> GateResult:
    """An event with slot plans needs a published allocation before launch."""
    plans = repository.count_plans(session, event_id)
    if plans == 0:
        return GateResult(
            "allocation", passed=True, applies=False, detail="the event has no slot plans"
        )
    published = repository.published_run(session, event_id)
    if published is None:
        return GateResult(
            "allocation",
            passed=False,
            applies=True,
            detail=f"the event has {plans} slot plan(s) but no published allocation; "
            "run one (POST /events/{id}/allocation-runs) and publish it",
        )
    return GateResult(
        "allocation",
        passed=True,
        applies=True,
        detail=f"allocation run {published.id} is published "
        f"({'optimal' if published.optimal else f'gap {published.gap:.4%}'})",
    )


def set_live(session: Session, *, event_id: int, live: bool, at: datetime) -> None:
    """Put the published allocation live at launch (`live=True`), or release
    it at teardown (`live=False`). Idempotent: the first call stamps the
    time, later ones change nothing. No published run: nothing to do."""
    column = "live_at" if live else "released_at"
    changed = repository.stamp_published(session, event_id, column, at)
    if changed:
        run = repository.published_run(session, event_id)
        if run is not None:
            session.refresh(run)
            audit.record(
                session,
                actor=SYSTEM_ACTOR,
                action="allocation.live" if live else "allocation.released",
                resource_type="allocation_run",
                resource_id=run.id,
                after={"event_id": event_id, column: at.isoformat()},
            )


# --- merchants ----------------------------------------------------------------


def merchant_read(merchant: Merchant) -> MerchantRead:
    return MerchantRead.model_validate(merchant)


def create_merchant(session: Session, *, data: MerchantCreate, actor: Principal) -> Merchant:
    merchant = Merchant(name=data.name, tier=data.tier, categories=list(data.categories))
    session.add(merchant)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="merchant.create",
        resource_type="merchant",
        resource_id=merchant.id,
        after=merchant_read(merchant),
    )
    return merchant


def get_merchant_or_raise(session: Session, *, merchant_id: int, principal: Principal) -> Merchant:
    _check_own_merchant(principal, merchant_id)
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    return merchant


def list_merchants(principal: Principal):
    """A merchant key sees only its own merchant."""
    own = principal.merchant_id if principal.role is Role.merchant else None
    return repository.merchants_query(own)


def _check_own_merchant(principal: Principal, merchant_id: int) -> None:
    if principal.role is Role.merchant and principal.merchant_id != merchant_id:
        raise NotYourMerchant(
            f"this key belongs to merchant {principal.merchant_id}; it may not act for "
            f"or read merchant {merchant_id}"
        )


# --- slot types -------------------------------------------------------------------


def slot_type_read(slot_type: SlotType) -> SlotTypeRead:
    return SlotTypeRead(
        id=slot_type.id or 0,
        code=slot_type.code,
        name=slot_type.name,
        channel=slot_type.channel,
        capacity=slot_type.capacity,
        window="P1D",
        created_at=slot_type.created_at,
        version=slot_type.version,
    )


def create_slot_type(session: Session, *, data: SlotTypeCreate, actor: Principal) -> SlotType:
    try:
        window = parse_duration(data.window)
    except ValueError as exc:
        raise ValidationProblem(str(exc), loc=["body", "window"]) from exc
    if window != timedelta(days=1):
        raise ValidationProblem(
            "windows are days in the event's time zone: use P1D", loc=["body", "window"]
        )
    if repository.slot_type_by_code(session, data.code) is not None:
        raise DuplicateSlotType(f"slot type {data.code!r} exists already")
    slot_type = SlotType(
        code=data.code, name=data.name, channel=data.channel, capacity=data.capacity
    )
    try:
        with session.begin_nested():
            session.add(slot_type)
    except IntegrityError as exc:  # a concurrent create of the same code
        raise DuplicateSlotType(f"slot type {data.code!r} exists already") from exc
    audit.record(
        session,
        actor=actor,
        action="slot_type.create",
        resource_type="slot_type",
        resource_id=slot_type.id,
        after=slot_type_read(slot_type),
    )
    return slot_type


def get_slot_type_by_code_or_raise(session: Session, *, code: str, loc: list[str]) -> SlotType:
    slot_type = repository.slot_type_by_code(session, code)
    if slot_type is None:
        raise ValidationProblem(f"no slot type with code {code!r}", loc=loc)
    return slot_type


# --- slot plans ---------------------------------------------------------------------


def event_days(event: Event) -> list[date]:
    """Every day the event touches, in its own time zone."""
    tz = zone(event.timezone)
    first = event.starts_at.astimezone(tz).date()
    last = (event.ends_at - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def plan_read(plan: SlotPlan, code: str) -> SlotPlanRead:
    return SlotPlanRead(
        id=plan.id or 0,
        event_id=plan.event_id,
        slot_type=code,
        windows=[date.fromisoformat(w) for w in plan.windows],
        capacity=plan.capacity,
        category_quotas=plan.category_quotas,
        tier_quotas=plan.tier_quotas,
        per_merchant_max=plan.per_merchant_max,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
        version=plan.version,
    )


def create_slot_plan(
    session: Session, *, event_id: int, data: SlotPlanCreate, actor: Principal
) -> tuple[SlotPlan, SlotType]:
    event = calendar_service.get_or_raise(session, event_id=event_id)
    slot_type = get_slot_type_by_code_or_raise(
        session, code=data.slot_type, loc=["body", "slot_type"]
    )
    days = event_days(event)
    windows = sorted(data.windows) if data.windows is not None else days
    capacity = slot_type.capacity if data.capacity is None else data.capacity
    _validate_plan(windows, set(days), capacity, slot_type, data)
    if repository.plan_for(session, event_id, slot_type.id or 0) is not None:
        raise DuplicateSlotPlan(f"event {event_id} already has a plan for {slot_type.code!r}")
    plan = SlotPlan(
        event_id=event_id,
        slot_type_id=slot_type.id or 0,
        windows=[w.isoformat() for w in windows],
        capacity=capacity,
        category_quotas={k: q.model_dump() for k, q in data.category_quotas.items()},
        tier_quotas={k: q.model_dump() for k, q in data.tier_quotas.items()},
        per_merchant_max=data.per_merchant_max,
    )
    try:
        with session.begin_nested():
            session.add(plan)
    except IntegrityError as exc:
        raise DuplicateSlotPlan(
            f"event {event_id} already has a plan for {slot_type.code!r}"
        ) from exc
    audit.record(
        session,
        actor=actor,
        action="slot_plan.create",
        resource_type="slot_plan",
        resource_id=plan.id,
        after=plan_read(plan, slot_type.code),
    )
    return plan, slot_type


def _validate_plan(
    windows: list[date],
    days: set[date],
    capacity: int,
    slot_type: SlotType,
    data: SlotPlanCreate,
) -> None:
    problems: list[tuple[list[str | int], str]] = []
    if not windows:
        problems.append((["body", "windows"], "a plan needs at least one window"))
    for i, window in enumerate(windows if data.windows is None else data.windows):
        if window not in days:
            problems.append(
                (
                    ["body", "windows", i],
                    f"{window} is not a day of the event ({_span(days)} in its time zone)",
                )
            )
    if capacity > slot_type.capacity:
        problems.append(
            (
                ["body", "capacity"],
                f"{capacity} is more than the {slot_type.capacity} units "
                f"per window of {slot_type.code!r}",
            )
        )
    for family, quotas in (("category_quotas", data.category_quotas),
                           ("tier_quotas", data.tier_quotas)):  # fmt: skip
        for name, quota in quotas.items():
            if quota.max is not None and quota.max > capacity:
                problems.append(
                    (
                        ["body", family, name, "max"],
                        f"max {quota.max} is above the capacity {capacity}",
                    )
                )
            if quota.min > capacity:
                problems.append(
                    (
                        ["body", family, name, "min"],
                        f"min {quota.min} is above the capacity {capacity}",
                    )
                )
        reserved = sum(q.min for q in quotas.values())
        if reserved > capacity:
            problems.append(
                (
                    ["body", family],
                    f"the minimums reserve {reserved} units but a window has only {capacity}",
                )
            )
    if problems:
        raise ValidationProblem(problems)


def get_slot_plan_or_raise(
    session: Session, *, event_id: int, slot_type_code: str
) -> tuple[SlotPlan, SlotType]:
    calendar_service.get_or_raise(session, event_id=event_id)
    slot_type = repository.slot_type_by_code(session, slot_type_code)
    plan = repository.plan_for(session, event_id, slot_type.id or 0) if slot_type else None
    if plan is None or slot_type is None:
        raise SlotPlanNotFound(f"event {event_id} has no slot plan for {slot_type_code!r}")
    return plan, slot_type


def update_slot_plan(
    session: Session,
    *,
    event_id: int,
    slot_type_code: str,
    data: SlotPlanUpdate,
    if_match: str | None,
    actor: Principal,
) -> tuple[SlotPlan, SlotType]:
    """Change a plan's rules; windows that applications ask for stay."""
    plan, slot_type = get_slot_plan_or_raise(
        session, event_id=event_id, slot_type_code=slot_type_code
    )
    check_version(plan.version, if_match)
    before = plan_read(plan, slot_type.code)
    sent = data.model_fields_set
    changes = data.model_dump(include=sent)
    current = {
        "windows": plan.windows,
        "capacity": plan.capacity,
        "category_quotas": plan.category_quotas,
        "tier_quotas": plan.tier_quotas,
        "per_merchant_max": plan.per_merchant_max,
    }
    # `null` clears only the cap; for the other fields it means "unchanged".
    current.update({k: v for k, v in changes.items() if v is not None or k == "per_merchant_max"})
    try:
        merged = SlotPlanCreate(slot_type=slot_type.code, **current)
    except PydanticValidationError as exc:  # pragma: no cover - parts were valid alone
        raise ValidationProblem([(["body", *e["loc"]], e["msg"]) for e in exc.errors()]) from exc
    event = calendar_service.get_or_raise(session, event_id=event_id)
    windows = sorted(merged.windows or [])
    _validate_plan(windows, set(event_days(event)), merged.capacity or 0, slot_type, merged)
    removed = set(plan.windows) - {w.isoformat() for w in windows}
    if removed:
        asking = [
            a
            for a in repository.applications_of(session, event_id)
            if a.slot_type_id == plan.slot_type_id and removed & set(a.windows)
        ]
        asked = [a.id for a in asking]
        if asked:
            # Name only the removed windows that applications ask for.
            wanted = sorted(removed & {w for a in asking for w in a.windows})
            raise SlotPlanConflict(
                f"{len(asked)} application(s) ask for {', '.join(wanted)}; keep those windows",
                application_ids=asked[:50],
                windows=wanted,
            )
    plan.windows = [w.isoformat() for w in windows]
    plan.capacity = merged.capacity or 0
    plan.category_quotas = {k: q.model_dump() for k, q in merged.category_quotas.items()}
    plan.tier_quotas = {k: q.model_dump() for k, q in merged.tier_quotas.items()}
    plan.per_merchant_max = merged.per_merchant_max
    plan.updated_at = utcnow()
    session.add(plan)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="slot_plan.update",
        resource_type="slot_plan",
        resource_id=plan.id,
        before=before,
        after=plan_read(plan, slot_type.code),
    )
    return plan, slot_type


def _span(days: set[date]) -> str:
    return f"{min(days)} to {max(days)}" if days else "it has no days"


def list_slot_plans(session: Session, *, event_id: int) -> list[SlotPlanRead]:
    calendar_service.get_or_raise(session, event_id=event_id)
    plans = repository.plans_of(session, event_id)
    types = repository.slot_types_by_ids(session, [p.slot_type_id for p in plans])
    return [plan_read(p, types[p.slot_type_id].code) for p in plans]


# --- applications --------------------------------------------------------------------


def application_read(application: SlotApplication, code: str) -> ApplicationRead:
    return ApplicationRead(
        id=application.id or 0,
        event_id=application.event_id,
        merchant_id=application.merchant_id,
        slot_type=code,
        category=application.category,
        windows=[date.fromisoformat(w) for w in application.windows],
        score=application.score,
        all_or_nothing=application.all_or_nothing,
        created_at=application.created_at,
    )


def create_application(
    session: Session,
    *,
    event_id: int,
    data: ApplicationCreate,
    principal: Principal,
    now: datetime | None = None,
) -> tuple[SlotApplication, SlotType]:
    now = now or utcnow()
    _check_own_merchant(principal, data.merchant_id)
    event = calendar_service.get_or_raise(session, event_id=event_id)
    if event.status in (EventStatus.ended, EventStatus.cancelled):
        raise EventClosed(f"event {event_id} is {event.status}; it takes no applications")
    signup_close = calendar_service.get_task_by_code(
        session, event_id=event_id, code="signup_close"
    )
    if signup_close is not None and now > signup_close.ends_at:
        closed = signup_close.ends_at.astimezone(zone(event.timezone)).isoformat()
        raise SignupClosed(f"sign-up for this event closed at {closed}", closed_at=closed)
    merchant = session.get(Merchant, data.merchant_id)
    problems: list[tuple[list[str | int], str]] = []
    if merchant is None:
        problems.append((["body", "merchant_id"], f"no merchant {data.merchant_id}"))
    elif data.category not in merchant.categories:
        problems.append(
            (
                ["body", "category"],
                f"merchant {merchant.id} does not sell {data.category!r}; "
                f"it sells {', '.join(merchant.categories)}",
            )
        )
    slot_type = repository.slot_type_by_code(session, data.slot_type)
    plan = None
    if slot_type is None:
        problems.append((["body", "slot_type"], f"no slot type with code {data.slot_type!r}"))
    else:
        plan = repository.plan_for(session, event_id, slot_type.id or 0)
        if plan is None:
            problems.append(
                (["body", "slot_type"], f"event {event_id} has no slot plan for {data.slot_type!r}")
            )
    if plan is not None:
        open_windows = set(plan.windows)
        for i, window in enumerate(data.windows):
            if window.isoformat() not in open_windows:
                problems.append(
                    (
                        ["body", "windows", i],
                        f"{window} is not a window of the {data.slot_type!r} plan of this event",
                    )
                )
    if problems:
        raise ValidationProblem(problems)
    assert slot_type is not None
    application = SlotApplication(
        event_id=event_id,
        merchant_id=data.merchant_id,
        slot_type_id=slot_type.id or 0,
        category=data.category,
        windows=[w.isoformat() for w in sorted(data.windows)],
        score=data.score,
        all_or_nothing=data.all_or_nothing,
        created_at=now,
        created_by=principal.actor,
    )
    session.add(application)
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="slot_application.create",
        resource_type="slot_application",
        resource_id=application.id,
        after=application_read(application, slot_type.code),
    )
    return application, slot_type


def list_applications(session: Session, *, event_id: int, principal: Principal):
    """The statement listing an event's applications (a merchant's own only)."""
    calendar_service.get_or_raise(session, event_id=event_id)
    own = principal.merchant_id if principal.role is Role.merchant else None
    return repository.applications_query(event_id, own)


def application_reads(
    session: Session, applications: list[SlotApplication]
) -> list[ApplicationRead]:
    types = repository.slot_types_by_ids(session, [a.slot_type_id for a in applications])
    return [application_read(a, types[a.slot_type_id].code) for a in applications]


def get_application_or_raise(
    session: Session, *, event_id: int, application_id: int, principal: Principal
) -> SlotApplication:
    application = repository.application(session, application_id)
    if application is None or application.event_id != event_id:
        raise ApplicationNotFound(f"event {event_id} has no application {application_id}")
    _check_own_merchant(principal, application.merchant_id)
    return application


# --- allocation runs ---------------------------------------------------------------


def _solver_input(
    session: Session, event_id: int, extra_lock: solver.Lock | None = None
) -> tuple[list[solver.Plan], list[solver.Application], list[solver.Lock], dict[int, str]]:
    """The event's plans, applications and locks as the solver takes them.
    With `extra_lock` (a lock about to be made), only the locked
    applications are loaded: enough to check the locks against the plans."""
    plans = repository.plans_of(session, event_id)
    types = repository.slot_types_by_ids(session, [p.slot_type_id for p in plans])
    codes = {type_id: t.code for type_id, t in types.items()}
    solver_plans = [
        solver.Plan(
            slot_type=codes[p.slot_type_id],
            windows=tuple(date.fromisoformat(w) for w in p.windows),
            capacity=p.capacity,
            category_quotas={k: solver.Quota(**q) for k, q in p.category_quotas.items()},
            tier_quotas={k: solver.Quota(**q) for k, q in p.tier_quotas.items()},
            per_merchant_max=p.per_merchant_max,
        )
        for p in plans
    ]
    locks = [
        solver.Lock(application_id=lock.application_id, window=lock.window_date)
        for lock in repository.locks_of(session, event_id)
    ]
    if extra_lock is None:
        applications = repository.applications_of(session, event_id)
    else:
        locks.append(extra_lock)
        locked = {lock.application_id for lock in locks}
        applications = repository.applications_by_ids(session, locked)
    tiers = merchant_tiers(session, merchant_ids=[a.merchant_id for a in applications])
    solver_apps = [
        solver.Application(
            id=a.id or 0,
            merchant_id=a.merchant_id,
            tier=tiers[a.merchant_id],
            category=a.category,
            slot_type=codes[a.slot_type_id],
            windows=tuple(date.fromisoformat(w) for w in a.windows),
            score=a.score,
            all_or_nothing=a.all_or_nothing,
            rank=rank,  # applications_of is in application-time order
        )
        for rank, a in enumerate(applications)
        if a.slot_type_id in codes
    ]
    return solver_plans, solver_apps, locks, codes


def create_run(
    session: Session,
    *,
    event_id: int,
    time_limit: float,
    actor: Principal,
    now: datetime | None = None,
) -> AllocationRun:
    """Solve the event's allocation and store it as a `solved` run."""
    now = now or utcnow()
    calendar_service.get_or_raise(session, event_id=event_id)
    plans, apps, locks, codes = _solver_input(session, event_id)
    if not plans:
        raise AllocationConflict(
            f"event {event_id} has no slot plans; add one (POST /events/{event_id}/slot-plans)"
        )
    try:
        result = solver.allocate(plans, apps, locks, now=now, time_limit=time_limit)
    except solver.AllocationInputError as exc:
        raise AllocationConflict(
            f"the allocation cannot be made: {exc}",
            errors=[{"loc": loc, "msg": msg} for loc, msg in exc.problems],
        ) from exc
    run = AllocationRun(
        event_id=event_id,
        objective=result.objective,
        optimal=result.optimal,
        gap=float(result.stats.get("gap") or 0.0),
        stats=result.stats,
        created_at=now,
        created_by=actor.actor,
    )
    session.add(run)
    session.flush()
    type_ids = {code: type_id for type_id, code in codes.items()}
    repository.add_results(
        session,
        [
            {
                "run_id": run.id,
                "application_id": a.application_id,
                "merchant_id": a.merchant_id,
                "slot_type_id": type_ids[a.slot_type],
                "window_date": a.window,
                "position": a.position,
                "locked": a.locked,
            }
            for a in result.assignments
        ],
        [
            {
                "run_id": run.id,
                "application_id": r.application_id,
                "merchant_id": r.merchant_id,
                "window_date": r.window,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in result.refusals
        ],
    )
    audit.record(
        session,
        actor=actor,
        action="allocation_run.create",
        resource_type="allocation_run",
        resource_id=run.id,
        after={
            "event_id": event_id,
            "objective": run.objective,
            "optimal": run.optimal,
            "gap": run.gap,
            "units_granted": result.stats.get("units_granted"),
        },
    )
    return run


def get_run_or_raise(session: Session, *, event_id: int, run_id: int) -> AllocationRun:
    run = repository.run(session, event_id, run_id)
    if run is None:
        raise RunNotFound(f"event {event_id} has no allocation run {run_id}")
    return run


def list_runs(session: Session, *, event_id: int):
    calendar_service.get_or_raise(session, event_id=event_id)
    return repository.runs_query(event_id)


def run_summary(run: AllocationRun) -> RunSummary:
    return RunSummary.model_validate(run)


def run_read(session: Session, run: AllocationRun, principal: Principal) -> RunRead:
    """The run with its assignments and refusals; a merchant sees its own only."""
    own = principal.merchant_id if principal.role is Role.merchant else None
    assignments = repository.assignments_of(session, run.id or 0, own)
    refusals = repository.refusals_of(session, run.id or 0, own)
    plans = repository.plans_of(session, run.event_id)
    codes = {
        t_id: t.code
        for t_id, t in repository.slot_types_by_ids(
            session, [p.slot_type_id for p in plans] + [a.slot_type_id for a in assignments]
        ).items()
    }
    app_types = {}
    if refusals:
        apps = repository.applications_query(run.event_id, own)
        app_types = {a.id: a.slot_type_id for a in session.exec(apps)}
        codes.update(
            {
                t_id: t.code
                for t_id, t in repository.slot_types_by_ids(
                    session, list(app_types.values())
                ).items()
            }
        )
    stats = dict(run.stats or {})
    return RunRead(
        **run_summary(run).model_dump(),
        assignments=[
            AssignmentRead(
                application_id=a.application_id,
                merchant_id=a.merchant_id,
                slot_type=codes[a.slot_type_id],
                window=a.window_date,
                position=a.position,
                locked=a.locked,
            )
            for a in assignments
        ],
        refusals=[
            RefusalRead(
                application_id=r.application_id,
                merchant_id=r.merchant_id,
                slot_type=codes[app_types[r.application_id]],
                window=r.window_date,
                reason=r.reason,
                detail=r.detail,
            )
            for r in refusals
        ],
        stats=stats if own is None else {"seconds": stats.get("seconds")},
    )


def publish_run(
    session: Session,
    *,
    event_id: int,
    run_id: int,
    actor: Principal,
    now: datetime | None = None,
) -> AllocationRun:
    """Make the run the event's allocation; the one published before it
    becomes `superseded`. Publishing the published run again changes nothing."""
    now = now or utcnow()
    run = get_run_or_raise(session, event_id=event_id, run_id=run_id)
    if run.status == RunStatus.published:
        return run
    before = run_summary(run)
    try:
        with session.begin_nested():
            repository.supersede_published(session, event_id, run_id, now)
            if not repository.mark_published(session, run_id, now, actor.actor):
                raise PublishConflict(f"run {run_id} changed while it was being published")
    except IntegrityError as exc:
        # The partial unique index: another planner published a run of this
        # event in a transaction we could not see yet.
        raise PublishConflict(
            "another allocation run of this event was published at the same time; "
            "read the runs again and retry"
        ) from exc
    event = calendar_service.get_or_raise(session, event_id=event_id)
    if event.status == EventStatus.live:
        # Published during the event: it is what the storefront shows now.
        repository.stamp_published(session, event_id, "live_at", now)
    session.refresh(run)
    audit.record(
        session,
        actor=actor,
        action="allocation_run.publish",
        resource_type="allocation_run",
        resource_id=run.id,
        before=before,
        after=run_summary(run),
    )
    return run


def get_published_or_raise(session: Session, *, event_id: int) -> AllocationRun:
    calendar_service.get_or_raise(session, event_id=event_id)
    run = repository.published_run(session, event_id)
    if run is None:
        raise RunNotFound(f"event {event_id} has no published allocation yet")
    return run


# --- locks --------------------------------------------------------------------------


def lock_read(lock: SlotLock) -> LockRead:
    return LockRead(
        id=lock.id or 0,
        event_id=lock.event_id,
        application_id=lock.application_id,
        window=lock.window_date,
        created_at=lock.created_at,
    )


def create_lock(session: Session, *, event_id: int, data: LockCreate, actor: Principal) -> SlotLock:
    calendar_service.get_or_raise(session, event_id=event_id)
    # The limits are checked against the committed locks: two requests at
    # once would each miss the other's lock and both overfill the window.
    calendar_repository.lock_event(session, event_id)
    application = repository.application(session, data.application_id)
    if application is None or application.event_id != event_id:
        raise ValidationProblem(
            f"event {event_id} has no application {data.application_id}",
            loc=["body", "application_id"],
        )
    if data.window.isoformat() not in application.windows:
        raise ValidationProblem(
            f"application {application.id} did not ask for {data.window}; it asked for "
            f"{', '.join(application.windows)}",
            loc=["body", "window"],
        )
    if repository.lock_for(session, application.id or 0, data.window) is not None:
        raise DuplicateLock(f"application {application.id} is already locked on {data.window}")
    _refuse_locks_over_limits(session, event_id, application.id or 0, data.window)
    lock = SlotLock(
        event_id=event_id,
        application_id=application.id or 0,
        window_date=data.window,
        created_by=actor.actor,
    )
    try:
        with session.begin_nested():
            session.add(lock)
    except IntegrityError as exc:
        raise DuplicateLock(
            f"application {application.id} is already locked on {data.window}"
        ) from exc
    audit.record(
        session,
        actor=actor,
        action="slot_lock.create",
        resource_type="slot_lock",
        resource_id=lock.id,
        after=lock_read(lock),
    )
    return lock


def _refuse_locks_over_limits(
    session: Session, event_id: int, application_id: int, window: date
) -> None:
    """Locks are kept whatever the scores, so a lock that would put more
    locked units in a window than its capacity (or a quota's `max`, or a
    merchant's cap) allows is refused now rather than at the next run. A
    limit the new lock is not in is left alone: if a plan change broke it,
    the run's allocation-conflict says so."""
    new = solver.Lock(application_id=application_id, window=window)
    plans, apps, locks, _codes = _solver_input(session, event_id, new)
    try:
        solver.check_locks(plans, apps, locks, new=new)
    except solver.AllocationInputError as exc:
        raise LockConflict(
            f"application {application_id} cannot be locked on {window}: {exc}",
            errors=[{"loc": loc, "msg": msg} for loc, msg in exc.problems],
        ) from exc


def delete_lock(
    session: Session, *, event_id: int, application_id: int, window: date, actor: Principal
) -> None:
    calendar_service.get_or_raise(session, event_id=event_id)
    lock = repository.lock_for(session, application_id, window)
    if lock is None or lock.event_id != event_id:
        raise LockNotFound(f"application {application_id} has no lock on {window}")
    before = lock_read(lock)
    session.delete(lock)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="slot_lock.delete",
        resource_type="slot_lock",
        resource_id=before.id,
        before=before,
    )


def list_locks(session: Session, *, event_id: int) -> list[SlotLock]:
    calendar_service.get_or_raise(session, event_id=event_id)
    return repository.locks_of(session, event_id)


# --- reactions to the calendar ---------------------------------------------------------


@signals.event_rescheduled.connect
def _refuse_windows_left_outside(session: Session, *, event: Event) -> None:
    """Moving an event must not leave its slot plans on days it no longer has:
    runs would grant units on those days. Refuse the move instead, and say
    which plans to change first."""
    days = {day.isoformat() for day in event_days(event)}
    plans = repository.plans_of(session, event.id or 0)
    types = repository.slot_types_by_ids(session, [p.slot_type_id for p in plans])
    stray = {
        types[plan.slot_type_id].code: sorted(set(plan.windows) - days)
        for plan in plans
        if set(plan.windows) - days
    }
    if stray:
        listed = "; ".join(f"{code}: {', '.join(windows)}" for code, windows in stray.items())
        raise Conflict(
            f"the event's new dates leave slot plan windows outside it ({listed}); "
            "change those plans' windows first",
            slot_plans=sorted(stray),
        )
