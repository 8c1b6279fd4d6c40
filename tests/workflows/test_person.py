"""Two cases of one debtor on the time-skipping server: their contacts share the person's ledger
(the `debtor-<id>` workflow the contact activity reaches by update-with-start)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import align, local, make_case
from workers.outbox import Outbox
from workflows.client import Cases


async def test_two_cases_of_one_debtor_due_at_one_moment(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """Both cases plan the due-day SMS at 10:00: one goes, the other is deferred with the
    per-person rule and goes an hour later; `debtor status` shows both cases and contacts."""
    cp = cn_policy
    tz = cp.policy.timezone
    opened = await align(tsenv, tz)
    due = local(opened, tz).date()
    first = make_case(cp, "P-1", due, "1500.00")
    second = make_case(cp, "P-2", due, "8000.00")
    second = second.model_copy(update={"debtor": first.debtor})
    await cases.open(first, cp)
    await cases.open(second, cp)

    await tsenv.sleep(timedelta(hours=8, minutes=30))  # 10:30 local
    rows = outbox.list()
    assert len(rows) == 1 and rows[0].channel == "sms"
    sent = rows[0].case_id
    waiting = "P-2" if sent == "P-1" else "P-1"
    history = await cases.history(waiting)
    deferred = [r for r in history if r.kind == "deferred"]
    assert [r.detail["guardrail"] for r in deferred] == ["person.spacing.sms"]
    assert not [r for r in history if r.kind == "contact"]  # taken back: it did not happen
    assert (await cases.status(waiting)).contacts == 0

    await tsenv.sleep(timedelta(hours=1))  # 11:30 local: the hour of spacing has passed
    rows = outbox.list()
    assert sorted(r.case_id for r in rows) == ["P-1", "P-2"]
    assert rows[1].at - rows[0].at == timedelta(hours=1)

    person = await cases.debtor(first.debtor.id)
    assert person.cases == ["P-1", "P-2"]
    assert [c.case_id for c in person.contacts] == [sent, waiting]
    assert person.next_allowed["sms"] is not None

    st = await cases.status(waiting)
    assert st.debtor_id == first.debtor.id and st.contacts == 1
    await cases.send("P-1", ev.Close(reason="written_off"))
