"""The outbound retry policy, on plain data."""

from __future__ import annotations

import random
from datetime import timedelta

from app.webhooks import policy


class TestRetryDelay:
    def test_the_first_retry_comes_after_about_five_seconds(self):
        delay = policy.retry_delay(1, random.Random(1))
        assert timedelta(seconds=4) <= delay <= timedelta(seconds=6)

    def test_delays_grow_and_span_about_a_day(self):
        rng = random.Random(7)
        delays = [policy.retry_delay(n, rng) for n in range(1, policy.MAX_ATTEMPTS)]
        assert all(d is not None for d in delays)
        bases = policy.RETRY_SCHEDULE_SECONDS
        assert list(bases) == sorted(bases)
        total = sum(d.total_seconds() for d in delays)  # type: ignore[union-attr]
        assert 20 * 3600 < total < 34 * 3600

    def test_jitter_spreads_retries(self):
        rng = random.Random(3)
        assert len({policy.retry_delay(4, rng) for _ in range(20)}) > 10

    def test_the_schedule_ends(self):
        assert policy.retry_delay(policy.MAX_ATTEMPTS) is None
        assert policy.retry_delay(0) is None


class TestJudgeAttempt:
    def test_2xx_succeeds(self):
        for code in (200, 201, 204, 299):
            assert policy.judge_attempt(attempt=1, status_code=code).succeeded

    def test_redirects_and_errors_are_retried(self):
        for code in (301, 400, 500, 502):
            verdict = policy.judge_attempt(attempt=1, status_code=code)
            assert not verdict.succeeded and not verdict.give_up and verdict.retry_in

    def test_a_network_error_is_retried_and_named(self):
        verdict = policy.judge_attempt(attempt=2, status_code=None, error="timed out")
        assert verdict.retry_in and verdict.reason == "timed out"

    def test_410_gone_disables_at_once(self):
        verdict = policy.judge_attempt(attempt=1, status_code=410)
        assert verdict.give_up and verdict.disable

    def test_the_last_failure_gives_up_and_disables(self):
        verdict = policy.judge_attempt(attempt=policy.MAX_ATTEMPTS, status_code=500)
        assert verdict.give_up and verdict.disable
        assert "gave up" in verdict.reason

    def test_retry_after_is_honoured_on_429_and_503_when_longer(self):
        verdict = policy.judge_attempt(attempt=1, status_code=429, retry_after="120")
        assert verdict.retry_in == timedelta(seconds=120)
        verdict = policy.judge_attempt(attempt=1, status_code=500, retry_after="120")
        assert verdict.retry_in is not None and verdict.retry_in < timedelta(seconds=10)

    def test_a_huge_retry_after_is_capped(self):
        verdict = policy.judge_attempt(attempt=1, status_code=503, retry_after="99999999")
        assert verdict.retry_in == timedelta(seconds=policy.MAX_RETRY_AFTER_SECONDS)
