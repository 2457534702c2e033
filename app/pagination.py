"""Keyset pagination: `{"items": [...], "next": "<cursor>" | null}`.

The cursor is the sort key of the last item, opaque to clients. Keyset
paging stays fast on deep pages and never skips or repeats a row when rows
are added meanwhile, which an offset cannot promise.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session
from sqlmodel.sql.expression import Select, SelectOfScalar

from app.errors import ValidationProblem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next` from the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def _encode(values: Sequence[Any]) -> str:
    def plain(v: Any) -> Any:
        return {"dt": v.isoformat()} if isinstance(v, datetime) else v

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        return [
            datetime.fromisoformat(v["dt"]) if isinstance(v, dict) and "dt" in v else v
            for v in values
        ]
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
        raise ValidationProblem(
            "not a cursor this service gave out", loc=["query", "cursor"]
        ) from exc


_INT64 = 2**63


def _check_types(values: Sequence[Any], columns: Sequence[Any]) -> None:
    """A cursor's values must have the types of the columns they compare
    with: a forged one would otherwise reach the database as a 500 or
    compare text with numbers."""
    for value, column in zip(values, columns, strict=True):
        try:
            expected = column.type.python_type
            if expected is object:  # a TypeDecorator such as UTCDateTime
                expected = column.type.impl.python_type
        except (AttributeError, NotImplementedError):
            continue
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
        if expected is int and ok:
            ok = -_INT64 <= value < _INT64
        if expected is datetime and ok:
            ok = value.tzinfo is not None
        if not ok:
            raise ValidationProblem("not a cursor this service gave out", loc=["query", "cursor"])


def paginate(
    session: Session,
    statement: Select | SelectOfScalar,
    params: PageParams,
    *,
    order_by: Sequence[ColumnElement[Any] | Any],
    key: Callable[[Any], Sequence[Any]],
    to_item: Callable[[Any], T] = lambda row: row,
) -> Page[T]:
    """One page of `statement`, ascending by `order_by` (which must be unique,
    so end it with the primary key); `key(row)` gives those values of a row."""
    if params.cursor:
        after = _decode(params.cursor, len(order_by))
        _check_types(after, order_by)
        statement = statement.where(tuple_(*order_by) > tuple_(*after))
    rows = list(session.exec(statement.order_by(*order_by).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = _encode(list(key(rows[-1]))) if more and rows else None
    return Page[T](items=[to_item(row) for row in rows], next=next_cursor)
