"""Request ids, structured logs, Prometheus metrics and the body-size limit.

Written as plain ASGI middleware (not BaseHTTPMiddleware) so it wraps
streaming bodies and background work without buffering them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUESTS = Counter("promoplan_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "promoplan_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

log = logging.getLogger("promoplan.http")


def current_request_id() -> str | None:
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    # APScheduler logs every wake-up at INFO: once a second with the clock running.
    logging.getLogger("apscheduler").setLevel("WARNING")


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


def _route_template(scope: Scope) -> str:
    """The matched route's full path template (`/api/v1/events/{event_id}`),
    so that metrics have one series per route, not per id."""
    from fastapi import routing

    context = getattr(routing, "_get_scope_effective_route_context", lambda _s: None)(scope)
    if context is not None and getattr(context, "path", ""):
        return context.path
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None


# (method, route, status) → its counter and latency series: `labels()` takes
# a lock and builds a key on every call, a dict lookup does not.
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _observe(method: str, route: str, status: int, elapsed: float) -> None:
    series = _series.get((method, route, status))
    if series is None:
        series = _series[method, route, status] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
        )
    series[0].inc()
    series[1].observe(elapsed)


class RequestContextMiddleware:
    """Request id in and out, access log, metrics, and the last-resort 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (_header(scope, b"x-request-id") or b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.exception("unhandled error", exc_info=exc)
            if not status["sent"]:
                from app.errors import problem_response

                response = problem_response(
                    500,
                    "internal",
                    "Internal server error",
                    "something went wrong on our side; quote the request id when reporting it",
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            _observe(scope["method"], _route_template(scope), status["code"], elapsed)
            if log.isEnabledFor(logging.INFO):  # skip building the record when it is not kept
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status["code"],
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status["code"],
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            _request_id.reset(token)


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with a 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            from app.errors import problem_response

            await problem_response(
                400,
                "bad-request",
                "Bad request",
                "the query string must not contain NUL (%00) characters",
            )(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # The framework may turn this into its own 400; the flag lets
                    # the error handler answer 413 instead.
                    scope["promoplan.body_too_large"] = True
                    raise _TooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        from app.errors import problem_response

        await problem_response(
            413,
            "payload-too-large",
            "Request body too large",
            f"the request body is larger than {self.max_bytes} bytes",
        )(scope, receive, send)


class AdmissionMiddleware:
    """At most `limit` requests inside the app at once; the rest wait here,
    in the event loop, where waiting costs nothing.

    A request holds its database connection (on SQLite, the write lock) from
    its first dependency to its commit, across several thread-pool hops. With
    more requests in flight than threads or pooled connections, every thread
    can end up waiting for a connection held by a request that needs a thread
    to finish: hundreds of concurrent clients then stall until timeouts fire.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._gate: Any = None  # made on first use, inside the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._gate is None:
            import asyncio

            self._gate = asyncio.Semaphore(self.limit)
        async with self._gate:
            await self.app(scope, receive, send)
