"""Opening cases (a case is opened once, ever) and the search attributes that index them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.errors import OverdueError
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import Driver, align, local, make_case, record_history
from workers.outbox import Outbox
from workflows import search_attributes as sa
from workflows.client import CaseAlreadyOpen, CaseNotFound, Cases, CaseSummary


async def test_a_case_opens_once(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A second open of the same case id is refused and starts nothing, even with different
    content, even in bulk, even after the case closed. An id never opened is not found."""
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "DUP-1", local(now, tz).date() - timedelta(days=2), "1500.00")
    handle = await cases.open(case, cp)
    first_run = handle.first_execution_run_id
    assert first_run

    with pytest.raises(CaseAlreadyOpen, match="case DUP-1 is already open"):
        await cases.open(case, cp)
    with pytest.raises(CaseAlreadyOpen):
        await cases.open(case.model_copy(update={"amount_due": Decimal("99.00")}), cp)
    other = make_case(cp, "DUP-2", case.due_date, "800.00")
    counts = await cases.open_many([(other, cp), (case, cp), (other, cp)], concurrency=1)
    assert counts == {"opened": 1, "already_open": 2}

    desc = await cases.handle("DUP-1").describe()
    assert (desc.run_id, desc.status) == (first_run, WorkflowExecutionStatus.RUNNING)
    st = await cases.status("DUP-1")
    assert (st.amount_due, st.balance) == ("1500.00", "1500.00")
    history = await cases.handle("DUP-1").fetch_history()
    assert (
        sum(e.HasField("workflow_execution_started_event_attributes") for e in history.events) == 1
    )

    with pytest.raises(CaseNotFound, match="no case DUP-404"):
        await cases.send("DUP-404", ev.Payment(amount=Decimal("1"), currency="CNY"))
    with pytest.raises(CaseNotFound, match="no case DUP-404"):
        await cases.status("DUP-404")

    await cases.send("DUP-1", ev.Close(reason="written_off"))
    assert (await handle.result()).stage == "written_off"
    with pytest.raises(CaseAlreadyOpen):
        await cases.open(case, cp)
    desc = await cases.handle("DUP-1").describe()
    assert (desc.run_id, desc.status) == (first_run, WorkflowExecutionStatus.COMPLETED)


