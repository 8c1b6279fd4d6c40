"""Holds and ends: a dispute stops contacts and stage moves until it is resolved, hardship pauses
the case for its length, bankruptcy and death close it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from engine.case import events as ev
from engine.decision.decide import EventRejected, decide
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file

NY = "America/New_York"
SH = "Asia/Shanghai"
DUE = date(2025, 3, 3)


class TestDispute:
    """A dispute stops every contact and stage move until it is resolved: upheld closes the
    case, rejected resumes it (after the policy's pause, if any)."""

    def test_stops_contacts_and_stage_moves(self, us_policy: CompiledPolicy) -> None:
        run = Run.open(us_policy, case_file(us_policy, due=DUE), at(DUE, 12, tz=NY))
        disputed = at(DUE + timedelta(days=8), 15, tz=NY)
        run.event(ev.Dispute(reason="not my loan"), disputed)
        n_contacts, n_stages = len(run.contacts()), len(run.kinds("stage"))
        assert run.wake is None  # open-ended: nothing to wake for until someone resolves it
        later = at(DUE + timedelta(days=60), 12, tz=NY)
        quiet = decide(us_policy, run.state, None, later)
        assert not quiet.actions and not quiet.records and quiet.next_wake_up is None
        run.event(ev.DisputeResolved(outcome="rejected"), later)
        assert len(run.contacts()) == n_contacts and len(run.kinds("stage")) == n_stages
        # The US policy gives the debtor two days to read the verification before resuming.
        assert run.state.hold("pause") is not None and run.wake == later + timedelta(days=2)
        run.until(later + timedelta(days=30))
        resumed = [a for a in run.contacts() if a.at > disputed]
        assert resumed and min(a.at for a in resumed) >= later + timedelta(days=2)
        assert run.state.paused_days == 62 - 8  # local days 8 to 62 stood still
        assert run.state.stage == "negotiation"

    def test_upheld_closes(self, cn_policy: CompiledPolicy) -> None:
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE), at(DUE, 12, tz=SH))
        run.event(ev.Dispute(), at(DUE + timedelta(days=2), 12, tz=SH))
        run.event(ev.DisputeResolved(outcome="upheld"), at(DUE + timedelta(days=9), 12, tz=SH))
        assert run.state.closed and run.state.stage == "closed"
        assert run.kinds("close")[-1].reason == "dispute upheld: the debt is not owed"
        assert run.wake is None
        with pytest.raises(EventRejected, match="closed"):
            decide(
                cn_policy, run.state, ev.Payment(amount=Decimal("1.00"), currency="CNY"), run.now
            )

    def test_event_goto_waits_for_the_resolution(self, cn_policy: CompiledPolicy) -> None:
        run = Run.open(
            cn_policy, case_file(cn_policy, due=DUE), at(DUE + timedelta(days=9), 12, tz=SH)
        )
        assert run.state.stage == "negotiation"
        run.event(ev.Dispute(), at(DUE + timedelta(days=9), 13, tz=SH))
        run.event(ev.AttitudeChange(attitude="hostile"), at(DUE + timedelta(days=9), 14, tz=SH))
        assert run.state.stage == "negotiation"  # the hostile goto waits
        assert run.guardrails("deferred") == ["hold.dispute"]
        resolved = at(DUE + timedelta(days=15), 12, tz=SH)
        run.event(ev.DisputeResolved(outcome="rejected"), resolved)
        assert run.state.stage == "escalation"
        (move,) = [r for r in run.kinds("stage") if r.detail["to"] == "escalation"]
        assert move.at == resolved and move.reason == "events.hostile: goto escalation"

    def test_a_second_rejection_pauses_its_full_length(self, us_policy: CompiledPolicy) -> None:
        opened = at(DUE + timedelta(days=12), 12, tz=NY)
        run = Run.open(us_policy, case_file(us_policy, due=DUE), opened)
        run.event(ev.Dispute(), run.now)
        first = run.now + timedelta(days=3)
        run.event(ev.DisputeResolved(outcome="rejected"), first)
        run.event(ev.Dispute(), first + timedelta(days=1))
        second = first + timedelta(days=1, hours=2)
        run.event(ev.DisputeResolved(outcome="rejected"), second)
        pause = run.state.hold("pause")
        assert pause is not None and pause.until == second + timedelta(days=2)
        assert run.wake == second + timedelta(days=2)
        run.until(second + timedelta(days=2) - timedelta(microseconds=1))
        # Only the legally required notice the day-12 import had missed (day 10), sent on entry.
        assert [(a.reason, a.at) for a in run.contacts()] == [("negotiation.day_10.letter", opened)]

    def test_second_dispute_rejected(self, us_policy: CompiledPolicy) -> None:
        run = Run.open(us_policy, case_file(us_policy, due=DUE), at(DUE, 12, tz=NY))
        run.event(ev.Dispute(), run.now)
        with pytest.raises(EventRejected, match="already disputed"):
            decide(us_policy, run.state, ev.Dispute(), run.now)


