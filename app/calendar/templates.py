"""The built-in templates: Double 11 and 618.

Offsets are wall-clock times in the event's zone relative to the anchor
day (the peak day, 00:00). The timelines follow the big marketplaces'
public calendars of recent years:

- Double 11 (Tmall/Taobao 双十一): merchant sign-up opens mid-September and
  closes early October; pre-sale (预售) opens at 20:00 around 24 October
  after a few days of warm-up; the peak (正式/爆发) runs from 20:00 on
  10 November to the end of 11 November; an encore (返场) follows for two
  days; the review of results (复盘) the week after.
- 618 (JD 京东 618): sign-up in early May, warm-up from about 23 May, the
  opening rush (开门红) from 20:00 on 31 May, the peak from 20:00 on
  17 June to the end of 18 June, then a two-day encore.

Every milestone carries a stable `code` that other domains rely on:
signup_open, signup_close, slot_allocation, creative_submission,
creative_review, page_build, warmup_start, launch, encore, review.
"""

from __future__ import annotations

from typing import Any

MILESTONE_CODES = (
    "signup_open",
    "signup_close",
    "slot_allocation",
    "creative_submission",
    "creative_review",
    "page_build",
    "warmup_start",
    "launch",
    "encore",
    "review",
)


def _at(day: int, time: str = "00:00") -> dict[str, Any]:
    return {"day": day, "time": time}


def _dep(code: str, type_: str = "FS", lag: str = "PT0S") -> dict[str, str]:
    return {"code": code, "type": type_, "lag": lag}


def _preparation(
    *,
    signup_open: int,
    signup_close: int,
    allocation_days: int,
    submission_days: int,
    warmup: int,
    launch: tuple[int, str],
    encore: int,
) -> list[dict[str, Any]]:
    """The month of preparation shared by both templates, at the given days."""
    allocation_end = signup_close + allocation_days
    submission_end = allocation_end + submission_days
    return [
        {
            "code": "signup_open",
            "name": "Merchant sign-up opens 招商报名开始",
            "kind": "milestone",
            "team": "activity",
            "start": _at(signup_open, "10:00"),
        },
        {
            "code": "signup_close",
            "name": "Merchant sign-up closes 招商报名截止",
            "kind": "milestone",
            "team": "activity",
            "start": _at(signup_close, "18:00"),
            "depends_on": [_dep("signup_open")],
        },
        {
            "code": "slot_allocation",
            "name": "Resource slot allocation 资源位分配",
            "team": "activity",
            "start": _at(signup_close, "18:00"),
            "end": _at(allocation_end, "18:00"),
            "required": True,
            "depends_on": [_dep("signup_close")],
        },
        {
            "code": "promotion_setup",
            "name": "Coupons and discount rules set up 优惠配置",
            "team": "product_ops",
            "start": _at(signup_close, "10:00"),
            "end": _at(allocation_end + 2, "18:00"),
            "required": True,
            "depends_on": [_dep("signup_close", "SS", "-PT8H")],
        },
        {
            "code": "creative_submission",
            "name": "Creative and material submission 素材提交",
            "team": "content",
            "start": _at(allocation_end, "18:00"),
            "end": _at(submission_end, "18:00"),
            "depends_on": [_dep("slot_allocation")],
        },
        {
            "code": "creative_review",
            "name": "Creative review 素材审核",
            "team": "content",
            "start": _at(allocation_end + 1, "18:00"),
            "end": _at(submission_end + 1, "18:00"),
            "required": True,
            # Reviews start a day after allocation and end a day after the
            # last submission.
            "depends_on": [
                _dep("creative_submission", "FF", "P1D"),
                _dep("slot_allocation", "FS", "P1D"),
            ],
        },
        {
            "code": "page_build",
            "name": "Venue page build 会场搭建",
            "team": "design",
            "start": _at(submission_end + 1, "18:00"),
            # Pages are built up to the warm-up: no buffer, a critical chain.
            "end": _at(warmup),
            "required": True,
            "depends_on": [_dep("creative_review")],
        },
        {
            "code": "logistics_booking",
            "name": "Warehouse and carrier capacity booked 仓配运力预约",
            "team": "logistics",
            "start": _at(signup_close, "10:00"),
            "end": _at(warmup - 1, "18:00"),
            "depends_on": [_dep("signup_close", "SS", "-PT8H")],
        },
        {
            "code": "cs_briefing",
            "name": "Customer service scripts and briefing 客服话术培训",
            "team": "customer_service",
            "start": _at(warmup - 4, "10:00"),
            "end": _at(warmup - 1, "18:00"),
            "depends_on": [_dep("promotion_setup")],
        },
        {
            "code": "warmup_start",
            "name": "Warm-up starts 预热开始",
            "kind": "milestone",
            "team": "activity",
            "start": _at(warmup),
            "depends_on": [_dep("page_build"), _dep("promotion_setup")],
        },
        {
            "code": "launch",
            "name": "Sales open 正式开售",
            "kind": "milestone",
            "team": "activity",
            "start": _at(*launch),
            "depends_on": [_dep("warmup_start")],
        },
        {
            "code": "encore",
            "name": "Encore starts 返场开始",
            "kind": "milestone",
            "team": "activity",
            "start": _at(encore),
            "depends_on": [_dep("launch")],
        },
        {
            "code": "review",
            "name": "Review of results 活动复盘",
            "team": "product_ops",
            "start": _at(encore + 3, "10:00"),
            "end": _at(encore + 6, "18:00"),
            "depends_on": [_dep("encore", "FS", "P2D")],
        },
    ]


