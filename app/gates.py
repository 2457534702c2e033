"""A readiness gate's verdict, shared by the domains that own each gate
(calendar: required tasks; slots: a published allocation; promotions: the
risk floor) and the launches domain that checks them before a launch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateResult:
    gate: str  # "required_tasks", "allocation", "risk"
    passed: bool
    applies: bool  # a gate that does not apply passes
    detail: str
