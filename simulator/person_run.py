"""One person through the simulation: what the simulator keeps about each case of a debtor while
`engine.decision.driver.drive_person` runs them, interleaved in time, each contact granted or
deferred by the person's shared ledger, as production does.

Production: a case decides a contact, its `send_contact` activity asks the `debtor-<id>` workflow
for a grant (`engine.decision.person.grant`), and a deferral comes back to the case as a
`ContactDeferred` event. The driver makes the same two calls between the core's decisions, in the
order of time across the person's cases (ties: the case listed first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.case.state import CaseState
from engine.policy.compiled import CompiledPolicy
from simulator.audit import Auditor
from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.portfolio import SimCase

__all__ = ["CaseRun", "open_run"]


@dataclass
class CaseRun:
    """One case of the person being simulated: its debtor model and what is counted about it."""

    cp: CompiledPolicy
    sc: SimCase
    state: CaseState  # the driver's state of the case (changed in place)
    model: DebtorModel
    auditor: Auditor | None
    tz: ZoneInfo
    contacts: dict[str, int] = field(default_factory=dict)
    cur: str = "not_open"
    violations: int = 0
    done: bool = False
    label: str | None = None  # the `policy` of its trace lines (an account on another policy)


def open_run(
    cp: CompiledPolicy,
    sc: SimCase,
    state: CaseState,
    horizon: datetime,
    seed: int,
    spec: BehaviourSpec,
    audit: bool,
) -> CaseRun:
    """The simulator's side of a case the driver just opened (`state`, as opened)."""
    model = DebtorModel(cp, state, sc.opened, horizon, seed, spec)
    return CaseRun(
        cp,
        sc,
        state,
        model,
        Auditor(cp, sc.case) if audit else None,
        ZoneInfo(sc.case.debtor.timezone),
    )
