"""Use cases of the promotions domain.

The first functions are the promotions domain's contract with the others
(launches): keep their names and signatures.
"""

from __future__ import annotations

from sqlmodel import Session

from app.gates import GateResult

# --- contract with other domains -------------------------------------------


def launch_gate(session: Session, *, event_id: int) -> GateResult:
    """Issue 5 replaces this: the event's promotions stay under the risk floor."""
    return GateResult("risk", passed=True, applies=False, detail="no promotions")