class TestHardship:
    """Hardship pauses the case for its length, then everything resumes where it stood."""

    def test_pauses_then_resumes(self, us_policy: CompiledPolicy) -> None:
        run = Run.open(us_policy, case_file(us_policy, due=DUE), at(DUE, 12, tz=NY))
        start = at(DUE + timedelta(days=12), 15, tz=NY)
        run.event(ev.Hardship(days=10), start)
        assert run.wake == start + timedelta(days=10)
        n = len(run.contacts())
        run.until(start + timedelta(days=10) - timedelta(microseconds=1))
        assert len(run.contacts()) == n and not run.kinds("release")
        run.tick()
        assert [r.reason for r in run.kinds("release")] == ["hardship ended"]
        assert run.state.paused_days == 10
        run.until(start + timedelta(days=12))
        assert len(run.contacts()) > n

    def test_longer_than_the_policy_allows(
        self, us_policy: CompiledPolicy, cn_policy: CompiledPolicy
    ) -> None:
        for cp, tz, limit in ((us_policy, NY, 90), (cn_policy, SH, 60)):
            run = Run.open(cp, case_file(cp, due=DUE), at(DUE, 12, tz=tz))
            with pytest.raises(EventRejected, match=f"1..{limit}"):
                decide(cp, run.state, ev.Hardship(days=limit + 1), run.now)
            decide(cp, run.state, ev.Hardship(days=limit), run.now)


class TestClose:
    """Bankruptcy and death close the case at once: agency recalled, bureau told, nothing after."""

    @pytest.mark.parametrize("reason", ["bankrupt", "deceased"])
    def test_closes_and_tidies_up(self, cn_policy: CompiledPolicy, reason: str) -> None:
        run = Run.open(
            cn_policy, case_file(cn_policy, due=DUE, amount="3000.00"), at(DUE, 12, tz=SH)
        )
        run.until(at(DUE + timedelta(days=40), 12, tz=SH))
        assert run.state.agency_placed and run.state.bureau_reported
        d = run.event(ev.Close(reason=reason), run.now)
        assert d.state.closed and d.state.stage == "closed" and d.next_wake_up is None
        assert {a.kind: a.detail for a in d.actions} == {
            "agency_recall": {},
            "bureau_update": {"status": "closed"},
        }
        assert (
            len({a.action_id for a in d.actions}) == 2
        )  # each its own id, or the outbox drops one
        assert d.records[-1].kind == "close" and d.records[-1].reason == f"closed: {reason}"
        quiet = decide(cn_policy, d.state, None, run.now + timedelta(days=30))
        assert not quiet.actions and not quiet.records
        with pytest.raises(EventRejected, match="closed"):
            decide(cn_policy, d.state, ev.Dispute(), run.now)

    def test_paid_in_full_resolves(self, us_policy: CompiledPolicy) -> None:
        run = Run.open(
            us_policy, case_file(us_policy, due=DUE, amount="250.00"), at(DUE, 12, tz=NY)
        )
        d = run.event(
            ev.Payment(amount=Decimal("250.00"), currency="USD"),
            at(DUE + timedelta(days=3), 12, tz=NY),
        )
        assert d.state.stage == "resolved" and d.state.balance == 0 and d.next_wake_up is None