def _double11() -> dict[str, Any]:
    return {
        "key": "double11",
        "name": "Double 11 双十一",
        "description": "Tmall-style Double 11: warm-up, pre-sale from 20:00 on D-18, "
        "peak from 20:00 on D-1 to the end of the day, two-day encore.",
        "body": {
            "phases": [
                {
                    "key": "warmup",
                    "name": "Warm-up 预热",
                    "start": _at(-21),
                    "end": _at(-18, "20:00"),
                },
                {
                    "key": "presale",
                    "name": "Pre-sale 预售",
                    "start": _at(-18, "20:00"),
                    "end": _at(-1, "20:00"),
                },
                {"key": "peak", "name": "Peak 爆发", "start": _at(-1, "20:00"), "end": _at(1)},
                {"key": "encore", "name": "Encore 返场", "start": _at(1), "end": _at(3)},
            ],
            "tasks": _preparation(
                signup_open=-56,
                signup_close=-36,
                allocation_days=3,
                submission_days=5,
                warmup=-21,
                launch=(-18, "20:00"),
                encore=1,
            ),
        },
    }


def _six18() -> dict[str, Any]:
    return {
        "key": "618",
        "name": "618 年中大促",
        "description": "JD-style 618: warm-up, opening rush from 20:00 on D-18, "
        "peak from 20:00 on D-1 to the end of the day, two-day encore.",
        "body": {
            "phases": [
                {
                    "key": "warmup",
                    "name": "Warm-up 预热",
                    "start": _at(-26),
                    "end": _at(-18, "20:00"),
                },
                {
                    "key": "presale",
                    "name": "Opening rush and pre-sale 开门红",
                    "start": _at(-18, "20:00"),
                    "end": _at(-1, "20:00"),
                },
                {"key": "peak", "name": "Peak 爆发", "start": _at(-1, "20:00"), "end": _at(1)},
                {"key": "encore", "name": "Encore 返场", "start": _at(1), "end": _at(3)},
            ],
            "tasks": _preparation(
                signup_open=-47,
                signup_close=-37,
                allocation_days=2,
                submission_days=3,
                warmup=-26,
                launch=(-18, "20:00"),
                encore=1,
            ),
        },
    }


def builtin_templates() -> dict[str, dict[str, Any]]:
    """`key → {key, name, description, body}` of every built-in template."""
    return {t["key"]: t for t in (_double11(), _six18())}
