"""`version` columns, `ETag` and `If-Match`.

Tables declare `version: int` and map it as SQLAlchemy's `version_id_col`,
so every UPDATE says `... WHERE id = :id AND version = :seen` and bumps it:
two writers racing on one row cannot both win (the loser gets a 412 through
StaleDataError). `If-Match` lets a client say which version it saw.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from app.errors import BadRequest, PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header names; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise BadRequest(
            f'If-Match must be an ETag this service gave out, like "3"; got {if_match!r}'
        )
    return int(text)


def check_version(current: int, if_match: str | None) -> None:
    """412 when the client's `If-Match` names a version other than `current`."""
    wanted = expected_version(if_match)
    if wanted is not None and wanted != current:
        raise PreconditionFailed(
            f"you have version {wanted} but the resource is at version {current}; "
            "read it again and retry",
            current_version=current,
        )


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The ETag you last read, like "3": 412 when stale'),
]
