"""Honest money on the time-skipping server: a settlement paid closes the case `settled` and tells
the bureau; an overpayment is owed back (`refund_due`); a payment reference is applied once,
also when twenty arrive at the same time and after the payment closed the case."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.case.state import CaseFile
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import (
    Driver,
    align,
    compare_with_core,
    local,
    make_case,
    record_history,
)
from workers.outbox import Outbox
from workflows.client import Cases


async def _open(drv: Driver, cp: CompiledPolicy, case_id: str, dpd: int, amount: str) -> CaseFile:
    """Open a case at 02:00 local time, `dpd` days past its due date."""
    tz = cp.policy.timezone
    now = await align(drv.tsenv, tz)
    case = make_case(cp, case_id, local(now, tz).date() - timedelta(days=dpd), amount)
    await drv.cases.open(case, cp)
    return case


async def test_settlement_paid_closes_settled_and_tells_the_bureau(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Imported at day 35 (escalation, no notice on the way): the engine's notice, the report,
    then a settlement for 60% paid in two parts closes the case settled with a bureau update."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    case = await _open(drv, cp, "SET-1", dpd=35, amount="3000.00")
    cid = case.case_id
    await drv.run([cid], 1, tz=cp.policy.timezone)
    st = await cases.status(cid)
    assert st.stage == "escalation"
    r = await drv.send(cid, ev.Settle(amount=Decimal("1812.00")))  # 60% of 3020.00 (with the fee)
    assert r.holds == ["settlement"] and "waived once paid" in r.reasons[0]
    assert (await cases.status(cid)).settlement is not None
    await drv.pay(cid, "800.00", "CNY", ref="bank-1")
    r = await drv.pay(cid, "1012.00", "CNY", ref="bank-2")
    assert (r.stage, r.closed, r.balance) == ("settled", True, "0.00")
    result = await cases.handle(cid).result()
    assert (result.stage, result.paid) == ("settled", "1812.00")
    records, rows, _ = await compare_with_core(drv, outbox, cp, case)
    (report,) = [row for row in rows if row.kind == "bureau_report"]
    (update,) = [
        row for row in rows if row.kind == "bureau_update" and row.detail.get("status") == "settled"
    ]
    assert update.at >= report.at
    assert [r.outcome for r in records if r.kind == "settlement"] == ["agreed", "paid"]
    await record_history(cases.handle(cid), "settlement-consumer-credit-line", cp)


async def test_overpayment_is_owed_back(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """5,000.00 paid on 1,250.00: resolved at 0.00, 3,750.00 refund due in status and history."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    case = await _open(drv, cp, "OVER-1", dpd=5, amount="1250.00")
    r = await drv.pay(case.case_id, "5000.00", "CNY")
    assert (r.stage, r.balance) == ("resolved", "0.00")
    st = await cases.status(case.case_id)
    assert (st.balance, st.refund_due) == ("0.00", "3750.00")
    (over,) = [h for h in await cases.history(case.case_id) if h.outcome == "overpaid"]
    assert over.detail["refund_due"] == "3750.00"
    await compare_with_core(drv, outbox, cp, case)


async def test_same_reference_applied_once(
    tsenv: WorkflowEnvironment, cases: Cases, cn_policy: CompiledPolicy
) -> None:
    """The same ref twice, then twenty at once: one payment each; after the payment that closed
    the case, its retry is still acknowledged, not refused."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    case = await _open(drv, cp, "REF-1", dpd=5, amount="1000.00")
    cid = case.case_id
    first = await cases.send(
        cid, ev.Payment(amount=Decimal("100.00"), currency="CNY", ref="BANK-TX-42")
    )
    again = await cases.send(
        cid, ev.Payment(amount=Decimal("100.00"), currency="CNY", ref="BANK-TX-42")
    )
    assert (first.already_recorded, first.balance) == (False, "900.00")
    assert (again.already_recorded, again.balance) == (True, "900.00")

    results = await asyncio.gather(
        *(
            cases.send(cid, ev.Payment(amount=Decimal("1.00"), currency="CNY", ref="R"))
            for _ in range(20)
        )
    )
    assert sorted(r.already_recorded for r in results) == [False] + [True] * 19
    st = await cases.status(cid)
    assert (st.balance, st.paid) == ("899.00", "101.00")

    final = await cases.send(cid, ev.Payment(amount=Decimal("899.00"), currency="CNY", ref="FINAL"))
    assert final.closed
    await cases.handle(cid).result()
    retry = await cases.send(cid, ev.Payment(amount=Decimal("899.00"), currency="CNY", ref="FINAL"))
    assert (retry.already_recorded, retry.stage, retry.balance) == (True, "resolved", "0.00")
    assert (await cases.status(cid)).paid == "1000.00"
