"""The rollout dry run on live states: the same core drives each case forward under both
versions with the same debtors, so a version identical to the current one shows no difference,
a changed threshold shows in the stage moves, and a case the new version cannot take is reported
and left out of both sides."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from engine.case.state import CaseState
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import Policy
from simulator.live import dry_run
from simulator.report import summary
from tests.engine.driver import Run, at, case_file

DUE = date(2026, 3, 2)


def _variant(cp: CompiledPolicy, version: int, **changes: Any) -> CompiledPolicy:
    doc: dict[str, Any] = cp.policy.model_dump(mode="json")
    doc["version"] = version
    doc.update(changes)
    return registry.register(Policy.model_validate(doc))


def _states(cp: CompiledPolicy, n: int, days: int) -> tuple[list[CaseState], Any]:
    states = []
    now = at(DUE + timedelta(days=days), 12, tz=cp.policy.timezone)
    for i in range(n):
        run = Run.open(
            cp,
            case_file(
                cp,
                due=DUE + timedelta(days=i % 5),
                case_id=f"L-{i}",
                amount=f"{900 + 37 * i}.00",
                tz=cp.policy.timezone,
                locale=cp.policy.locales[0],
            ),
            at(DUE, 12, tz=cp.policy.timezone),
        )
        run.until(now)
        states.append(run.state)
    return states, now


def test_the_same_version_shows_no_difference(cn_policy: CompiledPolicy) -> None:
    states, now = _states(cn_policy, 12, 8)
    same = _variant(cn_policy, cn_policy.policy.version + 1)
    dr = dry_run(states, same, registry.get, now, days=60, seed=3)
    assert (dr.selected, dr.movable, dr.refused) == (12, 12, [])
    cur, new = summary(dr.result, dr.current), summary(dr.result, dr.proposed)
    for key in (
        "final_stages",
        "recovered",
        "contacts",
        "deferred",
        "deferred_by_guardrail",
        "promises",
        "events",
    ):
        assert cur[key] == new[key], key
    assert cur["cases"] == 12 and sum(cur["contacts"].values()) > 0
    assert dr.from_versions == {f"v{cn_policy.policy.version}": 12}


def test_a_changed_threshold_shows_and_refusals_are_left_out(cn_policy: CompiledPolicy) -> None:
    states, now = _states(cn_policy, 12, 8)
    stages: dict[str, Any] = cn_policy.policy.model_dump(mode="json")["stages"]
    # escalate at once: every exit of negotiation to escalation fires from day 0 of the stage
    later = {
        **stages,
        "negotiation": {
            **stages["negotiation"],
            "exits": [
                {**x, "when": {"field": "days_past_due", "op": ">=", "value": 0}}
                if x["to"] == "escalation"
                else x
                for x in stages["negotiation"]["exits"]
            ],
        },
    }
    new = _variant(cn_policy, cn_policy.policy.version + 2, stages=later)
    closed = states[0].model_copy(update={"closed": True, "stage": "written_off"})
    dr = dry_run([closed, *states[1:]], new, registry.get, now, days=60, seed=3)
    assert dr.movable == 11 and [r.case_id for r in dr.refused] == ["L-0"]
    assert "closed" in dr.refused[0].reason
    cur, prop = summary(dr.result, dr.current), summary(dr.result, dr.proposed)
    assert cur["cases"] == prop["cases"] == 11
    assert prop["final_stages"] != cur["final_stages"]
    assert (
        prop["final_stages"]["escalation"] + prop["final_stages"]["legal_referral"]
        > cur["final_stages"]["escalation"] + cur["final_stages"]["legal_referral"]
    )
