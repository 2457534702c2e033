"""Column types and small value helpers shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, Column, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel.sql.sqltypes import UTCDateTime

__all__ = [
    "JSONColumn",
    "UTCDateTime",
    "as_utc",
    "format_duration",
    "parse_duration",
    "utcnow",
    "version_column",
    "zone",
]

# JSONB on PostgreSQL, JSON text elsewhere.
JSONColumn = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The one "now" of the services; pure code takes it as an argument."""
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def as_utc(value: datetime, tz: str | ZoneInfo) -> datetime:
    """An aware UTC instant; a naive value is read as wall time in `tz`."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz if isinstance(tz, ZoneInfo) else zone(tz))
    return value.astimezone(UTC)


_DURATION_UNITS = {"W": 604800, "D": 86400, "H": 3600, "M": 60, "S": 1}


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (`P1D`, `PT2H`, `-P1DT30M`, `P2W`) as a timedelta.

    Years and months are refused: their length depends on the date.
    """
    import re

    match = re.fullmatch(
        r"(?P<sign>[-+])?P(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
        r"(?:T(?:(?P<H>\d+)H)?(?:(?P<M>\d+)M)?(?:(?P<S>\d+(?:\.\d+)?)S)?)?",
        text.strip(),
    )
    if not match or text.strip() in {"P", "PT", "-P", "+P"} or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like P1D or PT2H")
    seconds = sum(
        float(match.group(unit)) * factor
        for unit, factor in _DURATION_UNITS.items()
        if match.group(unit)
    )
    delta = timedelta(seconds=seconds)
    return -delta if match.group("sign") == "-" else delta


def format_duration(delta: timedelta) -> str:
    """The ISO 8601 text of a timedelta: `P1D`, `PT2H30M`, `-P1D`, `PT0S`."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P"
    if days:
        text += f"{days}D"
    if hours or minutes or seconds or not days:
        text += "T"
        if hours:
            text += f"{hours}H"
        if minutes:
            text += f"{minutes}M"
        if seconds or not (hours or minutes):
            text += f"{seconds}S"
    return text


def version_column() -> Column[int]:
    """A `version` column for one table; map it as the table's version_id_col:

    _version = version_column()

    class Thing(SQLModel, table=True):
        version: int = Field(default=1, sa_column=_version)
        __mapper_args__ = {"version_id_col": _version}
    """
    return Column("version", Integer, nullable=False, server_default="1")
