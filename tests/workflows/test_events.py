"""Cases meeting events on the time-skipping server: payments, promises, disputes, hardship,
late intake, and bad updates. Each case is checked against the core alone (the oracle in
`helpers`) fed the same events at the moments the workflow took them, and against what the
event must mean for the debtor (no contact while a hold stands, resolution ends it)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.case.state import CaseFile
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import (
    Driver,
    Oracle,
    align,
    compare_with_core,
    local,
    make_case,
    record_history,
    stage_days,
)
from workers.channels import ChannelRouter, OutboxChannel
from workers.outbox import Outbox
from workers.worker import build_worker
from workflows.client import Cases


async def _open(
    drv: Driver, cp: CompiledPolicy, case_id: str, dpd: int, amount: str, **kw: str
) -> CaseFile:
    """Open a case at 02:00 local time, `dpd` days past its due date."""
    tz = cp.policy.timezone
    now = await align(drv.tsenv, tz)
    case = make_case(cp, case_id, local(now, tz).date() - timedelta(days=dpd), amount, **kw)
    await drv.cases.open(case, cp)
    return case


def _between(rows: list, start: datetime, end: datetime | None, kind: str = "contact") -> list:
    return [r for r in rows if r.kind == kind and r.at >= start and (end is None or r.at < end)]


async def test_payments_resolve_the_case(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A part payment lowers the balance and collection goes on; paying the rest in escalation
    resolves the case: no contact after it, the agency recalls it."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    case = await _open(drv, cp, "PAY-1", dpd=-2, amount="3000.00")
    await drv.run([case.case_id], 17, tz=tz)  # day 15, negotiation
    r = await drv.pay(case.case_id, "500.00", "CNY", ref="bank-1")
    assert (r.stage, r.closed, r.balance) == ("negotiation", False, "2500.00")
    await drv.run([case.case_id], 25, tz=tz)  # day 40, escalation, late fee added
    st = await cases.status(case.case_id)
    assert (st.stage, st.balance) == ("escalation", "2520.00")
    r = await drv.pay(case.case_id, st.balance, "CNY", ref="bank-2")
    assert (r.stage, r.closed, r.balance) == ("resolved", True, "0.00")
    result = await cases.handle(case.case_id).result()
    assert (result.stage, result.balance, result.paid, result.runs) == (
        "resolved",
        "0.00",
        "3020.00",
        1,
    )

    records, rows, _ = await compare_with_core(drv, outbox, cp, case)
    paid_at = drv.events[case.case_id][-1][0]
    assert _between(rows, paid_at, None) == []
    closing = {r.kind for r in rows if r.at >= paid_at}
    assert "agency_recall" in closing and closing <= {"agency_recall", "bureau_update"}
    assert [r.kind for r in records if r.at >= paid_at][-1] == "close"
    await record_history(cases.handle(case.case_id), "payments-consumer-credit-line", cp)


def test_close_actions_have_distinct_ids(cn_policy: CompiledPolicy, tmp_path: Path) -> None:
    """Closing a case that is with an agency and reported to the bureau must both recall it and
    tell the bureau: two actions, two ids, two outbox rows (the core and the outbox alone)."""
    cp = cn_policy
    case = make_case(cp, "IDS-1", date(2026, 3, 2), "3000.00")
    opened = datetime(2026, 2, 27, 18, 0, tzinfo=UTC)
    o = Oracle.run(cp, case, opened, [], opened + timedelta(days=40))
    assert o.state.agency_placed and o.state.bureau_reported
    paid_at = o.now + timedelta(hours=1)
    o = Oracle.run(
        cp, case, opened, [(paid_at, ev.Payment(amount=o.state.balance, currency="CNY"))]
    )
    closing = [a for a in o.actions if a.at == paid_at]
    assert sorted(a.kind for a in closing) == ["agency_recall", "bureau_update"]
    with Outbox(tmp_path / "outbox.db") as box:
        for a in closing:
            box.record(a)
        assert sorted(r.kind for r in box.list()) == ["agency_recall", "bureau_update"]


async def test_promises_kept_and_broken(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A kept promise releases the hold; two broken promises escalate the case early; while a
    promise stands nobody contacts the debtor."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    case = await _open(drv, cp, "PROM-1", dpd=9, amount="3000.00")
    cid = case.case_id

    async def today() -> datetime:
        return local(await drv.now(), tz)

    r = await drv.promise(cid, "600.00", (await today()).date() + timedelta(days=3))
    assert r.holds == ["promise"]
    await drv.run([cid], 2, tz=tz)
    r = await drv.pay(cid, "600.00", "CNY")
    assert "promise kept" in r.reasons and r.holds == []
    await drv.run([cid], 2, tz=tz)
    for _ in range(2):
        r = await drv.promise(cid, "600.00", (await today()).date() + timedelta(days=2))
        await drv.run([cid], 5, tz=tz)
    st = await cases.status(cid)
    assert (st.broken_promises, st.stage, st.balance) == (2, "escalation", "2400.00")

    records, rows, _ = await compare_with_core(drv, outbox, cp, case, end=await drv.now())
    assert [r.outcome for r in records if r.kind == "promise"] == [
        "made",
        "kept",
        "made",
        "broken",
        "made",
        "broken",
    ]
    # escalated by the rule on broken promises, long before day 31
    (moved,) = [r for r in records if r.kind == "stage" and r.detail["to"] == "escalation"]
    assert moved.reason.startswith("negotiation.promises_broken")
    assert stage_days(records, case.due_date, tz)[-1][1] < 31
    # no contact while a promise stood: from each promise to its release
    holds = [r.at for r in records if r.kind == "promise" and r.outcome == "made"]
    ends = [r.at for r in records if r.kind == "release" and r.detail.get("hold") == "promise"]
    assert len(holds) == len(ends) == 3
    for start, end in zip(holds, ends, strict=True):
        assert _between(rows, start, end) == []
    # a settlement for less, paid, is the only way to close settled
    r = await drv.send(cid, ev.Settle(amount=Decimal("1440.00")))
    assert r.holds == ["settlement"]
    await drv.pay(cid, "1440.00", "CNY")
    assert (await cases.handle(cid).result()).stage == "settled"
    await record_history(cases.handle(cid), "promises-consumer-credit-line", cp)


async def test_dispute_holds_contacts_until_resolved(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, us_policy: CompiledPolicy
) -> None:
    """A dispute stops every contact and stage move until it is resolved; rejected, collection
    resumes after the policy's pause, on a clock that stood still meanwhile. Upheld, it closes."""
    cp, drv = us_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    case = await _open(drv, cp, "DISP-1", dpd=2, amount="1500.00")
    other = make_case(cp, "DISP-2", case.due_date, "1500.00")
    await cases.open(other, cp)
    cid = case.case_id
    for c in (cid, other.case_id):
        r = await drv.dispute(c, "never received the goods")
        assert r.holds == ["dispute"]
    st = await cases.status(cid)
    assert st.next_action is None and st.holds == ["dispute"]
    await drv.run([cid, other.case_id], 20, tz=tz)  # calendar day 22: would be negotiation
    st = await cases.status(cid)
    assert (st.stage, st.holds, st.clock_day) == ("reminder", ["dispute"], 2)
    r = await drv.resolve_dispute(cid, "rejected")
    assert r.holds == ["pause"]  # dispute_rejected: pause 2 days
    r = await drv.resolve_dispute(other.case_id, "upheld")
    assert (r.closed, r.stage) == (True, "closed")
    await drv.run([cid], 12, tz=tz)

    records, rows, _ = await compare_with_core(drv, outbox, cp, case, end=await drv.now())
    disputed, resolved = (t for t, _ in drv.events[cid])
    assert _between(rows, disputed, resolved) == []
    (paused,) = [r.at for r in records if r.kind == "release" and r.detail.get("hold") == "pause"]
    assert _between(rows, resolved, paused) == []
    assert _between(rows, paused, None) != []  # collection resumed
    # negotiation on clock day 10: calendar day 10 + 20 days disputed + 2 days paused
    assert stage_days(records, case.due_date, tz) == [("negotiation", 32)]
    assert (await cases.handle(other.case_id).result()).stage == "closed"
    await compare_with_core(drv, outbox, cp, other)
    await record_history(cases.handle(other.case_id), "dispute-upheld-instalment-loan", cp)


