"""Problem types of the slots domain."""

from __future__ import annotations

from app.errors import Conflict, Forbidden, NotFound


class MerchantNotFound(NotFound):
    slug, title = "merchant-not-found", "Merchant not found"


class SlotTypeNotFound(NotFound):
    slug, title = "slot-type-not-found", "Slot type not found"


class SlotPlanNotFound(NotFound):
    slug, title = "slot-plan-not-found", "Slot plan not found"


class ApplicationNotFound(NotFound):
    slug, title = "application-not-found", "Application not found"


class RunNotFound(NotFound):
    slug, title = "allocation-run-not-found", "Allocation run not found"


class LockNotFound(NotFound):
    slug, title = "lock-not-found", "Lock not found"


class DuplicateSlotType(Conflict):
    slug, title = "slot-type-exists", "A slot type with this code exists"


class DuplicateSlotPlan(Conflict):
    slug, title = "slot-plan-exists", "The event already has a plan for this slot type"


class DuplicateLock(Conflict):
    slug, title = "lock-exists", "This unit is already locked"


class SignupClosed(Conflict):
    slug, title = "signup-closed", "Sign-up for this event has closed"


class EventClosed(Conflict):
    slug, title = "event-closed", "The event no longer takes applications"


class AllocationConflict(Conflict):
    slug, title = "allocation-conflict", "The allocation cannot be made as asked"


class PublishConflict(Conflict):
    slug, title = "publish-conflict", "Another run was published at the same time"


class NotYourMerchant(Forbidden):
    slug, title = "not-your-merchant", "A merchant key acts only for its own merchant"


class LockConflict(Conflict):
    slug, title = "lock-conflict", "The lock would break a limit of the slot plan"


class SlotPlanConflict(Conflict):
    slug, title = "slot-plan-conflict", "The plan change would orphan applications"
