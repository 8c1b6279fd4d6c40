"""Re-anchoring: a hold stops the collection clock, and when it ends the rest of the plan runs as
before, shifted by the paused days: no stage skipped, no contact lost. Payments, promises and
repayment plans move the case as the policy says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from engine.case import events as ev
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file

NY = "America/New_York"
SH = "Asia/Shanghai"
# Windows without a public holiday for the whole comparison, so every shift is a clean one.
SETUPS = {"cn": (date(2025, 6, 3), SH, 100), "us": (date(2025, 2, 18), NY, 80)}


def drive(run: Run, end: datetime) -> Run:
    """Fire timers to `end`, approving whatever the case asks a human for at once."""
    while run.wake is not None and run.wake <= end:
        run.tick()
        run.approve_all()
    run.approve_all()
    return run


@dataclass
class Pair:
    """The same case without and with a hold, each run to the same point of its plan."""

    plain: Run
    held: Run
    shift: int
    start: datetime

    def local(self, run: Run, t: datetime) -> datetime:
        return run.local(t).replace(tzinfo=None)


Hold = Callable[[Run, date, str], None]


def hardship(days: int) -> Hold:
    def go(run: Run, due: date, tz: str) -> None:
        run.event(ev.Hardship(days=days), at(due + timedelta(days=12), 15, tz=tz))

    return go


def dispute(days: int) -> Hold:
    def go(run: Run, due: date, tz: str) -> None:
        run.event(ev.Dispute(reason="not mine"), at(due + timedelta(days=12), 15, tz=tz))
        run.event(
            ev.DisputeResolved(outcome="rejected"), at(due + timedelta(days=12 + days), 15, tz=tz)
        )

    return go


def broken_promise(run: Run, due: date, tz: str) -> None:
    run.event(
        ev.Promise(amount=Decimal("2000.00"), due_date=due + timedelta(days=15)),
        at(due + timedelta(days=12), 15, tz=tz),
    )


def kept_promise(run: Run, due: date, tz: str) -> None:
    broken_promise(run, due, tz)
    run.event(
        ev.Payment(amount=Decimal("2000.00"), currency=run.cp.policy.currency),
        at(due + timedelta(days=14), 15, tz=tz),
    )


def partial_payment(run: Run, due: date, tz: str) -> None:
    run.event(
        ev.Payment(amount=Decimal("700.00"), currency=run.cp.policy.currency),
        at(due + timedelta(days=12), 15, tz=tz),
    )


def pair(cp: CompiledPolicy, name: str, hold: Hold, shift: int) -> Pair:
    due, tz, horizon = SETUPS[name]
    case = case_file(cp, due=due, amount="9000.00")
    opened = at(due, 12, tz=tz)
    plain = drive(Run.open(cp, case, opened), at(due + timedelta(days=horizon), 12, tz=tz))
    held = Run.open(cp, case, opened)
    hold(held, due, tz)
    drive(held, at(due + timedelta(days=horizon + shift), 12, tz=tz))
    return Pair(plain, held, shift, at(due + timedelta(days=12), 15, tz=tz))


HOLDS = [
    ("hardship 10 days", hardship(10), {"cn": 10, "us": 10}),
    # The US policy pauses two more days after a rejected dispute.
    ("dispute 5 days", dispute(5), {"cn": 5, "us": 7}),
    # Broken at midnight after the promise date plus the grace days (CN 1, US 2).
    ("broken promise", broken_promise, {"cn": 5, "us": 6}),
    ("kept promise", kept_promise, {"cn": 2, "us": 2}),
    ("partial payment", partial_payment, {"cn": 0, "us": 0}),
]


class TestHoldsShiftThePlan:
    """A held case sends the same contacts and moves through the same stages as an unheld one,
    each exactly the paused days later (in the debtor's local time)."""

    @pytest.mark.parametrize("name", ["cn", "us"])
    @pytest.mark.parametrize(("what", "hold", "shifts"), HOLDS, ids=[h[0] for h in HOLDS])
    def test_same_plan_shifted(
        self,
        cn_policy: CompiledPolicy,
        us_policy: CompiledPolicy,
        name: str,
        what: str,
        hold: Hold,
        shifts: dict[str, int],
    ) -> None:
        cp = cn_policy if name == "cn" else us_policy
        p = pair(cp, name, hold, shifts[name])
        assert p.held.state.paused_days == p.shift
        plain, held = p.plain.contacts(), p.held.contacts()
        assert [a.reason for a in held] == [a.reason for a in plain]
        assert len(plain) > 15
        for a, b in zip(plain, held, strict=True):
            if a.at < p.start:
                assert a.at == b.at
            else:
                assert p.local(p.held, b.at) == p.local(p.plain, a.at) + timedelta(days=p.shift), (
                    a.reason
                )
        moves = lambda run: [  # noqa: E731
            (r.detail["from"], r.detail["to"], p.local(run, r.at)) for r in run.kinds("stage")
        ]
        assert [(f, t) for f, t, _ in moves(p.held)] == [(f, t) for f, t, _ in moves(p.plain)]
        assert len(moves(p.plain)) >= 2
        for (_, _, a_at), (_, _, b_at) in zip(moves(p.plain), moves(p.held), strict=True):
            assert b_at - a_at == timedelta(days=p.shift if a_at > p.local(p.plain, p.start) else 0)
        assert (
            not [a for a in held if p.start <= a.at < p.start + timedelta(days=p.shift)]
            or p.shift == 0
        )

    def test_hold_in_the_reminder_stage(self, us_policy: CompiledPolicy) -> None:
        due, tz, _ = SETUPS["us"]
        case = case_file(us_policy, due=due, amount="9000.00")
        run = Run.open(us_policy, case, at(due, 12, tz=tz))
        run.event(ev.Hardship(days=10), at(due + timedelta(days=4), 15, tz=tz))
        drive(run, at(due + timedelta(days=30), 12, tz=tz))
        (move,) = run.kinds("stage")
        assert (move.detail["to"], run.local(move.at).date()) == (
            "negotiation",
            due + timedelta(days=20),
        )
        (email,) = run.sent("reminder.reminder_email+1")  # day 7 of the plan
        assert run.local(email.at).date() == due + timedelta(days=17)


class TestPaymentsAndPromises:
    """Promises pause the case until kept or broken; partial payments lower the balance."""

    def test_kept_promise(self, cn_policy: CompiledPolicy) -> None:
        due, tz, _ = SETUPS["cn"]
        run = Run.open(
            cn_policy, case_file(cn_policy, due=due, amount="9000.00"), at(due, 12, tz=tz)
        )
        kept_promise(run, due, tz)
        assert run.state.promise is None and run.state.kept_promises == 1
        assert run.state.balance == Decimal("7000.00") and run.state.paid_total == Decimal(
            "2000.00"
        )
        assert [r.reason for r in run.kinds("promise")] == [
            "promise of 2000.00 by 2025-06-18",
            "promise kept",
        ]
        assert [r.reason for r in run.kinds("release")] == ["promise kept"]

    def test_broken_promise(self, us_policy: CompiledPolicy) -> None:
        due, tz, _ = SETUPS["us"]
        run = Run.open(
            us_policy, case_file(us_policy, due=due, amount="9000.00"), at(due, 12, tz=tz)
        )
        broken_promise(run, due, tz)
        drive(run, at(due + timedelta(days=30), 12, tz=tz))
        (broken,) = [r for r in run.kinds("promise") if r.outcome == "broken"]
        assert run.local(broken.at) == at(
            due + timedelta(days=18), 0, tz=tz
        )  # promise date + 1 + 2 grace days
        assert run.state.broken_promises == 1

    def test_partial_payment_counts_but_does_not_pause(self, us_policy: CompiledPolicy) -> None:
        due, tz, _ = SETUPS["us"]
        run = Run.open(
            us_policy, case_file(us_policy, due=due, amount="9000.00"), at(due, 12, tz=tz)
        )
        partial_payment(run, due, tz)
        assert run.state.balance == Decimal("8300.00") and not run.state.holds
        drive(run, at(due + timedelta(days=14), 12, tz=tz))
        (call,) = run.sent("negotiation.agent_call+1")
        assert "8300.00 USD" in (call.message or "")

    def test_two_broken_promises_escalate(self, us_policy: CompiledPolicy) -> None:
        due, tz, _ = SETUPS["us"]
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due, amount="9000.00"),
            at(due + timedelta(days=12), 12, tz=tz),
        )
        for _ in range(2):
            run.event(
                ev.Promise(
                    amount=Decimal("1000.00"),
                    due_date=run.local(run.now).date() + timedelta(days=1),
                ),
                run.now,
            )
            drive(run, run.wake)  # type: ignore[arg-type]  # the promise's deadline
        assert run.state.broken_promises == 2
        # The case entered negotiation on (clock) day 12, and the clock stood still since: the
        # exit waits for the stage's one day, then fires at the start of the next clock day.
        assert run.state.stage == "negotiation"
        broken = run.now
        drive(run, broken + timedelta(days=2))
        (move,) = run.kinds("stage")
        assert move.at == broken + timedelta(days=1) and move.detail["to"] == "escalation"
        assert move.reason.startswith("negotiation.broken_twice: ")


