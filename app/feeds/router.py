"""HTTP routes of the feeds domain."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.auth import Principal, Role, Writer, require_roles
from app.db import SessionDep
from app.feeds import service
from app.feeds.schemas import MAX_ID, FeedCreate, FeedCreated, FeedRead
from app.pagination import Page, PageDep
from app.schemas import problem_responses
from app.types import utcnow
from app.versioning import IfMatch, set_etag

router = APIRouter(tags=["feeds"])

# Feeds served to calendar apps, authenticated by their token (no API key).
public_router = APIRouter(tags=["feeds"])

# Feeds show the whole plan, so merchant keys do not see them.
Reader = Annotated[Principal, Depends(require_roles(Role.admin, Role.planner, Role.viewer))]

FeedId = Annotated[int, Path(ge=1, le=MAX_ID, description="The feed's id")]

ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
# Clients may keep a copy but must ask again before using it; `private`
# because the URL is a secret that shared caches should not hold.
CACHE_CONTROL = "private, no-cache"


@router.post(
    "/feeds",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedCreated,
    responses=problem_responses(422),
    summary="Create a feed: the answer holds its token and URL, shown only this once",
)
def create_feed(data: FeedCreate, session: SessionDep, principal: Writer) -> FeedCreated:
    return service.create(session, data=data, actor=principal)


@router.get("/feeds", response_model=Page[FeedRead], summary="List feeds (tokens are not shown)")
def list_feeds(
    session: SessionDep,
    _principal: Reader,
    page: PageDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked feeds")] = False,
) -> Page[FeedRead]:
    return service.list(session, page=page, include_revoked=include_revoked)


@router.get("/feeds/{feed_id}", response_model=FeedRead, responses=problem_responses(404))
def get_feed(
    feed_id: FeedId, session: SessionDep, _principal: Reader, response: Response
) -> FeedRead:
    feed = service.get_or_raise(session, feed_id=feed_id)
    set_etag(response, feed.version)
    return service.to_read(feed)


@router.delete(
    "/feeds/{feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
    summary="Revoke a feed: its URL answers 404 from now on",
)
def delete_feed(
    feed_id: FeedId, session: SessionDep, principal: Writer, if_match: IfMatch = None
) -> Response:
    service.delete(session, feed_id=feed_id, if_match=if_match, actor=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the feed itself --------------------------------------------------------


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    tags = [tag.strip() for tag in header.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)


def _not_modified(request: Request, etag: str, last_modified: datetime) -> bool:
    """If-None-Match wins when present (RFC 9110 §13.2.2); a malformed
    If-Modified-Since is ignored, never read as "not modified"."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get("if-modified-since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


_ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//promoplan//promoplan feeds 1.0//EN\r\n"
    "NAME:Double 11 · design\r\n...\r\nEND:VCALENDAR\r\n"
)


def get_feed_ics(token: str, request: Request, session: SessionDep) -> Response:
    now = utcnow()
    feed = service.get_by_token_or_raise(session, token=token)
    snap = service.snapshot(session, feed=feed, now=now)
    last_modified = service.mark_served(session, feed=feed, snap=snap, now=now)
    headers = {
        "ETag": snap.etag,
        "Last-Modified": _http_date(last_modified),
        "Cache-Control": CACHE_CONTROL,
    }
    if _not_modified(request, snap.etag, last_modified):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = service.render(session, feed=feed, snap=snap, now=now)
    headers["Content-Disposition"] = 'inline; filename="promoplan.ics"'
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(headers=headers, media_type=ICS_MEDIA_TYPE)
    return Response(content=body, headers=headers, media_type=ICS_MEDIA_TYPE)


_ICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/calendar": {"example": _ICS_EXAMPLE}},
        "description": "RFC 5545 / RFC 7986 calendar, with ETag and Last-Modified",
    },
    304: {"description": "Unchanged since the ETag or date the client sent"},
    **problem_responses(404),
}
# GET and HEAD as two operations, so that each has its own operation id.
for _method in ("GET", "HEAD"):
    public_router.add_api_route(
        "/feeds/{token}.ics",
        get_feed_ics,
        methods=[_method],
        response_class=Response,
        operation_id=f"{_method.lower()}_feed_ics",
        summary="The feed, for calendar apps (the token in the URL is the credential)",
        responses=_ICS_RESPONSES,
    )
