"""APScheduler wiring only: wake the process at the next due transition."""

from __future__ import annotations

from fastapi import FastAPI


def start(app: FastAPI) -> None:
    """Start the clock; issue 6 fills this in."""


def stop(app: FastAPI) -> None:
    """Stop the clock."""
