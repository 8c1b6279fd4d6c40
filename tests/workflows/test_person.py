"""Two cases of one debtor on the time-skipping server: their contacts share the person's ledger
(the `debtor-<id>` workflow the contact activity reaches by update-with-start)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus
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


async def test_cease_before_any_contact_holds_for_every_account(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A cease asked on one account before the person was ever contacted starts their ledger
    (signal-with-start): the other account's due-day SMS is refused for the person."""
    cp = cn_policy
    opened = await align(tsenv, cp.policy.timezone)
    due = local(opened, cp.policy.timezone).date()
    first = make_case(cp, "Q-1", due, "1500.00")
    second = make_case(cp, "Q-2", due, "900.00").model_copy(update={"debtor": first.debtor})
    await cases.open(first, cp)
    await cases.open(second, cp)
    await cases.send("Q-1", ev.Cease())

    await tsenv.sleep(timedelta(hours=9))  # 11:00 local: past the due-day SMS
    assert [r for r in outbox.list() if r.case_id == "Q-2"] == []
    skipped = [r for r in await cases.history("Q-2") if r.kind == "skipped"]
    assert skipped and skipped[0].detail["guardrail"] == "person.cease_communication"
    person = await cases.debtor(first.debtor.id)
    assert person.ceased and not person.ended
    # The case told the ledger itself, by an activity, before the update answered: no client
    # dying after the update can leave the person's other accounts untold.
    history = await cases.handle("Q-1").fetch_history()
    told = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "tell_person" in told


async def test_one_accounts_refusal_of_a_channel_is_the_persons(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A case file that refuses SMS refuses it for the person's other account (which says
    nothing of SMS); an opt-out of e-mail on the other account reaches the first one."""
    cp = cn_policy
    opened = await align(tsenv, cp.policy.timezone)
    due = local(opened, cp.policy.timezone).date()
    first = make_case(cp, "R-1", due, "1500.00").model_copy(update={"consent": {"sms": False}})
    second = make_case(cp, "R-2", due, "900.00").model_copy(update={"debtor": first.debtor})
    await cases.open(first, cp)
    await cases.open(second, cp)
    await cases.send("R-2", ev.Cease(channel="email"))

    await tsenv.sleep(timedelta(hours=9))  # 11:00 local: past the due-day SMS
    assert [r for r in outbox.list() if r.channel == "sms"] == []
    skipped = [r for r in await cases.history("R-2") if r.kind == "skipped"]
    assert [r.detail["guardrail"] for r in skipped][:1] == ["person.no_consent.sms"]
    person = await cases.debtor(first.debtor.id)
    assert sorted(person.refused) == ["email", "sms"]
    opt_out = [r for r in await cases.history("R-2") if r.detail.get("hold") == "opt_out"]
    assert opt_out and opt_out[0].reason == "opt-out: no more email"


async def test_an_idle_ledger_ends_and_the_next_contact_starts_a_new_one(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    """A ledger idle for longer than its rules look back stays while a case of the person still
    runs (quiet, under a dispute), ends once none does, and a later case of the person is
    granted its contact by a fresh ledger."""
    cp = cn_policy
    tz = cp.policy.timezone
    opened = await align(tsenv, tz)
    due = local(opened, tz).date()
    first = make_case(cp, "I-1", due, "1500.00")
    quiet = make_case(cp, "I-Q", due, "300.00").model_copy(update={"debtor": first.debtor})
    await cases.open(first, cp)
    await cases.open(quiet, cp)
    await tsenv.sleep(timedelta(hours=10))  # both due-day SMS went, an hour apart
    assert sorted(r.case_id for r in outbox.list()) == ["I-1", "I-Q"]
    await cases.send("I-1", ev.Payment(amount=first.amount_due, currency=cp.policy.currency))
    await cases.send("I-Q", ev.Dispute(reason="not mine"))
    handle = cases.client.get_workflow_handle(f"debtor-{first.debtor.id}")

    await tsenv.sleep(timedelta(days=40))  # idle well past every window: I-Q still runs
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    person = await cases.debtor(first.debtor.id)
    assert person.cases == ["I-Q"] and not person.ended  # the closed case left the list

    await cases.send("I-Q", ev.Close(reason="written_off"))
    await tsenv.sleep(timedelta(days=40))
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (await cases.debtor(first.debtor.id)).ended

    due2 = local(await tsenv.get_current_time(), tz).date() + timedelta(days=1)
    second = make_case(cp, "I-2", due2, "700.00").model_copy(update={"debtor": first.debtor})
    await cases.open(second, cp)
    await tsenv.sleep(timedelta(days=12))  # past any run of public holidays after its due day
    assert "I-2" in [r.case_id for r in outbox.list()]
    person = await cases.debtor(first.debtor.id)
    assert not person.ended and person.cases == ["I-2"]
    await cases.send("I-2", ev.Close(reason="written_off"))