async def test_hardship_pauses_then_resumes(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Hardship pauses collection for its length, then it resumes where it stopped."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    case = await _open(drv, cp, "HARD-1", dpd=9, amount="3000.00")
    cid = case.case_id
    r = await drv.hardship(cid, 30)
    assert r.holds == ["hardship"]
    await drv.run([cid], 29, tz=tz)
    st = await cases.status(cid)
    assert (st.stage, st.holds, st.clock_day) == ("negotiation", ["hardship"], 9)
    await drv.run([cid], 10, tz=tz)
    st = await cases.status(cid)
    assert (st.stage, st.holds) == ("negotiation", [])

    records, rows, _ = await compare_with_core(drv, outbox, cp, case, end=await drv.now())
    (start,) = [t for t, _ in drv.events[cid]]
    (end,) = [r for r in records if r.kind == "release" and r.detail.get("hold") == "hardship"]
    assert end.reason == "hardship ended" and end.at == start + timedelta(days=30)
    assert _between(rows, start, end.at) == []
    resumed = _between(rows, end.at, None)
    assert resumed and all(r.action_id.split("/")[1] == "0.negotiation" for r in resumed)
    await cases.send(cid, ev.Close(reason="bankrupt"))
    assert (await cases.handle(cid).result()).stage == "closed"
    await record_history(cases.handle(cid), "hardship-consumer-credit-line", cp)


LATE = {
    # policy: (stage it starts in, why, approvals it then waits for, stage after approving)
    "consumer-credit-line": (
        "escalation",
        "(stages.escalation.enter_at_day 31); entering legal_referral needs approval of legal_referral",
        ["legal_referral"],
        "legal_referral",
    ),
    "instalment-loan": (
        "escalation",
        "(stages.escalation.enter_at_day 45)",
        ["agency_placement"],
        "escalation",
    ),
}


@pytest.mark.parametrize("policy_name", sorted(LATE))
async def test_opened_at_95_days_past_due(
    policy_name: str,
    tsenv: WorkflowEnvironment,
    cases: Cases,
    outbox: Outbox,
    cn_policy: CompiledPolicy,
    us_policy: CompiledPolicy,
) -> None:
    """A case imported 95 days late starts in the stage its age calls for, short of a stage
    only a human may let it into, and never replays the contacts of the stages it skipped."""
    cp = cn_policy if policy_name == cn_policy.policy.name else us_policy
    start, why, pending, then = LATE[policy_name]
    drv = Driver(tsenv, cases)
    case = await _open(drv, cp, f"LATE-{policy_name}", dpd=95, amount="3000.00")
    records = await cases.history(case.case_id)
    assert records[0].reason == f"opened at day 95: starts in {start} {why}"
    st = await cases.status(case.case_id)
    assert st.stage == start and set(st.approvals_pending) <= set(pending)
    await drv.run([case.case_id], 10, tz=cp.policy.timezone)
    assert [name for name, _ in drv.approvals[case.case_id]] == pending
    st = await cases.status(case.case_id)
    assert (st.stage, st.approvals_pending) == (then, [])
    records, rows, _ = await compare_with_core(drv, outbox, cp, case, end=await drv.now())
    assert {r.action_id.split("/")[1] for r in rows} <= {f"0.{start}", f"1.{then}"}
    assert {r.stage for r in records if r.kind in ("contact", "deferred", "suppressed")} <= {
        start,
        then,
    }


async def test_bad_updates_are_rejected_and_harmless(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Each bad update is refused with the validator's message; the case's history does not
    change and later events still work."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    case = await _open(drv, cp, "BAD-1", dpd=10, amount="1500.00")
    cid = case.case_id
    before = await cases.history(cid)
    status = await cases.status(cid)
    today = local(await drv.now(), tz).date()
    bad = [
        (
            cases.send(cid, ev.Payment(amount=Decimal("0"), currency="CNY")),
            "payment must be positive, not 0.00",
        ),
        (
            cases.send(cid, ev.Payment(amount=Decimal("-5"), currency="CNY")),
            "payment must be positive, not -5.00",
        ),
        (
            cases.send(cid, ev.Payment(amount=Decimal("100"), currency="USD")),
            "payment in USD but the case is in CNY",
        ),
        (cases.send(cid, ev.Payment(amount=Decimal("1.234"), currency="CNY")), None),
        (
            cases.send(cid, ev.Promise(amount=Decimal("500"), due_date=today - timedelta(days=1))),
            f"promise date {today - timedelta(days=1)} is in the past (today is {today})",
        ),
        (
            cases.send(cid, ev.Promise(amount=Decimal("0"), due_date=today + timedelta(days=1))),
            "promise must be positive, not 0.00",
        ),
        (
            cases.send(cid, ev.Approve(action="legal_referral")),
            "no approval of 'legal_referral' is awaited (waiting for: nothing)",
        ),
        (
            cases.send(cid, ev.Approve(action="launch_rockets")),
            "no approval of 'launch_rockets' is awaited (waiting for: nothing)",
        ),
        (cases.send(cid, ev.DisputeResolved(outcome="rejected")), "the case is not disputed"),
        (cases.send(cid, ev.Hardship(days=0)), "hardship days must be 1..60, not 0"),
        (cases.send(cid, ev.Hardship(days=61)), "hardship days must be 1..60, not 61"),
    ]
    for call, message in bad:
        with pytest.raises(EventRejected) as err:
            await call
        if message is not None:
            assert str(err.value) == message
        else:
            assert str(err.value).startswith("payment:")
    assert await cases.history(cid) == before
    after = await cases.status(cid)
    assert after.model_dump(exclude={"next_action"}) == status.model_dump(exclude={"next_action"})
    history = await cases.handle(cid).fetch_history()
    assert not [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]

    # the case goes on: a good payment, then the same bad one again, then a close
    r = await drv.pay(cid, "100.00", "CNY")
    assert r.balance == "1400.00"
    with pytest.raises(EventRejected, match="payment in USD"):
        await cases.send(cid, ev.Payment(amount=Decimal("100"), currency="USD"))
    await drv.run([cid], 3, tz=tz)
    await drv.pay(cid, "1400.00", "CNY")
    result = await cases.handle(cid).result()
    assert (result.stage, result.paid) == ("resolved", "1500.00")
    await compare_with_core(drv, outbox, cp, case)
    # a closed case refuses events as closed, not as unknown
    with pytest.raises(EventRejected, match=r"case BAD-1 is closed \(resolved\)"):
        await cases.send(cid, ev.Payment(amount=Decimal("1"), currency="CNY"))


async def test_an_event_sent_right_after_the_start_is_taken(
    tsenv: WorkflowEnvironment, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A bank feed may pay a case the moment it is opened: the payment can reach the workflow in
    its very first activation, with the start, before the run has begun. It is still validated
    and applied. (No worker polls until both wait on the server, so they arrive together.)"""
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    queue = f"tq-{uuid.uuid4()}"
    early = Cases(tsenv.client, task_queue=queue)
    case = make_case(cp, "EARLY-1", local(now, tz).date() - timedelta(days=3), "800.00")
    await early.open(case, cp)
    payment = asyncio.create_task(
        early.send(case.case_id, ev.Payment(amount=Decimal("100.00"), currency="CNY", ref="b-1"))
    )
    await asyncio.sleep(0.5)  # the update request reaches the server before any worker polls
    assert not payment.done()
    async with build_worker(
        tsenv.client, outbox, ChannelRouter(OutboxChannel(outbox)), task_queue=queue
    ):
        r = await asyncio.wait_for(payment, 60)
        assert (r.stage, r.balance) == ("reminder", "700.00")
        assert (await early.status(case.case_id)).balance == "700.00"
        await early.send(case.case_id, ev.Close(reason="written_off"))
        await early.handle(case.case_id).result()
