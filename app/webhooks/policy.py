"""Outbound delivery policy, pure: when to retry, what a response means.

The schedule follows the Standard Webhooks recommendation in spirit (first
retry after ~5 s, growing to hours) but ends after about a day: a launch
notice older than that is of no use to a storefront.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

# Delay before retry n (n = 1 after the first failed attempt); about 27 h in all.
RETRY_SCHEDULE_SECONDS: tuple[int, ...] = (5, 60, 300, 1800, 3600, 7200, 14400, 28800, 43200)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS) + 1
JITTER = 0.2
# Honour a receiver's Retry-After, but never wait longer than this for it.
MAX_RETRY_AFTER_SECONDS = 6 * 3600


@dataclass(frozen=True)
class AttemptVerdict:
    succeeded: bool
    give_up: bool  # no more retries for this delivery
    disable: bool  # the subscription should stop receiving
    retry_in: timedelta | None
    reason: str


def retry_delay(attempt: int, rng: random.Random | None = None) -> timedelta | None:
    """Delay after failed attempt number `attempt` (1-based), with ±20 % jitter
    so that many deliveries failing together do not retry in lockstep; None
    when the schedule is used up."""
    if attempt < 1 or attempt > len(RETRY_SCHEDULE_SECONDS):
        return None
    base = RETRY_SCHEDULE_SECONDS[attempt - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * factor)


def parse_retry_after(value: str | None) -> timedelta | None:
    """A `Retry-After` in seconds (the HTTP-date form is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return timedelta(seconds=min(int(value.strip()), MAX_RETRY_AFTER_SECONDS))


def judge_attempt(
    *,
    attempt: int,
    status_code: int | None,
    retry_after: str | None = None,
    error: str | None = None,
    rng: random.Random | None = None,
) -> AttemptVerdict:
    """What one attempt's outcome means. 2xx succeeds; 410 Gone disables the
    subscription at once; anything else (3xx included: redirects are not
    followed) is retried on the schedule, then given up and the subscription
    disabled: an endpoint that failed for a day is dead."""
    if status_code is not None and 200 <= status_code < 300:
        return AttemptVerdict(True, False, False, None, f"HTTP {status_code}")
    if status_code == 410:
        return AttemptVerdict(False, True, True, None, "HTTP 410 Gone: the receiver unsubscribed")
    reason = error or f"HTTP {status_code}"
    delay = retry_delay(attempt, rng)
    if delay is None:
        return AttemptVerdict(
            False, True, True, None, f"{reason}; gave up after {attempt} attempts"
        )
    hinted = parse_retry_after(retry_after) if status_code in (429, 503) else None
    if hinted is not None and hinted > delay:
        delay = hinted
    return AttemptVerdict(False, False, False, delay, reason)
