"""Scenario 5: the pure core on the shipped policies, with no Temporal at all.

States are collected by running synthetic cases through their lifecycle (every timer the core
asks for over 180 days, a call outcome after every call), then `decide()` is timed on each of
those (state, event, moment) triples again. Lifecycles per minute come from the simulator
(`simulator.run.simulate`, one process).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.case import events as ev
from engine.case.state import CaseFile, CaseState
from engine.decision.decide import copy_state, decide
from engine.decision.driver import Lane
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import POLICY_DIR, load_policy
from simulator.run import SimConfig, simulate

__all__ = ["core_scenario", "lifecycle_samples", "shipped_policies"]

DAYS = 180
_AMOUNTS = ("300.00", "1500.00", "2600.00", "9000.00", "15000.00")
_ATTITUDES = ("neutral", "cooperative", "evasive", "hostile", "neutral")
Sample = tuple[CaseState, ev.Event | None, datetime]


def shipped_policies() -> list[CompiledPolicy]:
    """Every policy in `policies/`, loaded and compiled."""
    return [registry.register(load_policy(p)) for p in sorted(POLICY_DIR.glob("*.yaml"))]


def _case(cp: CompiledPolicy, i: int, due: date) -> CaseFile:
    p = cp.policy
    return CaseFile.model_validate(
        {
            "case_id": f"CORE-{i:04d}",
            "debtor": {
                "id": f"D{i}",
                "name": f"Debtor {i}",
                "phone": "+15550000000",
                "email": f"d{i}@example.com",
                "address": f"{i} Bench Road",
                "timezone": p.timezone,
                "locale": p.locales[0],
                "third_party_phone": "+15550000001",
            },
            "product": "credit_line" if p.currency == "CNY" else "instalment_loan",
            "amount_due": _AMOUNTS[i % len(_AMOUNTS)],
            "currency": p.currency,
            "due_date": due.isoformat(),
            "policy": p.name,
            "risk_score": 300 + 97 * i % 500,
            "attitude": _ATTITUDES[i % len(_ATTITUDES)],
        }
    )


def _lifecycle(cp: CompiledPolicy, case: CaseFile, start: datetime) -> Iterator[Sample]:
    """Every decision of one case over `DAYS`, as (state before, event, moment), driven by the
    core's driver (`Lane`, which keeps every earlier state as it was)."""
    horizon = start + timedelta(days=DAYS)
    lane, d = Lane.open(cp, case, start)
    while True:
        for a in d.actions:
            if a.kind == "contact" and a.channel == "call":
                e = ev.ContactOutcome(action_id=a.action_id, outcome="unanswered")
                yield lane.state, e, a.at
                lane.decide(e, a.at)
        wake = lane.wake
        if lane.state.closed or wake is None or wake > horizon:
            return
        yield lane.state, None, wake
        d = lane.tick()


def lifecycle_samples(cp: CompiledPolicy, cases: int) -> list[Sample]:
    """The decisions of `cases` synthetic cases on `cp`, opened three days before their due date."""
    due = date(2026, 1, 15)
    start = datetime.combine(due - timedelta(days=3), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=1
    )
    return [s for i in range(cases) for s in _lifecycle(cp, _case(cp, i, due), start)]


def _time_calls(cp: CompiledPolicy, samples: list[Sample], repeat: int) -> dict[str, float]:
    per_call: list[float] = []
    copy: list[float] = []
    for _ in range(repeat):
        for state, e, at in samples:
            t0 = time.perf_counter()
            decide(cp, state, e, at)
            t1 = time.perf_counter()
            copy_state(state)
            t2 = time.perf_counter()
            per_call.append((t1 - t0) * 1e6)
            copy.append((t2 - t1) * 1e6)
    per_call.sort()
    return {
        "decisions": len(samples),
        "us_mean": round(statistics.fmean(per_call), 1),
        "us_p50": round(per_call[len(per_call) // 2], 1),
        "us_p99": round(per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))], 1),
        "state_copy_us_mean": round(statistics.fmean(copy), 1),
    }


def _sim_lifecycles(cp: CompiledPolicy, cases: int) -> float:
    result = simulate(SimConfig(policy=cp.policy.name, cases=cases, days=DAYS, workers=1))
    return result.lifecycles_per_minute


def core_scenario(cases: int, repeat: int, sim_cases: int) -> dict[str, Any]:
    """Scenario 5: microseconds per decide() per shipped policy, and lifecycles per minute."""
    out: dict[str, Any] = {"policies": {}, "days": DAYS}
    all_us: list[float] = []
    rates: list[float] = []
    for cp in shipped_policies():
        samples = lifecycle_samples(cp, cases)
        timing = _time_calls(cp, samples, repeat)
        rate = _sim_lifecycles(cp, sim_cases)
        timing["lifecycles_per_min"] = round(rate)
        out["policies"][cp.policy.name] = timing
        all_us.append(timing["us_mean"])
        rates.append(rate)
    out["decide_us_mean"] = round(statistics.fmean(all_us), 1)
    out["lifecycles_per_min"] = round(statistics.fmean(rates))
    out["lifecycles_how"] = "simulator.run.simulate, 1 process, auditor on"
    out["sim_cases"] = sim_cases
    return out
