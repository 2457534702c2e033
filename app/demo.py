"""`promoplan demo`: a realistic year, built through the services.

Each domain adds its part in `app/<domain>/demo.py`: `seed(session, ctx)`
takes what earlier domains made (in `ctx`) and returns lines to print.
"""

from __future__ import annotations

from typing import Any

from app import auth
from app.config import get_settings
from app.db import session_scope


class DemoAlreadyLoaded(Exception):
    """The database already holds events: a second demo would duplicate them."""


def run(*, force: bool = False) -> list[str]:
    from app.calendar import demo as calendar_demo
    from app.feeds import demo as feeds_demo
    from app.launches import demo as launches_demo
    from app.promotions import demo as promotions_demo
    from app.slots import demo as slots_demo

    lines: list[str] = []
    ctx: dict[str, Any] = {}
    with session_scope() as session:
        from app.calendar import service as calendar_service

        if not force and calendar_service.list_events(session):
            raise DemoAlreadyLoaded(
                "the database already has events; the demo would add a second copy. "
                "Use a fresh PROMOPLAN_DATABASE_URL, or `promoplan demo --force`."
            )
        for domain in (calendar_demo, slots_demo, promotions_demo, launches_demo, feeds_demo):
            lines += domain.seed(session, ctx)
        _key, raw = auth.create_key(session, name="demo admin", role=auth.Role.admin)
    base = get_settings().public_url.rstrip("/")
    lines += [
        "",
        f"Open {base}/ and sign in with the key below, or try:",
        f"  curl -H 'Authorization: Bearer {raw}' {base}/api/v1/events",
        "Your admin key (shown once):",
        raw,
    ]
    return lines