class TestRepaymentPlans:
    """A repayment plan pauses the case; a missed instalment fires `plan_missed`."""

    def plan_case(self, cp: CompiledPolicy, name: str, pay_second: bool) -> tuple[Run, date, str]:
        due, tz, _ = SETUPS[name]
        run = Run.open(
            cp, case_file(cp, due=due, amount="3000.00"), at(due + timedelta(days=12), 12, tz=tz)
        )
        run.event(
            ev.Plan(
                instalments=[
                    (Decimal("1000.00"), due + timedelta(days=14)),
                    (Decimal("2000.00"), due + timedelta(days=20)),
                ]
            ),
            run.now,
        )
        run.event(
            ev.Payment(amount=Decimal("1000.00"), currency=cp.policy.currency),
            at(due + timedelta(days=14), 12, tz=tz),
        )
        if pay_second:
            run.event(
                ev.Payment(amount=Decimal("2000.00"), currency=cp.policy.currency),
                at(due + timedelta(days=20), 12, tz=tz),
            )
        drive(run, at(due + timedelta(days=40), 12, tz=tz))
        return run, due, tz

    def test_cn_missed_instalment_goes_to_escalation(self, cn_policy: CompiledPolicy) -> None:
        run, due, tz = self.plan_case(cn_policy, "cn", pay_second=False)
        missed = at(due + timedelta(days=24), 0, tz=tz)  # instalment date + 1 + 3 grace days
        (rec,) = [r for r in run.kinds("plan") if r.outcome == "missed"]
        assert rec.reason == "instalment 2 missed" and rec.at == missed
        (move,) = [r for r in run.kinds("stage") if r.detail["to"] == "escalation"]
        assert move.at == missed and move.reason == "negotiation.on.plan_missed: goto escalation"
        assert not [
            a for a in run.contacts() if at(due + timedelta(days=12), 12, tz=tz) < a.at < missed
        ]
        assert run.state.missed_instalments == 1 and run.state.plan is None

    def test_us_missed_instalment_escalates_by_rule(self, us_policy: CompiledPolicy) -> None:
        run, due, tz = self.plan_case(us_policy, "us", pay_second=False)
        missed = at(due + timedelta(days=26), 0, tz=tz)  # instalment date + 1 + 5 grace days
        (rec,) = [r for r in run.kinds("plan") if r.outcome == "missed"]
        assert rec.at == missed
        # An exit rule (unlike an event goto) respects min_days: the case entered negotiation on
        # clock day 12 and the plan held the clock there, so it moves one day later.
        (move,) = [r for r in run.kinds("stage") if r.detail["to"] == "escalation"]
        assert move.at == missed + timedelta(days=1) and move.reason.startswith(
            "negotiation.broken_twice: "
        )

    def test_kept_plan_resolves(self, cn_policy: CompiledPolicy) -> None:
        run, _, _ = self.plan_case(cn_policy, "cn", pay_second=True)
        assert run.state.stage == "resolved" and run.state.closed
        assert not [r for r in run.kinds("plan") if r.outcome == "missed"]
