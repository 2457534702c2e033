"""Tables of the slots domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.types import JSONColumn, utcnow, version_column


class MerchantTier:
    head = "head"
    waist = "waist"
    tail = "tail"


_merchant_version = version_column()


class Merchant(SQLModel, table=True):
    __tablename__ = "merchant"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    tier: str = Field(max_length=10, index=True)
    categories: list[str] = Field(
        default_factory=list, sa_column=Column(JSONColumn, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_merchant_version)

    __mapper_args__ = {"version_id_col": _merchant_version}
