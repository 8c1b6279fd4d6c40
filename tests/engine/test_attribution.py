"""Who recorded an event: every event may carry `by`; its first record's reason then ends
`(by NAME)`, and an event without it leaves the trail exactly as before."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from engine.case import events as ev
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file

SH = "Asia/Shanghai"
DUE = date(2025, 3, 3)


def _run(cn_policy: CompiledPolicy) -> Run:
    run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="3000.00"), at(DUE, 12, tz=SH))
    run.until(at(DUE + timedelta(days=9), 12, tz=SH))
    return run


def test_each_human_event_names_who_recorded_it(cn_policy: CompiledPolicy) -> None:
    run = _run(cn_policy)
    when = DUE + timedelta(days=12)
    reasons = [
        run.event(e).records[0].reason
        for e in (
            ev.Payment(amount=Decimal("100.00"), currency="CNY", by="colin"),
            ev.Promise(amount=Decimal("600.00"), due_date=when, by="colin"),
            ev.Dispute(reason="not mine", by="olga"),
            ev.DisputeResolved(outcome="rejected", by="olga"),
            ev.AttitudeChange(attitude="cooperative", by="colin"),
            ev.Hardship(days=10, by="olga"),
            ev.Close(reason="written_off", by="ada"),
        )
    ]
    assert [r.rsplit(" (by ", 1)[1].removesuffix(")") for r in reasons] == [
        "colin",
        "colin",
        "olga",
        "olga",
        "colin",
        "olga",
        "ada",
    ]
    assert reasons[0] == "payment 100.00 (by colin)"
    assert reasons[1] == f"promise of 600.00 by {when} (by colin)"  # which "by" is whose


def test_without_by_the_trail_is_unchanged(cn_policy: CompiledPolicy) -> None:
    with_by, without = _run(cn_policy), _run(cn_policy)
    a = with_by.event(ev.Payment(amount=Decimal("100.00"), currency="CNY", by="colin"))
    b = without.event(ev.Payment(amount=Decimal("100.00"), currency="CNY"))
    assert [r.reason for r in b.records] == [
        r.reason.removesuffix(" (by colin)") for r in a.records
    ]
    assert b.records[0].reason == "payment 100.00"
    # only the event's own record is attributed, never what follows from it
    assert all("(by colin)" not in r.reason for r in a.records[1:])


def test_a_call_recorded_in_one_step_names_the_collector_on_each_event() -> None:
    events = ev.call_outcome(
        "C-1/1.negotiation/call", "connected", "cooperative", (Decimal("5"), DUE), by="colin"
    )
    assert [e.by for e in events] == ["colin", "colin", "colin"]


def test_an_event_recorded_before_by_existed_still_parses() -> None:
    old = {"kind": "hardship", "days": 5}
    assert ev.Hardship.model_validate(old).by == ""
    assert ev.Approve.model_validate({"kind": "approve", "action": "legal_referral"}).by == ""
