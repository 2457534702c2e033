"""create_app(): routers, error handlers, middleware, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from app import admin, openapi
from app.auth import authenticate
from app.calendar.router import router as calendar_router
from app.config import get_settings
from app.errors import install_error_handlers
from app.feeds.router import public_router as feeds_public_router
from app.feeds.router import router as feeds_router
from app.health import router as health_router
from app.launches import clock
from app.launches.router import router as launches_router
from app.observability import (
    AdmissionMiddleware,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    configure_logging,
)
from app.promotions import service as promotions_service
from app.promotions.router import quote_router
from app.promotions.router import router as promotions_router
from app.schemas import problem_responses
from app.slots.router import router as slots_router
from app.web.router import router as web_router
from app.webhooks.router import hooks_router as webhooks_inbound_router
from app.webhooks.router import router as webhooks_router

API_PREFIX = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.scheduler_enabled:
        clock.start(app)
    if settings.warm_quote_cache:
        promotions_service.warm_quote_cache()
    try:
        yield
    finally:
        clock.stop(app)


def api_router() -> APIRouter:
    """Every /api/v1 route, each behind an API key."""
    api = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(authenticate)],
        responses=problem_responses(401, 403, 422),
    )
    for router in (
        quote_router,
        admin.router,
        calendar_router,
        slots_router,
        promotions_router,
        launches_router,
        webhooks_router,
        feeds_router,
    ):
        api.include_router(router)
    return api


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="promoplan",
        version="0.1.0",
        summary="Plan, allocate, price, launch and publish big online sales events.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    openapi.install(app)
    app.add_middleware(AdmissionMiddleware, limit=settings.max_concurrent_requests)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(api_router())
    # Inbound webhooks are authenticated by their signature, not by a key.
    app.include_router(webhooks_inbound_router, prefix=API_PREFIX)
    app.include_router(feeds_public_router)
    app.include_router(web_router)
    return app


app = create_app()
