"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db import get_engine
from app.migrate import current_revision, head_revision
from app.observability import metrics_payload

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is at head")
def readyz() -> JSONResponse:
    checks: dict[str, str] = {}
    ready = True
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_revision(connection)
        checks["database"] = "ok"
        head = head_revision()
        if current == head:
            checks["migrations"] = f"at head {head}"
        else:
            ready = False
            checks["migrations"] = f"at {current}, head is {head}: run `promoplan db upgrade`"
    except Exception as exc:  # readiness must answer, whatever the failure
        ready = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
