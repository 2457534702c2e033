"""In-process domain signals, so that a domain can react to another's change
without the two importing each other (calendar → launches would be a cycle).

Receivers run inside the sender's transaction, on the same session: what
they write commits or rolls back with the change that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

Receiver = Callable[..., None]


class Signal:
    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver] = []

    def connect(self, receiver: Receiver) -> Receiver:
        """Register a receiver (usable as a decorator); registering twice is a no-op."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def send(self, session: Session, **payload: Any) -> None:
        for receiver in list(self._receivers):
            receiver(session, **payload)


# payload: event (app.calendar.models.Event)
event_scheduled = Signal("event_scheduled")
# payload: event; sent after its window, phases or launch_mode changed (update, shift)
event_rescheduled = Signal("event_rescheduled")
# payload: event, move (datetime -> datetime: the shift on the event's wall
# clock), actor; sent by a shift after the event, its phases and tasks moved,
# before event_rescheduled
event_shifted = Signal("event_shifted")
# payload: event
event_cancelled = Signal("event_cancelled")
