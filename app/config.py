"""Settings, read from the environment with the PROMOPLAN_ prefix."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMOPLAN_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./promoplan.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host:port/db",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in feed URLs and links"
    )
    auto_migrate: bool = Field(default=True, description="`serve` applies pending migrations")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = Field(default=True, description="One JSON object per log line")
    max_body_bytes: int = Field(default=1_048_576, description="Larger request bodies get a 413")
    sqlite_busy_timeout_ms: int = 15_000
    db_pool_size: int = 10
    max_concurrent_requests: int = Field(
        default=24,
        description="Requests inside the app at once (the rest queue); keep it below the "
        "thread pool (40) and the database pool (3 × db_pool_size)",
    )
    auth_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A key found valid is trusted this long without asking the database "
        "again; revoking it in this process ends that at once, in others within this bound "
        "(0 = look up every request)",
    )
    idempotency_retention_hours: int = Field(
        default=24,
        ge=1,
        description="An Idempotency-Key is replayed this long, then forgotten: reused later it "
        "is a new request (Stripe keeps keys 24 h)",
    )
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}",
        description="Names this replica in job runs and leases",
    )
    # Calendar
    team_daily_milestone_limit: int = Field(
        default=3, description="More milestones due on one day for one team is a conflict"
    )
    # Promotions
    risk_floor_bp: int = Field(
        default=7000, description="Never more than this many basis points off (7000 = 70 %)"
    )
    quote_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="A quote trusts this process's promotion cache this long before reading "
        "the freshness token again: a change committed by another process reaches quotes "
        "here within this bound; one made here, at once (0 = check every quote)",
    )
    warm_quote_cache: bool = Field(
        default=True, description="Load the promotion cache in the background at start-up"
    )
    # Launches and webhooks
    scheduler_enabled: bool = Field(default=True, description="Run the transition clock")
    sweep_interval_seconds: float = Field(default=15.0, description="Safety-net sweep period")
    transition_max_attempts: int = 5
    webhook_launch_lead_seconds: int = Field(
        default=3600, description="A webhook may launch an event this long before starts_at"
    )
    webhook_tolerance_seconds: int = 300
    # Far beyond webhook_tolerance_seconds (Standard Webhooks: ±5 min, checked in
    # app/webhooks/signing.py): once a receipt is purged, a replay of its
    # webhook-id would carry a timestamp long refused as too old anyway.
    webhook_receipt_retention_hours: int = Field(
        default=72, ge=1, description="Inbound webhook receipts are kept this long, then purged"
    )
    webhook_timeout_seconds: float = 15.0
    webhook_allowlist: str | None = Field(
        default=None,
        description="Comma-separated hosts or CIDRs outbound webhooks may reach; unset = any",
    )
    deliveries_enabled: bool = Field(default=True, description="Run the outbound webhook worker")
    # Feeds
    feed_cancelled_grace_days: int = Field(
        default=30, description="Cancelled items stay in feeds as CANCELLED this long"
    )

    @model_validator(mode="after")
    def _receipts_outlive_the_tolerance(self) -> Settings:
        # A message is accepted from tolerance before its timestamp to
        # tolerance after it, so a replay can come up to 2 × tolerance after
        # its receipt; a receipt purged sooner would let it act twice.
        if self.webhook_receipt_retention_hours * 3600 <= 2 * self.webhook_tolerance_seconds:
            raise ValueError(
                "webhook_receipt_retention_hours must exceed twice webhook_tolerance_seconds"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
