"""The outbound delivery worker: claims due deliveries from the outbox,
POSTs them signed, records each attempt.

It runs in its own thread, apart from the transition clock, so that a slow
or dead receiver never delays a launch: a transition only writes outbox
rows. Several replicas may run it on one PostgreSQL database; a delivery is
claimed under a lease by one of them at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import timedelta

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from app.config import get_settings
from app.db import session_scope
from app.types import utcnow
from app.webhooks import service, signing

log = logging.getLogger("promoplan.webhooks.worker")

BATCH = 16
CONCURRENCY = 4
POLL_SECONDS = 1.0
USER_AGENT = "promoplan-webhooks/1"


def _timestamp() -> int:
    return int(time.time())


def attempt(job: service.DeliveryJob, client: httpx.Client) -> dict:
    """POST one delivery; never raises. A fresh timestamp and signature on
    every attempt (receivers refuse stale timestamps), the same webhook-id."""
    problem = service.url_problem(job.url)
    started_at = utcnow()
    if problem:
        return {
            "started_at": started_at,
            "finished_at": utcnow(),
            "status_code": None,
            "latency_ms": 0,
            "error": problem,
            "response_excerpt": None,
            "retry_after": None,
        }
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signing.signed_headers(
            job.secrets, webhook_id=job.webhook_id, timestamp=_timestamp(), body=job.body
        ),
    }
    clock = time.perf_counter()
    status_code = None
    error = None
    excerpt = None
    retry_after = None
    try:
        response = client.post(job.url, content=job.body, headers=headers)
        status_code = response.status_code
        excerpt = response.text[:500]
        retry_after = response.headers.get("retry-after")
    except httpx.TimeoutException:
        error = "timed out"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    return {
        "started_at": started_at,
        "finished_at": utcnow(),
        "status_code": status_code,
        "latency_ms": int((time.perf_counter() - clock) * 1000),
        "error": error,
        "response_excerpt": excerpt,
        "retry_after": retry_after,
    }


def run_once(
    *,
    engine: Engine | None = None,
    scope: Callable[[], AbstractContextManager[Session]] | None = None,
    owner: str | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Claim and attempt one batch of due deliveries; returns how many.
    `scope` makes the unit of work (default: `session_scope(engine)`)."""
    settings = get_settings()
    unit = scope or (lambda: session_scope(engine))
    owner = owner or settings.instance_id
    # The lease outlives the HTTP timeout, so a live worker never loses a
    # delivery it is still sending; a dead one's deliveries come back after it.
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 + 30)
    with unit() as session:
        jobs = service.claim_due(session, now=utcnow(), owner=owner, lease=lease, limit=BATCH)
    if not jobs:
        return 0
    own_client = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    # One subscription's messages go one after another, in the order they
    # were written (a launch before the phase that starts with it); different
    # subscriptions go side by side, so a slow receiver holds up only itself.
    groups: dict[int, list[service.DeliveryJob]] = {}
    for job in jobs:
        groups.setdefault(job.subscription_id, []).append(job)

    def send_in_order(group: list[service.DeliveryJob]) -> list[tuple[service.DeliveryJob, dict]]:
        return [(job, attempt(job, http)) for job in group]

    try:
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(groups))) as pool:
            outcomes = [pair for done in pool.map(send_in_order, groups.values()) for pair in done]
    finally:
        if own_client:
            http.close()
    for job, result in outcomes:
        try:
            with unit() as session:
                service.record_attempt(session, job=job, owner=owner, **result)
        except Exception:  # the lease expires and another attempt follows
            log.exception("could not record delivery %s", job.delivery_id)
    return len(jobs)


class DeliveryWorker:
    """A thread that drains the outbox: woken after a commit that wrote to
    it, and polling once a second for retries and other replicas' rows."""

    def __init__(self, engine: Engine | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        event.listen(OrmSession, "after_commit", self._after_commit)
        self._thread = threading.Thread(target=self._loop, name="webhook-deliveries", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if event.contains(OrmSession, "after_commit", self._after_commit):
            event.remove(OrmSession, "after_commit", self._after_commit)
        if self._thread is not None:
            self._thread.join(timeout)

    def poke(self) -> None:
        self._wake.set()

    def _after_commit(self, session: OrmSession) -> None:
        if session.info.pop(service.OUTBOX_FLAG, False):
            self.poke()

    def _loop(self) -> None:
        settings = get_settings()
        with httpx.Client(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        ) as client:
            while not self._stop.is_set():
                try:
                    busy = run_once(engine=self.engine, client=client)
                except Exception:
                    log.exception("delivery sweep failed")
                    busy = 0
                if not busy:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()
