"""Request and response bodies of the promotions domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from app.schemas import RequestModel, ResponseModel

Kind = Literal["percent_off", "amount_off", "threshold", "buy_n_get_m"]
Level = Literal["item", "store", "platform"]
Tier = Literal["head", "waist", "tail"]
# ISO 4217 currency codes in use (2024 list, with its funds and metals
# codes left out: nobody prices a cart in them).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK
    LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
    TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF
    YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a table to read, not 160 lines to scroll
)


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, upper case", examples=["CNY"]),
    AfterValidator(_known_currency),
]
Minor = Annotated[int, Field(ge=0, le=10**12, description="integer minor units (fen, cents)")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]

PROMOTION_EXAMPLE = {
    "name": "Double 11 跨店满减: every 300 save 50",
    "event_id": 1,
    "phase": "peak",
    "currency": "CNY",
    "kind": "threshold",
    "level": "platform",
    "params": {"every": {"step": 30000, "off": 5000}},
    "scope": {"exclude_skus": ["GIFT-CARD"]},
    "coupon": False,
    "budget": {"total_amount": 100000000},
}


class ScopeIn(RequestModel):
    categories: list[Name] | None = Field(default=None, max_length=1000)
    merchants: list[Id] | None = Field(default=None, max_length=1000)
    tiers: list[Tier] | None = Field(default=None, max_length=3)
    skus: list[Name] | None = Field(default=None, max_length=10000)
    exclude_skus: list[Name] | None = Field(default=None, max_length=10000)

    @model_validator(mode="after")
    def _not_empty_lists(self) -> ScopeIn:
        for name in ("categories", "merchants", "tiers", "skus"):
            if getattr(self, name) == []:
                raise ValueError(f"{name}: an empty list would match nothing; leave it out")
        return self


class BudgetIn(RequestModel):
    total_amount: int | None = Field(default=None, ge=1, le=10**12)
    max_redemptions: int | None = Field(default=None, ge=1, le=10**9)
    per_customer: int | None = Field(default=None, ge=1, le=10**6)


class PromotionCreate(RequestModel):
    model_config = {"json_schema_extra": {"examples": [PROMOTION_EXAMPLE]}}

    name: str = Field(min_length=1, max_length=200)
    event_id: Id | None = None
    phase: str | None = Field(default=None, min_length=1, max_length=40)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    currency: Currency = "CNY"
    kind: Kind
    level: Level
    params: dict[str, Any]
    scope: ScopeIn | None = None
    coupon: bool = False
    exclusive: bool = False
    budget: BudgetIn | None = None
    description: str | None = Field(default=None, max_length=2000)


class PromotionUpdate(RequestModel):
    """Kind, level, currency, coupon and event stay as created: make a new
    promotion to change them."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phase: str | None = Field(default=None, min_length=1, max_length=40)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    params: dict[str, Any] | None = None
    scope: ScopeIn | None = None
    exclusive: bool | None = None
    budget: BudgetIn | None = None
    description: str | None = Field(default=None, max_length=2000)


class BudgetRead(ResponseModel):
    total_amount: int | None
    max_redemptions: int | None
    per_customer: int | None
    redemptions: int
    spent: int


class PromotionRead(ResponseModel):
    id: int
    name: str
    event_id: int | None
    phase: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    currency: str
    kind: str
    level: str
    params: dict[str, Any]
    scope: dict[str, Any]
    coupon: bool
    exclusive: bool
    budget: BudgetRead
    description: str | None
    codes: int = Field(description="coupon codes generated")
    created_at: datetime
    updated_at: datetime
    version: int


class CodesCreate(RequestModel):
    model_config = {"json_schema_extra": {"examples": [{"count": 200000, "prefix": "D11"}]}}

    count: int = Field(ge=1, le=1_000_000)
    prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9]{1,10}-?$",
        description="the planner's label: upper-case letters and digits, up to 10, then "
        "an optional `-`; the random part never uses 0/O or 1/I",
    )
    uses_per_code: int | None = Field(
        default=None, ge=1, le=10**6, description="uses of each code; unset: reusable"
    )
    length: int = Field(default=10, ge=8, le=20, description="random characters per code")


