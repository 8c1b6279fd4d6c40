"""Denied approvals and complaints: a denial is not asked again in its stage and the stage's
other rules go on; a complaint is recorded without its words, answered by a deadline the policy
sets, and holds collection only when the policy says so."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.case import events as ev
from engine.decision.decide import EventRejected, decide
from engine.policy.compiled import CompiledPolicy, policy_hash
from engine.policy.model import ComplaintRules
from tests.engine.driver import Run, at, case_file, inline_policy

SH = "Asia/Shanghai"
NY = "America/New_York"
DUE = date(2025, 3, 3)


def _awaiting_legal(cn_policy: CompiledPolicy) -> Run:
    """A large CN case run until escalation asks for the legal-referral approval."""
    run = Run.open(
        cn_policy,
        case_file(cn_policy, due=DUE, amount="3000.00", locale="zh-CN"),
        at(DUE, 12, tz=SH),
    )
    run.until(at(DUE + timedelta(days=95), 12, tz=SH))
    assert run.state.approvals_pending == ["legal_referral"]
    return run


class TestDeny:
    """A human refuses a step the policy waits for."""

    def test_denied_referral_is_not_asked_again_and_other_exits_apply(
        self, cn_policy: CompiledPolicy
    ) -> None:
        run = _awaiting_legal(cn_policy)
        run.event(ev.Deny(action="legal_referral", reason="debtor in hospital", by="mona"))
        assert run.state.approvals_pending == [] and run.state.approvals_denied == [
            "legal_referral"
        ]
        assert (
            run.kinds("approval")[-1].reason == "denied legal_referral by mona: debtor in hospital"
        )
        asked = len([r for r in run.kinds("approval") if "waiting for approval" in r.reason])
        run.until(at(DUE + timedelta(days=110), 12, tz=SH))
        assert run.state.stage == "escalation" and run.state.approvals_pending == []
        assert (
            len([r for r in run.kinds("approval") if "waiting for approval" in r.reason]) == asked
        )

    def test_deny_what_is_not_awaited_is_rejected_and_changes_nothing(
        self, cn_policy: CompiledPolicy
    ) -> None:
        run = _awaiting_legal(cn_policy)
        before = run.state.model_dump()
        with pytest.raises(EventRejected, match="no approval of 'field_visit' is awaited"):
            decide(cn_policy, run.state, ev.Deny(action="field_visit", reason="no"), run.now)
        assert run.state.model_dump() == before

    def test_a_denial_needs_a_reason(self) -> None:
        with pytest.raises(ValueError, match="reason"):
            ev.Deny(action="legal_referral", reason="")


class TestComplaints:
    """Filed, counted, answered."""

    def test_without_a_section_it_is_answered_in_15_days_and_holds_nothing(
        self, us_policy: CompiledPolicy
    ) -> None:
        run = Run.open(us_policy, case_file(us_policy, due=DUE), at(DUE, 12, tz=NY))
        d = run.event(
            ev.Complaint(category="collector", text="The agent shouted at me, Lee", by="olga"),
            at(DUE + timedelta(days=5), 12, tz=NY),
        )
        (c,) = run.state.complaints
        assert (c.id, c.category, c.respond_by, c.open) == (
            "complaint-1",
            "collector",
            DUE + timedelta(days=20),
            True,
        )
        assert not run.state.holds
        (rec,) = [r for r in d.records if r.kind == "complaint"]
        assert (
            "shouted" not in rec.reason and "Lee" not in rec.reason
        )  # the debtor's words stay out
        assert (
            rec.reason
            == f"complaint-1 about collector by phone: answer by {DUE + timedelta(days=20)} (recorded by olga)"
        )
        run.event(ev.ComplaintResolved(outcome="rejected", by="olga"))
        assert run.state.complaints[0].outcome == "rejected" and not run.state.complaints[0].open
        with pytest.raises(EventRejected, match="no complaint is open"):
            decide(us_policy, run.state, ev.ComplaintResolved(outcome="upheld"), run.now)

    def test_a_holding_policy_stops_collection_until_answered(self) -> None:
        cp = inline_policy(
            "US",
            complaints={"respond_within_days": 5, "hold": True},
            stages={
                "reminder": {
                    "contacts": [
                        {"day": d, "channel": "sms", "template": "t"} for d in range(1, 30)
                    ]
                }
            },
        )
        run = Run.open(cp, case_file(cp, due=DUE), at(DUE, 12, tz=NY))
        filed = at(DUE + timedelta(days=3), 12, tz=NY)
        run.event(ev.Complaint(category="contact", text="too many texts", channel="web"), filed)
        assert run.state.hold("complaint") is not None
        assert run.state.complaints[0].respond_by == DUE + timedelta(days=8)
        sent = len(run.contacts())
        answered = at(DUE + timedelta(days=9), 12, tz=NY)
        run.until(answered)
        assert len(run.contacts()) == sent  # nothing left while it was open
        run.event(ev.ComplaintResolved(outcome="upheld"), answered)
        assert run.state.hold("complaint") is None
        run.until(answered + timedelta(days=3))
        assert len(run.contacts()) > sent

    def test_the_section_is_hashed_only_when_written(self, us_policy: CompiledPolicy) -> None:
        """Policies written before `complaints:` existed keep their hash (running cases keep
        their pin); writing the section makes a different policy."""
        with_section = us_policy.policy.model_copy(
            update={"complaints": ComplaintRules(respond_within_days=10)}
        )
        assert us_policy.policy.complaints is None
        assert policy_hash(us_policy.policy) == us_policy.hash
        assert policy_hash(with_section) != us_policy.hash


def test_copies_do_not_share_complaints_or_denials(cn_policy: CompiledPolicy) -> None:
    """A decision works on a copy: the state it started from keeps its complaints and denials."""
    run = _awaiting_legal(cn_policy)
    before = run.state
    after = decide(
        cn_policy, before, ev.Complaint(category="amount", text="wrong sum"), run.now
    ).state
    after = decide(cn_policy, after, ev.Deny(action="legal_referral", reason="no"), run.now).state
    assert before.complaints == [] and before.approvals_denied == []
    assert len(after.complaints) == 1 and after.approvals_denied == ["legal_referral"]
