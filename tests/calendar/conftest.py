"""Fixtures of the calendar tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import signals


@pytest.fixture(autouse=True)
def sent() -> Iterator[list[tuple[str, object]]]:
    """Detach other domains' receivers from the calendar's signals for one
    test, and record what was sent instead: the calendar's own behaviour is
    tested here, the launches domain's reactions in its own tests."""
    sent: list[tuple[str, object]] = []
    saved = {}
    for signal in (signals.event_scheduled, signals.event_rescheduled, signals.event_cancelled):
        saved[signal] = signal._receivers
        signal._receivers = [lambda _s, _name=signal.name, **p: sent.append((_name, p["event"].id))]
    try:
        yield sent
    finally:
        for signal, receivers in saved.items():
            signal._receivers = receivers