class CodesCreated(ResponseModel):
    promotion_id: int
    created: int
    total: int
    sample: list[str]


class CodeRead(ResponseModel):
    code: str
    uses_per_code: int | None
    used: int
    created_at: datetime


MAX_CART_UNITS = 100_000


# A cart line's text, NUL refused by a pattern inside the validator's own
# code: the per-field Python check of RequestModel, run on every field of
# every line, cost more than validating the rest of a 50-line cart.
LineText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00]*$",
        description="text without NUL (\\u0000) characters",
    ),
]


class QuoteLine(BaseModel):
    model_config = RequestModel.model_config  # unknown fields refused, text stripped

    id: LineText
    sku: LineText
    merchant_id: Id
    category: LineText
    # Up to 10^10 minor units a unit and 10^5 units a cart keep every total
    # far inside a 64-bit integer.
    unit_price: int = Field(ge=0, le=10**10, description="integer minor units (fen, cents)")
    quantity: int = Field(ge=1, le=MAX_CART_UNITS)


QUOTE_EXAMPLE = {
    "customer_id": "c-1001",
    "currency": "CNY",
    "lines": [
        {
            "id": "1",
            "sku": "SKU-1",
            "merchant_id": 1,
            "category": "shoes",
            "unit_price": 39900,
            "quantity": 1,
        }
    ],
    "coupon_codes": ["D11-7KQ2M9XH4P"],
    "best": True,
}


class QuoteRequest(RequestModel):
    model_config = {"json_schema_extra": {"examples": [QUOTE_EXAMPLE]}}

    customer_id: Name
    at: datetime | None = Field(
        default=None, description="price as of this moment (a naive value is Asia/Shanghai)"
    )
    currency: Currency = "CNY"
    lines: list[QuoteLine] = Field(min_length=1, max_length=500)
    # At most 12: `best` searches their combinations exactly (branch and
    # bound), which in the worst case is 2^12 pricings.
    coupon_codes: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=12
    )
    best: bool = False

    @field_validator("lines")
    @classmethod
    def _unique_line_ids(cls, lines: list[QuoteLine]) -> list[QuoteLine]:
        if sum(line.quantity for line in lines) > MAX_CART_UNITS:
            raise ValueError(f"a cart holds at most {MAX_CART_UNITS} units")
        seen: set[str] = set()
        for line in lines:
            if line.id in seen:
                raise ValueError(f"line id {line.id!r} appears twice")
            seen.add(line.id)
        return lines


class RedemptionCreate(QuoteRequest):
    model_config = {"json_schema_extra": {"examples": [{**QUOTE_EXAMPLE, "order_id": "o-1"}]}}

    order_id: Name


class AppliedRead(ResponseModel):
    promotion_id: int
    code: str | None = None
    level: str
    amount: int
    lines: dict[str, int]


class NotAppliedRead(ResponseModel):
    promotion_id: int | None
    code: str | None = None
    reason: str
    detail: str
    short_by: int | None = None
    by: int | None = None


class QuoteRead(ResponseModel):
    currency: str
    at: datetime
    subtotal: int
    discount: int
    total: int
    applied: list[AppliedRead]
    not_applied: list[NotAppliedRead]
    line_totals: dict[str, int]
    combinations_priced: int = Field(description="with best: how many combinations were priced")


class RedemptionRead(ResponseModel):
    id: int
    order_id: str
    customer_id: str
    status: str
    currency: str
    subtotal: int
    discount: int
    total: int
    applied: list[AppliedRead]
    not_applied: list[NotAppliedRead]
    created_at: datetime
    cancelled_at: datetime | None


class DepthRead(ResponseModel):
    category: str = Field(description='a category in scope, or "*" for any other')
    sku: str = Field(description='a SKU in scope, or "*" for any other')
    depth_bp: int
    promotion_ids: list[int]
    breaks: bool


class RiskRead(ResponseModel):
    promotion_id: int
    floor_bp: int
    breaks: bool
    worst: list[DepthRead] = Field(description="the deepest rows first, at most `limit` of them")
    rows: int = Field(description="every category/SKU row the promotion reaches")
    breaking_rows: int = Field(description="the rows deeper than the floor")
