"""The slots part of `promoplan demo`."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """Add this domain's demo data; return lines to print."""
    return []
