"""The core's entry points: opening a case where its age puts it, stages moving one at a time,
exact wake-ups, determinism, and the rejection of invalid events."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.case import events as ev
from engine.case.state import CaseState
from engine.decision.decide import Decision, EventRejected, decide, open_case, validate
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file, inline_policy

NY = "America/New_York"
SH = "Asia/Shanghai"
DUE = date(2025, 3, 3)


def plan_day(cp: CompiledPolicy, stage: str, key: str) -> int:
    """The collection-clock day a plan occurrence (`key` or `key+k`) was planned for."""
    base, _, k = key.partition("+")
    for item in cp.policy.stages[stage].contacts:  # type: ignore[index]
        if item.key == base:
            return item.days()[int(k or 0)]
    raise KeyError(key)


def policy_of(name: str, cn: CompiledPolicy, us: CompiledPolicy) -> tuple[CompiledPolicy, str]:
    return (cn, SH) if name == "cn" else (us, NY)


class TestOpenCase:
    """A case starts in the stage its age calls for and never replays what it missed."""

    @pytest.mark.parametrize(
        ("name", "opened"),
        [
            # Legal referral (enter_at_day 91) needs a human's approval: a late import starts one
            # stage earlier and its exit asks for the approval.
            (
                "cn",
                "starts in escalation (stages.escalation.enter_at_day 31); entering legal_referral needs approval of legal_referral",
            ),
            ("us", "starts in escalation (stages.escalation.enter_at_day 45)"),
        ],
    )
    def test_opened_at_95_days(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy, name: str, opened: str
    ) -> None:
        cp, tz = policy_of(name, cn_policy, us_policy)
        due = date(2025, 1, 6)
        run = Run.open(
            cp, case_file(cp, due=due, amount="6000.00"), at(due + timedelta(days=95), 12, tz=tz)
        )
        assert run.state.stage == "escalation" and run.state.stage_entered_day == 95
        assert run.kinds("opened")[0].reason == f"opened at day 95: {opened}"
        end = at(due + timedelta(days=160), 12, tz=tz)
        while run.wake is not None and run.wake <= end:
            run.tick()
            run.approve_all()
        assert run.state.stage == "legal_referral"
        assert not [r for r in run.records if r.stage in ("reminder", "negotiation")]
        notices = [a for a in run.contacts() if a.reason.endswith("bureau notice first")]
        for a in run.contacts():
            # Missed soft contacts are never replayed; a missed legally required notice goes out,
            # and so does the bureau notice the report needs (once, at entry).
            assert (
                a.legally_required
                or a in notices
                or plan_day(cp, a.stage, a.reason.split(".", 1)[1]) >= 95
            ), a.reason
        assert [(a.stage, a.at) for a in notices] == [("escalation", run.kinds("opened")[0].at)]
        (referral,) = [a for a in run.actions if a.kind == "legal_referral"]
        (approved,) = [
            r
            for r in run.kinds("approval")
            if r.detail.get("outcome") == "granted" and r.detail["approval"] == "legal_referral"
        ]
        assert referral.at >= approved.at

    def test_us_at_95_days_sends_only_what_comes_after(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 1, 6)
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due, amount="6000.00"),
            at(due + timedelta(days=95), 12, tz=NY),
        )
        end = at(due + timedelta(days=160), 12, tz=NY)
        while run.wake is not None and run.wake <= end:
            run.tick()
            run.approve_all()
        # Everything escalation plans falls before day 95: of it only the legally required demand
        # letter (day 55) goes out, on entry, after the bureau notice the report needs (the
        # engine's own, through the policy's notice e-mail); then the legal notice of day 121.
        assert [(a.reason, run.local(a.at).date()) for a in run.contacts()] == [
            ("escalation.on_enter.bureau_report: bureau notice first", due + timedelta(days=95)),
            ("escalation.day_55.letter", due + timedelta(days=95)),
            ("legal_referral.day_121.letter", due + timedelta(days=121)),
        ]
        (notice, *_) = run.contacts()
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert report.at == notice.at + timedelta(days=14)  # the engine's notice, then the wait

    def test_opened_before_the_due_date(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=DUE, amount="3000.00"),
            at(DUE - timedelta(days=10), 12, tz=SH),
        )
        assert run.state.stage == "reminder"
        run.until(at(DUE, 23, tz=SH))
        assert [(a.reason, run.local(a.at).date()) for a in run.contacts()] == [
            ("reminder.day_-3.push", DUE - timedelta(days=3)),
            ("reminder.day_0.sms", DUE),
        ]
        # Opened two days before the due date, after the day -5 e-mail: it is not replayed.
        run = Run.open(
            us_policy, case_file(us_policy, due=DUE), at(DUE - timedelta(days=2), 12, tz=NY)
        )
        assert run.state.stage == "reminder"
        run.until(at(DUE + timedelta(days=2), 12, tz=NY))
        assert [a.reason for a in run.contacts()] == ["reminder.day_1.sms"]

    def test_refuses_what_does_not_fit(self, us_policy: CompiledPolicy) -> None:
        case = case_file(us_policy)
        with pytest.raises(EventRejected, match="currency CNY differs"):
            open_case(us_policy, case.model_copy(update={"currency": "CNY"}), at(DUE, 12, tz=NY))
        bad_tz = case.model_copy(
            update={"debtor": case.debtor.model_copy(update={"timezone": "Mars/Olympus"})}
        )
        with pytest.raises(EventRejected, match="Mars/Olympus"):
            open_case(us_policy, bad_tz, at(DUE, 12, tz=NY))
        with pytest.raises(ValueError, match="timezone-aware"):
            open_case(us_policy, case, datetime(2025, 3, 3, 12))


class TestStageMoves:
    """Stages move one at a time, each after its min_days, unless an exit says skip."""

    def chain(self, skip: bool) -> CompiledPolicy:
        late = {"field": "days_past_due", "op": ">=", "value": 3}
        return inline_policy(
            "US",
            stages={
                "reminder": {"exits": [{"to": "negotiation", "when": late}]},
                "negotiation": {
                    "enter_at_day": 3,
                    "min_days": 4,
                    "exits": [{"to": "escalation", "when": late, "skip": skip}],
                },
                "escalation": {
                    "enter_at_day": 20,
                    "min_days": 2,
                    "exits": [{"to": "legal_referral", "when": late}],
                },
                "legal_referral": {"enter_at_day": 40},
            },
        )

    def moves(self, skip: bool) -> list[tuple[str, str, int]]:
        cp = self.chain(skip)
        run = Run.open(cp, case_file(cp, due=DUE), at(DUE, 12, tz=NY))
        run.until(at(DUE + timedelta(days=30), 12, tz=NY))
        return [
            (r.detail["from"], r.detail["to"], (run.local(r.at).date() - DUE).days)
            for r in run.kinds("stage")
        ]

    def test_one_at_a_time(self) -> None:
        assert self.moves(skip=False) == [
            ("reminder", "negotiation", 3),
            ("negotiation", "escalation", 7),
            ("escalation", "legal_referral", 9),
        ]

    def test_skip_ignores_min_days(self) -> None:
        assert self.moves(skip=True) == [
            ("reminder", "negotiation", 3),
            ("negotiation", "escalation", 3),
            ("escalation", "legal_referral", 5),
        ]

    def test_shipped_policies_walk_every_stage(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        for cp, tz in ((cn_policy, SH), (us_policy, NY)):
            run = Run.open(cp, case_file(cp, due=DUE, amount="6000.00"), at(DUE, 12, tz=tz))
            while run.wake is not None:
                run.tick()
                run.approve_all()
            assert [(a, b) for a, b in run.stage_moves()] == [
                ("reminder", "negotiation"),
                ("negotiation", "escalation"),
                ("escalation", "legal_referral"),
                ("legal_referral", "written_off"),
            ]


class TestWakeUps:
    """`next_wake_up` is exact: never in the past, never None while something can still happen by
    itself, and nothing happens at any moment before it (no polling needed)."""

    def walk(
        self,
        cp: CompiledPolicy,
        run: Run,
        script: list[tuple[datetime, ev.Event]],
        end: datetime,
        rng: random.Random,
    ) -> int:
        """Run to `end` with `script`, probing moments between decisions; the number of probes."""
        probes = 0
        script = sorted(script, key=lambda x: x[0])
        while True:
            d, now = run.decision, run.now
            s = d.state
            if d.next_wake_up is not None:
                assert d.next_wake_up > now
            elif not s.closed:
                assert s.approvals_pending or s.hold("dispute"), (
                    f"no wake-up at {now} with nothing to wait for"
                )
            horizon = d.next_wake_up or now + timedelta(days=45)
            for _ in range(5):
                t = now + (horizon - now) * rng.uniform(0.0001, 0.9999)
                if now < t < horizon:
                    quiet = decide(cp, s, None, t)
                    assert not quiet.actions and not quiet.records, (
                        t,
                        [r.reason for r in quiet.records],
                    )
                    assert quiet.next_wake_up == d.next_wake_up
                    probes += 1
            if s.approvals_pending:
                run.approve_all(
                    now + timedelta(hours=1)
                    if d.next_wake_up is None or now + timedelta(hours=1) < d.next_wake_up
                    else now
                )
            elif script and (d.next_wake_up is None or script[0][0] < d.next_wake_up):
                when, e = script.pop(0)
                run.event(e, max(when, now))
            elif d.next_wake_up is not None and d.next_wake_up <= end:
                run.tick()
            else:
                return probes

    @pytest.mark.parametrize("name", ["cn", "us"])
    def test_nothing_happens_between_wake_ups(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy, name: str
    ) -> None:
        cp, tz = policy_of(name, cn_policy, us_policy)
        cur = cp.policy.currency
        run = Run.open(
            cp, case_file(cp, due=DUE, amount="9000.00"), at(DUE - timedelta(days=8), 12, tz=tz)
        )
        day = lambda n, h=15: at(DUE + timedelta(days=n), h, tz=tz)  # noqa: E731
        script: list[tuple[datetime, ev.Event]] = [
            (day(12), ev.Promise(amount=Decimal("2000.00"), due_date=DUE + timedelta(days=16))),
            (day(25), ev.Payment(amount=Decimal("500.00"), currency=cur)),
            (day(40), ev.Hardship(days=10)),
            (day(70), ev.Dispute(reason="amount wrong")),
            (day(76), ev.DisputeResolved(outcome="rejected")),
            (day(80), ev.Cease()),
        ]
        probes = self.walk(cp, run, script, day(900), random.Random(20250303))
        assert probes > 100
        assert run.state.closed

    def test_segment_boundaries_wake_the_case(self) -> None:
        cp = inline_policy(
            "US", segments=[{"name": "early", "days_past_due": {"max": 5}}, {"name": "late"}]
        )
        run = Run.open(cp, case_file(cp, due=DUE), at(DUE, 12, tz=NY))
        assert run.state.segment == "early"
        run.until(at(DUE + timedelta(days=4), 23, tz=NY))
        assert run.state.segment == "early" and run.wake == at(DUE + timedelta(days=5), 0, tz=NY)
        run.tick()
        assert (
            run.state.segment == "late"
            and run.kinds("segment")[-1].reason == "segments.late (was early)"
        )

    def test_a_new_stage_sends_what_is_due_at_once(self) -> None:
        cp = inline_policy(
            "US",
            stages={
                "reminder": {
                    "contacts": [{"day": 1, "channel": "sms", "template": "t"}],
                    "exits": [
                        {
                            "to": "negotiation",
                            "when": {"field": "contacts_in_stage", "op": ">=", "value": 1},
                        }
                    ],
                },
                "negotiation": {
                    "enter_at_day": 30,
                    "contacts": [{"day": 1, "channel": "email", "template": "t"}],
                },
            },
        )
        run = Run.open(cp, case_file(cp, due=DUE), at(DUE, 12, tz=NY))
        run.until(at(DUE + timedelta(days=1), 10, tz=NY))
        assert [(a.stage, a.channel, run.local(a.at)) for a in run.contacts()] == [
            ("reminder", "sms", at(DUE + timedelta(days=1), 10, tz=NY)),
            ("negotiation", "email", at(DUE + timedelta(days=1), 10, tz=NY)),
        ]

    def test_a_report_follows_its_notice_at_once(self) -> None:
        # Opened at night: the notice the report needs waits for the window, the report for it.
        cp = inline_policy(
            "CN",
            stages={
                "reminder": {
                    "contacts": [{"day": 1, "channel": "sms", "template": "notice"}],
                    "on_enter": [{"kind": "bureau_report"}],
                }
            },
        )
        run = Run.open(cp, case_file(cp, due=DUE), at(DUE + timedelta(days=1), 7, tz=SH))
        assert run.guardrails("deferred") == ["bureau.notice_first.contact_window"]
        run.until(at(DUE + timedelta(days=1), 9, tz=SH))
        assert [a.kind for a in run.actions] == ["contact", "bureau_report"]
        assert run.actions[0].at == run.actions[1].at == at(DUE + timedelta(days=1), 8, tz=SH)

    def test_a_late_decision_pauses_no_longer(self, us_policy: CompiledPolicy) -> None:
        # The worker was down: the timer at the end of the hardship fires three days late.
        run = Run.open(
            us_policy, case_file(us_policy, due=DUE), at(DUE + timedelta(days=12), 15, tz=NY)
        )
        run.event(ev.Hardship(days=10), run.now)
        late = decide(us_policy, run.state, None, run.wake + timedelta(days=3))  # type: ignore[operator]
        assert late.state.paused_days == 10
        # What fell due in those three days (clock days 13 to 15) goes out now, not three days
        # later; of the repeating call only the latest occurrence, the earlier one is skipped.
        assert [a.reason for a in late.actions] == [
            "negotiation.agent_call+2",
            "negotiation.day_15.email",
        ]
        assert [(r.kind, r.reason) for r in late.records if r.kind == "skipped"] == [
            ("skipped", "negotiation.agent_call+1")
        ]


def dump(d: Decision) -> dict[str, Any]:
    return {
        "state": d.state.model_dump(),
        "actions": [a.model_dump() for a in d.actions],
        "records": [r.model_dump() for r in d.records],
        "wake": d.next_wake_up,
    }


class TestDeterminism:
    """Same input, same decision; `decide` never changes the state it is given."""

    @pytest.mark.parametrize("name", ["cn", "us"])
    def test_same_input_same_decision(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy, name: str
    ) -> None:
        cp, tz = policy_of(name, cn_policy, us_policy)
        case = case_file(cp, due=DUE, amount="9000.00")
        assert dump(open_case(cp, case, at(DUE, 12, tz=tz))) == dump(
            open_case(cp, case, at(DUE, 12, tz=tz))
        )
        run = Run.open(cp, case, at(DUE, 12, tz=tz))
        events: list[ev.Event | None] = [
            None,
            ev.Promise(amount=Decimal("2000.00"), due_date=DUE + timedelta(days=20)),
            ev.Payment(amount=Decimal("2000.00"), currency=cp.policy.currency),
            ev.Hardship(days=3),
            ev.AttitudeChange(attitude="hostile"),
            ev.Dispute(),
            ev.DisputeResolved(outcome="rejected"),
        ]
        for k in range(60):
            e = events[k % len(events)] if k % 3 == 0 else None
            state = run.state
            before = state.model_dump()
            now = run.now if e is not None else (run.wake or run.now)
            try:
                first = decide(cp, state, e, now)
            except EventRejected:
                assert state.model_dump() == before
                continue
            assert dump(first) == dump(decide(cp, state.model_copy(deep=True), e, now))
            assert state.model_dump() == before
            run.decision = first
            run.lane.state, run.lane.wake, run.lane.now = first.state, first.next_wake_up, now
            if run.state.closed:
                break


def us_run(us_policy: CompiledPolicy) -> Run:
    """A US case on day 12, balance 1500.00."""
    return Run.open(
        us_policy,
        case_file(us_policy, due=DUE, amount="1500.00"),
        at(DUE + timedelta(days=12), 12, tz=NY),
    )


TODAY = DUE + timedelta(days=12)
USD = "USD"


def pay(amount: str, currency: str = USD) -> ev.Payment:
    return ev.Payment(amount=Decimal(amount), currency=currency)


def promise(amount: str, days: int) -> ev.Promise:
    return ev.Promise(amount=Decimal(amount), due_date=TODAY + timedelta(days=days))


def plan(*parts: tuple[str, int]) -> ev.Plan:
    return ev.Plan(instalments=[(Decimal(a), TODAY + timedelta(days=d)) for a, d in parts])


INVALID: list[tuple[str, ev.Event, str]] = [
    ("negative payment", pay("-5.00"), "payment must be positive, not -5.00"),
    ("zero payment", pay("0"), "payment must be positive, not 0.00"),
    ("wrong currency", pay("10.00", "EUR"), "payment in EUR but the case is in USD"),
    ("too many decimals", pay("10.005"), "more decimals than USD allows"),
    ("promise in the past", promise("500.00", -1), "is in the past"),
    ("promise too far", promise("500.00", 31), "more than 30 days away"),
    ("promise too small", promise("149.99", 3), "at least 10% of the balance"),
    ("promise above balance", promise("1500.01", 3), "exceeds the balance 1500.00"),
    ("plan not adding up", plan(("1000.00", 1), ("400.00", 8)), "add up to the balance 1500.00"),
    ("plan dates not increasing", plan(("1000.00", 8), ("500.00", 8)), "strictly increasing"),
    ("plan in the past", plan(("1000.00", -1), ("500.00", 8)), "from today on"),
    ("plan too long", plan(*[("115.38", k) for k in range(1, 14)]), "at most 12 instalments"),
    ("instalment with decimals", plan(("1000.001", 1), ("499.999", 8)), "instalment: amount"),
    ("hardship zero days", ev.Hardship(days=0), "hardship days must be 1..90, not 0"),
    ("hardship too long", ev.Hardship(days=91), "hardship days must be 1..90, not 91"),
    (
        "approval not awaited",
        ev.Approve(action="legal_referral"),
        "no approval of 'legal_referral' is awaited (waiting for: nothing)",
    ),
    (
        "resolution without dispute",
        ev.DisputeResolved(outcome="rejected"),
        "the case is not disputed",
    ),
    (
        "outcome of no contact",
        ev.ContactOutcome(action_id="C-1/9.x/y", outcome="connected"),
        "unknown or expired contact",
    ),
    ("payment of 1e400", pay("1e400"), "payment: amount '1E+400' is too large"),
    ("payment of 30 digits", pay("1" * 30), "is too large (at most 999999999999999)"),
    ("payment of 28 digits", pay("9" * 28), "is too large (at most 999999999999999)"),
    (
        "payment beyond the context's exponent",
        pay("1E+999999999"),
        "is too large",
    ),  # found by tests/fuzz
    ("payment of -1E+999999999", pay("-1E+999999999"), "is too large"),
    ("promise of 1e400", promise("1e400", 3), "promise: amount '1E+400' is too large"),
    (
        "promise in 9999",
        ev.Promise(amount=Decimal("500.00"), due_date=date(9999, 12, 31)),
        "more than 30 days away",
    ),
    (
        "plan ending in 9999",
        ev.Plan(
            instalments=[
                (Decimal("1000.00"), TODAY + timedelta(days=1)),
                (Decimal("500.00"), date(9999, 12, 31)),
            ]
        ),
        "the last instalment (9999-12-31) is after",
    ),
    (
        "plan longer than its months",
        plan(("1000.00", 1), ("500.00", 12 * 31 + 1)),
        "a plan runs at most 12 months",
    ),
    (
        "instalment of 1e400",
        plan(("1e400", 1), ("500.00", 8)),
        "instalment: amount '1E+400' is too large",
    ),
    (
        "a huge reference",
        ev.Payment(amount=Decimal("10.00"), currency="USD", ref="r" * 501),
        "ref is 501 characters long; at most 500",
    ),
    (
        "a huge dispute reason",
        ev.Dispute(reason="x" * 3_000_000),
        "reason is 3000000 characters long",
    ),
    (
        "a huge approver",
        ev.Approve(action="legal_referral", by="x" * 600),
        "by is 600 characters long",
    ),
]


class TestEventValidation:
    """An invalid event is rejected with a clear message, and the case is left exactly as it was."""

    def rejects(
        self, cp: CompiledPolicy, state: CaseState, e: ev.Event, now: datetime, message: str
    ) -> None:
        before = state.model_dump()
        with pytest.raises(EventRejected, match=re.escape(message)):
            decide(cp, state, e, now)
        with pytest.raises(EventRejected, match=re.escape(message)):
            validate(cp, state, e, now)
        assert state.model_dump() == before

    @pytest.mark.parametrize(("what", "event", "message"), INVALID, ids=[w for w, _, _ in INVALID])
    def test_rejected(
        self, us_policy: CompiledPolicy, what: str, event: ev.Event, message: str
    ) -> None:
        run = us_run(us_policy)
        self.rejects(us_policy, run.state, event, run.now, message)

    @pytest.mark.parametrize(
        ("setup", "event", "message"),
        [
            (
                promise("500.00", 3),
                promise("500.00", 4),
                "a promise is already open until 2025-03-18",
            ),
            (
                promise("500.00", 3),
                plan(("1000.00", 1), ("500.00", 8)),
                "a promise is open until 2025-03-18",
            ),
            (plan(("1000.00", 1), ("500.00", 8)), promise("500.00", 4), "a repayment plan is open"),
            (
                plan(("1000.00", 1), ("500.00", 8)),
                plan(("1500.00", 2)),
                "a repayment plan is already open",
            ),
            (ev.Hardship(days=5), ev.Hardship(days=5), "a hardship pause is already running"),
            (ev.Cease(), ev.Cease(), "communications are already ceased"),
        ],
    )
    def test_rejected_in_context(
        self, us_policy: CompiledPolicy, setup: ev.Event, event: ev.Event, message: str
    ) -> None:
        run = us_run(us_policy)
        run.event(setup, run.now)
        self.rejects(us_policy, run.state, event, run.now, message)

    @pytest.mark.parametrize(
        "make",
        [
            lambda: pay("1.00"),
            lambda: ev.Dispute(),
            lambda: ev.Close(reason="settled"),
            lambda: ev.Approve(action="field_visit"),
            lambda: ev.Hardship(days=3),
        ],
    )
    def test_nothing_after_close(
        self, us_policy: CompiledPolicy, make: Callable[[], ev.Event]
    ) -> None:
        run = us_run(us_policy)
        run.event(ev.Close(reason="written_off"), run.now)
        self.rejects(us_policy, run.state, make(), run.now, "case C-1 is closed (written_off)")

    def test_valid_events_pass_validation(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy)
        for e in (
            pay("10.00"),
            promise("150.00", 30),
            plan(("1000.00", 0), ("500.00", 8)),
            ev.Hardship(days=90),
        ):
            validate(us_policy, run.state, e, run.now)
