"""Continue-as-new loses nothing.

Two identical cases live side by side on the time-skipping server and get the same events at the
same moments: one never continues as new, the other continues as new every few dozen history
events (`Cases.open(..., max_history_events=40)`). At the end their status, their history of
decisions and their outbox must be the same (but for the case id), and the first must agree
with the core alone.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from engine.case.actions import Record
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import (
    TOLERANCE,
    Driver,
    align,
    assert_same_records,
    compare_with_core,
    local,
    make_case,
    record_history,
)
from workers.outbox import Outbox, OutboxRow
from workflows.client import Cases

PLAIN, SPLIT = "CAN-0", "CAN-1"


def _norm(text: str) -> str:
    return text.replace(SPLIT, PLAIN)


def _norm_record(r: Record) -> Record:
    return Record.model_validate_json(_norm(r.model_dump_json()))


def _norm_row(r: OutboxRow) -> tuple[object, ...]:
    return (
        _norm(r.action_id),
        r.kind,
        r.channel,
        r.template,
        _norm(r.recipient or ""),
        _norm(r.message or ""),
        r.detail,
    )


async def test_continue_as_new_loses_nothing(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    due = local(now, tz).date() + timedelta(days=2)
    plain, split = (make_case(cp, cid, due, "6000.00") for cid in (PLAIN, SPLIT))
    handles = [await cases.open(plain, cp), await cases.open(split, cp, max_history_events=40)]
    both = [PLAIN, SPLIT]

    async def each(method: str, *args: object) -> None:
        for cid in both:
            await getattr(drv, method)(cid, *args)

    await drv.run(both, 14, tz=tz)  # day 12, negotiation
    today = local(await drv.now(), tz).date()
    await each("promise", "1200.00", today + timedelta(days=3))
    await drv.run(both, 2, tz=tz)
    await each("pay", "1200.00", "CNY")  # kept
    await drv.run(both, 2, tz=tz)
    await each("dispute", "wrong amount")
    await drv.run(both, 4, tz=tz)
    await each("resolve_dispute", "rejected")
    await each("hardship", 10)
    await drv.run(both, 1000, tz=tz, until_stage="legal_referral")  # approvals on the way
    await drv.run(both, 3, tz=tz)
    st = await cases.status(PLAIN)
    assert st.stage == "legal_referral"
    await each("pay", st.balance, "CNY")
    results = [await cases.handle(cid).result() for cid in both]

    assert results[0].runs == 1
    assert results[1].runs > 5
    assert results[1].model_copy(update={"runs": 1, "case_id": PLAIN}) == results[0]
    statuses = [await cases.status(cid) for cid in both]
    assert _norm(statuses[1].model_dump_json()) == statuses[0].model_dump_json()
    histories = [await cases.history(cid) for cid in both]
    assert len(histories[0]) > 50
    assert_same_records([_norm_record(r) for r in histories[1]], histories[0])
    rows = [outbox.list(cid) for cid in both]
    assert [_norm_row(r) for r in rows[1]] == [_norm_row(r) for r in rows[0]]
    for a, b in zip(rows[0], rows[1], strict=True):
        assert abs(a.at - b.at) <= TOLERANCE
    assert drv.approvals[PLAIN] and [n for n, _ in drv.approvals[SPLIT]] == [
        n for n, _ in drv.approvals[PLAIN]
    ]
    await compare_with_core(drv, outbox, cp, plain)
    await compare_with_core(drv, outbox, cp, split)

    # the first run of the split case ended by continuing as new; record it and the last one
    first_run = tsenv.client.get_workflow_handle(
        handles[1].id, run_id=handles[1].first_execution_run_id
    )
    first = await first_run.fetch_history()
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    await record_history(first_run, "continue-as-new-first-run", cp)
    await record_history(cases.handle(SPLIT), "continue-as-new-last-run", cp)
