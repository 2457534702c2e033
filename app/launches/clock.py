"""APScheduler wiring only: wake the process at the next due transition.

The database holds the truth (transition rows with due times); this clock
only decides when to look. Each process runs its own in-memory
BackgroundScheduler — never a shared job store, which APScheduler 3 cannot
coordinate between processes — with:

- `sweep`: at start-up (catch-up of everything that fell due while the
  process was down) and then every `sweep_interval_seconds` as a safety net;
- `wake`: one date job at the earliest due time, moved whenever a sweep or a
  commit in this process plans something earlier;
- `peek`: every second, one indexed query for the earliest due time, so that
  rows planned by another replica (or by hand in the database) are also
  applied within about a second of their due time.

Both call the same sweep, which claims rows atomically, so it does not
matter how many processes wake at the same second. `misfire_grace_time=None`
because APScheduler's default (1 s) silently drops a late wake-up.
The outbound delivery worker is started and stopped here too, and so is
`purge`: every hour, delete expired Idempotency-Key records and inbound
webhook receipts (`promoplan db purge` runs the same once).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from app import idempotency
from app.config import get_settings
from app.db import is_sqlite, session_scope
from app.launches import service
from app.types import utcnow
from app.webhooks import service as webhooks_service
from app.webhooks.worker import DeliveryWorker

log = logging.getLogger("promoplan.launches.clock")

# Never wake sooner than this after now: a due time a few microseconds ahead
# would otherwise spin.
_MIN_DELAY = timedelta(milliseconds=20)
# Transactions applying due transitions side by side in one PostgreSQL replica.
APPLIERS = 3


PEEK_SECONDS = 1.0
# Rows expire after hours (see the *_retention_hours settings): an hourly
# purge keeps at most about an hour of expired rows around.
PURGE_INTERVAL = timedelta(hours=1)


def describe_purge(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in counts.items())


def purge_expired(engine: Engine | None = None) -> dict[str, int]:
    """Delete rows past their retention; the count per kind."""
    with session_scope(engine) as session:
        return {
            "idempotency_records": idempotency.purge_expired(session),
            "webhook_receipts": webhooks_service.purge_receipts(session),
        }


class Clock:
    def __init__(
        self,
        engine: Engine | None = None,
        sweep_interval_seconds: float = 15.0,
        appliers: int = 1,
    ) -> None:
        self.engine = engine
        # PostgreSQL replicas and threads share a batch through SKIP LOCKED;
        # SQLite has one writer at a time, so more appliers would only queue.
        self.appliers = appliers
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.sweep_interval_seconds = sweep_interval_seconds
        self._sweeping = threading.Lock()
        self._wake_lock = threading.Lock()
        self._wake_at: datetime | None = None

    def start(self) -> None:
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.sweep_interval_seconds,
            id="sweep",
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.peek,
            "interval",
            seconds=min(PEEK_SECONDS, self.sweep_interval_seconds),
            id="peek",
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.purge,
            "interval",
            seconds=PURGE_INTERVAL.total_seconds(),
            id="purge",
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        self.scheduler.start()
        event.listen(OrmSession, "after_commit", self._after_commit)

    def stop(self) -> None:
        if event.contains(OrmSession, "after_commit", self._after_commit):
            event.remove(OrmSession, "after_commit", self._after_commit)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def sweep(self) -> None:
        """Apply what is due, then set the wake-up for what comes next."""
        with self._sweeping:
            with self._wake_lock:
                self._wake_at = None
            try:
                reports = self._apply_due()
                if reports:
                    log.info("applied %d transition(s)", len(reports))
                upcoming = service.next_due_at(engine=self.engine)
            except Exception:
                log.exception("sweep failed; the next sweep retries")
                return
        if upcoming is not None:
            # Still due after a sweep: another replica holds it or it keeps
            # failing to be claimed; look again in a second, do not spin.
            now = utcnow()
            self.wake_at(upcoming if upcoming > now else now + timedelta(seconds=PEEK_SECONDS))

    def _apply_due(self) -> list[service.RunReport]:
        if self.appliers <= 1:
            return service.run_due(engine=self.engine)
        with ThreadPoolExecutor(self.appliers, thread_name_prefix="applier") as pool:
            batches = list(
                pool.map(lambda _n: service.run_due(engine=self.engine), range(self.appliers))
            )
        return [report for batch in batches for report in batch]

    def purge(self) -> None:
        try:
            counts = purge_expired(self.engine)
        except Exception:
            log.exception("purge failed; the next purge retries")
            return
        if any(counts.values()):
            log.info("purged %s", describe_purge(counts))

    def peek(self) -> None:
        try:
            upcoming = service.next_due_at(engine=self.engine)
        except Exception:
            log.exception("could not read the next due time")
            return
        if upcoming is not None:
            self.wake_at(upcoming)

    def wake_at(self, when: datetime) -> None:
        """Make sure a sweep runs at `when` (keeps an earlier wake-up)."""
        when = max(when, utcnow() + _MIN_DELAY)
        with self._wake_lock:
            if self._wake_at is not None and self._wake_at <= when:
                return
            self._wake_at = when
        if not self.scheduler.running:
            return
        self.scheduler.add_job(self.sweep, "date", run_date=when, id="wake", replace_existing=True)

    def _after_commit(self, session: OrmSession) -> None:
        due = session.info.pop(service.DUE_FLAG, None)
        if due is not None:
            self.wake_at(due)


def start(app: FastAPI) -> None:
    settings = get_settings()
    clock = Clock(
        sweep_interval_seconds=settings.sweep_interval_seconds,
        appliers=1 if is_sqlite(settings.database_url) else APPLIERS,
    )
    clock.start()
    app.state.launch_clock = clock
    if settings.deliveries_enabled:
        worker = DeliveryWorker()
        worker.start()
        app.state.delivery_worker = worker


def stop(app: FastAPI) -> None:
    worker = getattr(app.state, "delivery_worker", None)
    if worker is not None:
        worker.stop()
        app.state.delivery_worker = None
    clock = getattr(app.state, "launch_clock", None)
    if clock is not None:
        clock.stop()
        app.state.launch_clock = None
