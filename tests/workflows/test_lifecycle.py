"""A case that never pays walks every stage of its policy on the time-skipping server.

For each shipped policy, a case large enough for every step (field visit, agency placement,
legal referral) is opened before its due date and left unpaid; the test approves what the
policy waits for the night after it asks. The workflow must then do exactly what the core alone
does for the same case (the oracle in `helpers`): same decisions with the same reasons, same
outbox, every contact inside the contact window, every stage entered on the policy's day.

The history of each run is measured (events and bytes, printed with ``-s``) and recorded for
the replay test with ``OVERDUE_RECORD_HISTORIES=1``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.policy.compiled import CompiledPolicy
from engine.policy.conditions import evaluate
from engine.policy.model import ACTIVE_STAGES
from tests.workflows.helpers import (
    Driver,
    Oracle,
    align,
    assert_in_window,
    assert_same_outbox,
    assert_same_records,
    assert_same_status,
    local,
    make_case,
    record_history,
    stage_days,
)
from workers.outbox import Outbox
from workflows.client import Cases


def planned_contacts(
    cp: CompiledPolicy, walked: list[tuple[str, int]], facts: dict[str, object]
) -> set[str]:
    """Every occurrence of every stage's contact plan between its entry and exit day."""
    out: set[str] = set()
    for (stage, start), (_, end) in itertools.pairwise(walked):
        spec = cp.policy.stages[stage]  # type: ignore[index]
        for item in spec.contacts:
            if not evaluate(item.when, facts):
                continue
            for k, day in enumerate(item.days()):
                if start <= day < end:
                    out.add(f"{stage}.{item.key if k == 0 else f'{item.key}+{k}'}")
    return out


CASES = {
    # policy, amount, expected (stage, day) walk, approvals in order, contacts suppressed for good
    "consumer-credit-line": (
        "6000.00",
        [
            ("reminder", -6),
            ("negotiation", 8),
            ("escalation", 31),
            ("legal_referral", 91),
            ("written_off", 456),
        ],
        [("field_visit", 46), ("legal_referral", 91)],
        set(),
    ),
    "instalment-loan": (
        "12000.00",
        [
            ("reminder", -6),
            ("negotiation", 10),
            ("escalation", 45),
            ("legal_referral", 120),
            ("written_off", 660),
        ],
        [("agency_placement", 45), ("field_visit", 71), ("legal_referral", 120)],
        {"escalation.locate"},
    ),
}


@pytest.mark.parametrize("policy_name", sorted(CASES))
async def test_never_pays_walks_every_stage(
    policy_name: str,
    tsenv: WorkflowEnvironment,
    cases: Cases,
    outbox: Outbox,
    cn_policy: CompiledPolicy,
    us_policy: CompiledPolicy,
) -> None:
    cp = cn_policy if policy_name == cn_policy.policy.name else us_policy
    amount, walk, approvals, suppressed = CASES[policy_name]
    tz = cp.policy.timezone
    drv = Driver(tsenv, cases)
    opened = await align(tsenv, tz)
    # The walk above assumes no public holiday pushes a reminder past the stage's end (the suite's
    # clock lands wherever the tests before left it): start after any holiday of the first weeks.
    while any(local(opened, tz).date() + timedelta(days=d) in cp.rules.days_off for d in range(17)):
        await tsenv.sleep(timedelta(days=1))
        opened = await align(tsenv, tz)
    due = local(opened, tz).date() + timedelta(days=6)
    case = make_case(cp, f"NP-{policy_name}", due, amount)
    handle = await cases.open(case, cp)

    # daily until legal referral (approving what it waits for), then let it run out
    await drv.run([case.case_id], 1000, tz=tz, until_stage="legal_referral")
    result = await handle.result()
    assert (result.stage, result.paid, result.runs) == ("written_off", "0.00", 1)

    records = await cases.history(case.case_id)
    rows = outbox.list(case.case_id)
    status = await cases.status(case.case_id)
    oracle = Oracle.run(cp, case, records[0].at, drv.events[case.case_id])
    assert_same_records(records, oracle.records)
    assert_same_outbox(rows, oracle.actions)
    assert_same_status(status, oracle.status())

    # every stage on the policy's day, the approvals the policy asks for, the night after
    assert [s for s, _ in walk[1:]] == [*ACTIVE_STAGES[1:], "written_off"]
    assert [
        ("reminder", (local(records[0].at, tz).date() - due).days),
        *stage_days(records, due, tz),
    ] == walk
    got_approvals = [
        (name, (local(at, tz).date() - due).days) for name, at in drv.approvals[case.case_id]
    ]
    assert got_approvals == approvals

    # exactly the planned contacts (or refused for good by a guardrail, or skipped once a later
    # occurrence of the same item fell due: never a catch-up burst), each once, in the window
    sent = {r.reason for r in records if r.kind == "contact"}
    refused = {r.reason for r in records if r.kind == "suppressed"}
    skipped = {r.reason for r in records if r.kind == "skipped"}
    assert refused == suppressed
    assert not skipped & sent
    facts = {"variant": status.variant, "balance": case.amount_due}
    assert sent | refused | skipped == planned_contacts(cp, walk, facts)
    assert len(sent) == len([r for r in records if r.kind == "contact"]) == status.contacts
    assert assert_in_window(rows, cp, tz) == len(sent)
    assert outbox.duplicates() == 0

    size = await record_history(handle, f"never-pays-{policy_name}", cp)
    upserts = sum(
        e.HasField("upsert_workflow_search_attributes_event_attributes")
        for e in (await handle.fetch_history()).events
    )
    print(
        f"\n{policy_name} never pays, {walk[-1][1] - walk[0][1]} days: {len(rows)} outbox rows, "
        f"{len(records)} records, {upserts} search-attribute upserts; history {size.events} events, "
        f"{size.proto_bytes} bytes (protobuf), {size.json_bytes} bytes (JSON)"
    )
    # one event-sourced decision per wake-up, no polling: far below Temporal's continue-as-new
    # suggestion (thousands of events), so a full lifecycle needs no continue-as-new
    assert size.events < 1000
