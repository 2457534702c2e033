"""The planner's web page: static files over the same JSON API as everyone.

No build step: plain HTML, CSS and JavaScript, charts drawn as SVG so names
stay selectable, searchable and testable.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def _static(name: str, media_type: str) -> FileResponse:
    # no-cache: the browser revalidates, so a new release is picked up at once.
    return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/")
def index() -> FileResponse:
    return _static("index.html", "text/html; charset=utf-8")


@router.get("/static/app.js")
def script() -> FileResponse:
    return _static("app.js", "text/javascript; charset=utf-8")


@router.get("/static/app.css")
def stylesheet() -> FileResponse:
    return _static("app.css", "text/css; charset=utf-8")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return _static("favicon.svg", "image/svg+xml")
