"""The feeds part of `promoplan demo`.

Reads `ctx["events"]` (the calendar's `{"double11": id, "618": id}`; the
event feed is skipped when it is absent). Puts in `ctx`:
- `ctx["feeds"]`: `{"year": {"id", "url"}, "double11_design": {"id", "url"}}`
  (the URLs carry the tokens, shown only here).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.auth import SYSTEM
from app.feeds import service
from app.feeds.schemas import FeedCreate


def seed(session: Session, ctx: dict[str, Any]) -> list[str]:
    """A whole-year feed of phases and milestones, and the acceptance story's
    feed: the Double 11 milestones of the design team, with reminders."""
    feeds: dict[str, dict[str, Any]] = {}
    year = service.create(
        session,
        data=FeedCreate(name="promoplan · the year's campaigns"),
        actor=SYSTEM,
    )
    feeds["year"] = {"id": year.id, "url": year.url}
    double11 = (ctx.get("events") or {}).get("double11")
    if double11 is not None:
        design = service.create(
            session,
            data=FeedCreate.model_validate(
                {
                    "name": "Double 11 · design milestones",
                    "filter": {
                        "event_ids": [getattr(double11, "id", double11)],
                        "teams": ["design"],
                        "include": ["milestones"],
                    },
                    "alarm_minutes": 60,
                }
            ),
            actor=SYSTEM,
        )
        feeds["double11_design"] = {"id": design.id, "url": design.url}
    ctx["feeds"] = feeds
    lines = ["Feeds (paste a URL into a calendar app's 'subscribe' box; shown once):"]
    lines.append(f"  the whole year:              {year.url}")
    if "double11_design" in feeds:
        lines.append(f"  Double 11, design milestones: {feeds['double11_design']['url']}")
    lines.append(f"  Apple/Outlook one-click:     {year.webcal_url}")
    return lines