async def test_search_attributes_follow_the_case(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Stage, segment, amount, policy, hold and due date are indexed and kept current.

    The time-skipping server has no visibility store (ListWorkflowExecutions is unimplemented),
    so `Cases.list` is only checked to fail with a clear message there; the values the workflow
    upserts are read back through describe.
    """
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "SA-1", local(now, tz).date() - timedelta(days=6), "2500.00")
    await cases.open(case, cp)
    await cases.status(case.case_id)  # the first workflow task has run

    async def attrs() -> dict[str, object]:
        desc = await cases.handle(case.case_id).describe()
        return {k.name: desc.typed_search_attributes.get(k) for k in sa.ALL_KEYS}

    assert await attrs() == {
        "OverdueStage": "reminder",
        "OverdueSegment": "mild-large",
        "OverdueAmountDue": 2500.0,
        "OverduePolicy": "consumer-credit-line",
        "OverduePolicyVersion": 2,
        "OverdueOnHold": False,
        "OverdueSince": datetime.combine(case.due_date, datetime.min.time(), tzinfo=UTC),
        "OverdueAwaiting": None,  # nothing awaited: left unset rather than upserted empty
        "OverdueVariant": "",
        "OverduePaid": 0.0,
        "OverduePromisesKept": 0,
        "OverduePromisesBroken": 0,
        "OverdueDeferredBy": None,
        "OverdueCallSince": None,
    }
    await drv.dispute(case.case_id)
    assert (await attrs())["OverdueOnHold"] is True
    await drv.resolve_dispute(case.case_id, "rejected")
    assert (await attrs())["OverdueOnHold"] is False
    await drv.run([case.case_id], 3, tz=tz)
    await drv.pay(case.case_id, "600.00", "CNY")
    got = await attrs()
    assert (got["OverdueStage"], got["OverdueAmountDue"], got["OverdueSegment"]) == (
        "negotiation",
        1900.0,
        "mild-small",
    )

    # every upsert changed something: no event for a value that stayed the same
    history = await cases.handle(case.case_id).fetch_history()
    upserts = [
        e
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    assert 1 < len(upserts) <= 8

    try:
        listed: list[CaseSummary] = [s async for s in cases.list(stage="negotiation")]
    except OverdueError as e:
        assert "unimplemented" in str(e)
    else:  # a server with visibility (not the time-skipping one today)
        assert [s.case_id for s in listed] == [case.case_id]


async def test_case_facts_are_indexed(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Paid, promises kept and broken, the guardrails that deferred a contact and the call
    waiting for its outcome are indexed (read back through describe: the time-skipping server
    cannot list; the console's tests list `OverdueAwaiting = 'call'` on the dev server)."""
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    cid = "SA-FACTS"
    await cases.open(make_case(cp, cid, local(now, tz).date() - timedelta(days=9), "3000.00"), cp)
    await cases.status(cid)  # the first workflow task has run

    async def attrs() -> dict[str, object]:
        desc = await cases.handle(cid).describe()
        return {k.name: desc.typed_search_attributes.get(k) for k in sa.ALL_KEYS}

    got = await attrs()
    assert {k: got[k] for k in list(got)[-6:]} == {
        "OverdueVariant": "",
        "OverduePaid": 0.0,
        "OverduePromisesKept": 0,
        "OverduePromisesBroken": 0,
        "OverdueDeferredBy": None,  # unset, like an empty OverdueAwaiting
        "OverdueCallSince": None,
    }

    # day 9's sms goes out; the debtor's ledger (another case of theirs) takes it back
    await drv.run([cid], 1, tz=tz)
    (sms,) = [r for r in await cases.history(cid) if r.kind == "contact"]
    until = await drv.now() + timedelta(hours=12)
    guardrail = "person.cap.sms.3_per_7d"
    await drv.send(
        cid, ev.ContactDeferred(action_id=str(sms.action_id), until=until, guardrail=guardrail)
    )
    assert (await attrs())["OverdueDeferredBy"] == [guardrail]

    # the next night the call made in the day still has no outcome: the case awaits it
    await drv.run([cid], 1, tz=tz)
    (call,) = [r for r in await cases.history(cid) if r.kind == "contact" and r.channel == "call"]
    got = await attrs()
    assert (got["OverdueAwaiting"], got["OverdueCallSince"]) == (["call"], call.at)
    await drv.send(cid, ev.ContactOutcome(action_id=str(call.action_id), outcome="unanswered"))
    got = await attrs()  # no call open: awaiting nothing; the time is left as it was
    assert (got["OverdueAwaiting"], got["OverdueCallSince"]) == ([], call.at)

    today = local(await drv.now(), tz).date()
    await drv.promise(cid, "600.00", today + timedelta(days=3))
    await drv.pay(cid, "600.00", "CNY")
    await drv.promise(cid, "600.00", today + timedelta(days=2))
    await drv.run([cid], 4, tz=tz)
    got = await attrs()
    assert (got["OverduePaid"], got["OverduePromisesKept"], got["OverduePromisesBroken"]) == (
        600.0,
        1,
        1,
    )
    deferred_by = got["OverdueDeferredBy"]
    assert isinstance(deferred_by, list) and guardrail in deferred_by
    assert deferred_by == sorted(set(deferred_by))
    # A new case indexes its facts by the flag its client set, spending no patch marker.
    history = await cases.handle(cid).fetch_history()
    assert not [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    await record_history(cases.handle(cid), "facts-consumer-credit-line", cp)
