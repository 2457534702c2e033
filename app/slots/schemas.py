"""Request and response bodies of the slots domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from app.schemas import RequestModel, ResponseModel

Tier = Literal["head", "waist", "tail"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
MAX_UNITS = 100_000
MAX_WINDOWS = 366


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values


# --- merchants --------------------------------------------------------------


class MerchantCreate(RequestModel):
    name: Name
    tier: Tier
    categories: list[Category] = Field(min_length=1, max_length=50)

    @field_validator("categories")
    @classmethod
    def _categories_unique(cls, value: list[str]) -> list[str]:
        return _unique(value, "categories")

    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "Lumière Beauty", "tier": "head", "categories": ["beauty"]}]
        }
    }


class MerchantRead(ResponseModel):
    id: int
    name: str
    tier: str
    categories: list[str]
    created_at: datetime
    updated_at: datetime
    version: int


# --- slot types -------------------------------------------------------------


class SlotTypeCreate(RequestModel):
    code: Code
    name: Name
    channel: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    capacity: int = Field(ge=0, le=MAX_UNITS, description="Units per window")
    window: str = Field(default="P1D", description="Window length; days (`P1D`) for now")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "code": "homepage_banner",
                    "name": "Homepage banner",
                    "channel": "app",
                    "capacity": 8,
                    "window": "P1D",
                }
            ]
        }
    }


class SlotTypeRead(ResponseModel):
    id: int
    code: str
    name: str
    channel: str | None
    capacity: int
    window: str
    created_at: datetime
    version: int


# --- slot plans -------------------------------------------------------------


class QuotaIn(RequestModel):
    min: int = Field(default=0, ge=0, le=MAX_UNITS)
    max: int | None = Field(default=None, ge=0, le=MAX_UNITS)

    @model_validator(mode="after")
    def _min_within_max(self) -> QuotaIn:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class QuotaRead(ResponseModel):
    min: int
    max: int | None


class SlotPlanCreate(RequestModel):
    slot_type: Code
    windows: list[date] | None = Field(
        default=None,
        max_length=MAX_WINDOWS,
        description="Days (YYYY-MM-DD) in the event's time zone; default every day of the event",
    )
    capacity: int | None = Field(
        default=None, ge=0, le=MAX_UNITS, description="Default: the slot type's capacity"
    )
    category_quotas: dict[Category, QuotaIn] = Field(default_factory=dict, max_length=200)
    tier_quotas: dict[Tier, QuotaIn] = Field(default_factory=dict)
    per_merchant_max: int | None = Field(
        default=None, ge=1, le=MAX_UNITS, description="Units per merchant over the event"
    )

    @field_validator("windows")
    @classmethod
    def _windows_unique(cls, value: list[date] | None) -> list[date] | None:
        return None if value is None else _unique(value, "windows")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "slot_type": "homepage_banner",
                    "capacity": 8,
                    "category_quotas": {"beauty": {"max": 3}, "food": {"min": 1}},
                    "tier_quotas": {"tail": {"min": 2}, "head": {"max": 4}},
                    "per_merchant_max": 2,
                }
            ]
        }
    }


class SlotPlanUpdate(RequestModel):
    """Only the fields sent change; `per_merchant_max: null` removes the cap."""

    windows: list[date] | None = Field(default=None, min_length=1, max_length=MAX_WINDOWS)
    capacity: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    category_quotas: dict[Category, QuotaIn] | None = Field(default=None, max_length=200)
    tier_quotas: dict[Tier, QuotaIn] | None = None
    per_merchant_max: int | None = Field(default=None, ge=1, le=MAX_UNITS)

    @field_validator("windows")
    @classmethod
    def _windows_unique(cls, value: list[date] | None) -> list[date] | None:
        return None if value is None else _unique(value, "windows")

    model_config = {
        "json_schema_extra": {"examples": [{"capacity": 6, "tier_quotas": {"tail": {"min": 2}}}]}
    }


class SlotPlanRead(ResponseModel):
    id: int
    event_id: int
    slot_type: str
    windows: list[date]
    capacity: int
    category_quotas: dict[str, QuotaRead]
    tier_quotas: dict[str, QuotaRead]
    per_merchant_max: int | None
    created_at: datetime
    updated_at: datetime
    version: int


# --- applications -----------------------------------------------------------


class ApplicationCreate(RequestModel):
    merchant_id: int = Field(ge=1)
    slot_type: Code
    category: Category
    windows: list[date] = Field(min_length=1, max_length=MAX_WINDOWS)
    score: float = Field(ge=0, le=1e12, allow_inf_nan=False)
    all_or_nothing: bool = False

    @field_validator("windows")
    @classmethod
    def _windows_unique(cls, value: list[date]) -> list[date]:
        return _unique(value, "windows")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "merchant_id": 1,
                    "slot_type": "homepage_banner",
                    "category": "beauty",
                    "windows": ["2027-11-10", "2027-11-11"],
                    "score": 1250000,
                    "all_or_nothing": False,
                }
            ]
        }
    }


class ApplicationRead(ResponseModel):
    id: int
    event_id: int
    merchant_id: int
    slot_type: str
    category: str
    windows: list[date]
    score: float
    all_or_nothing: bool
    created_at: datetime


# --- allocation runs ----------------------------------------------------------


class RunCreate(RequestModel):
    time_limit_seconds: float = Field(
        default=30.0, ge=0.1, le=600, description="Stop and report the proven gap after this"
    )


class AssignmentRead(ResponseModel):
    application_id: int
    merchant_id: int
    slot_type: str
    window: date
    position: int
    locked: bool


class RefusalRead(ResponseModel):
    application_id: int
    merchant_id: int
    slot_type: str
    window: date
    reason: str
    detail: str


class RunSummary(ResponseModel):
    id: int
    event_id: int
    status: str
    objective: float
    optimal: bool
    gap: float
    created_at: datetime
    published_at: datetime | None
    superseded_at: datetime | None
    live_at: datetime | None
    released_at: datetime | None


class RunRead(RunSummary):
    assignments: list[AssignmentRead]
    refusals: list[RefusalRead]
    stats: dict[str, Any]


# --- locks ------------------------------------------------------------------


class LockCreate(RequestModel):
    application_id: int = Field(ge=1)
    window: date


class LockRead(ResponseModel):
    id: int
    event_id: int
    application_id: int
    window: date
    created_at: datetime
