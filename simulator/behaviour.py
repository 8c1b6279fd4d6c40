"""The debtor model: how a synthetic borrower reacts to the contacts a policy sends.

After each contact the debtor may pay in full or in part, promise to pay (and keep or break the
promise), agree a repayment plan (and keep it or not); calls connect or go unanswered; a
conversation may change the debtor's attitude; some debtors dispute (and the dispute is upheld or
rejected), ask for a hardship pause, ask to stop communications, or the case closes for death or
bankruptcy; some pay by themselves right after the due date. Every draw comes from the case's own
generator, seeded from (seed, case_id): deterministic, whatever else runs.

The model only *intends* things; an intent becomes an event when it falls due, checked against
the case as it stands then, so that every event it sends is valid (a promise is never made while
another is open, a payment never exceeds the balance, a dispute is only resolved if open).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.actions import Action
from engine.case.money import CURRENCIES
from engine.case.state import CaseState
from engine.case.vocabulary import (
    ActiveStage,
    Attitude,
    Channel,
    CloseReason,
    DisputeOutcome,
    HoldKind,
    Stage,
)
from engine.policy.compiled import CompiledPolicy
from simulator.portfolio import case_rng

__all__ = ["BehaviourSpec", "DebtorModel"]

DAY = timedelta(days=1)
_CONVERSATION = frozenset({"field_visit"})  # besides a connected call


@dataclass(frozen=True)
class BehaviourSpec:
    """The debtor model's probabilities (all tunable).

    Attributes:
        respond: chance a contact on this channel moves the debtor to act (a call: once connected).
        stage_factor / attitude_factor: multiply `respond` by stage and by the debtor's attitude;
            the risk score multiplies it by 1.4 (score 0) down to 0.6 (score 1000).
        answer: chance a call connects, by attitude; `third_party_answer` for a contact person.
        mix: what acting means (promise, plan and settlement need a conversation; otherwise they
            become a payment in full or in part, in proportion; no settlement where the policy
            offers none). `settle_keep`: chance an agreed settlement is paid.
        partial: share of the balance a partial payment covers (uniform in the range).
        pay_lag_days: days between deciding to pay and the money arriving (uniform).
        promise_keep: chance a promise is kept, by attitude; `plan_keep`: chance each instalment is
            paid on time (a missed one ends the plan's payments).
        self_cure: chance the debtor pays in full within `self_cure_days` of the due date anyway.
        dispute / hardship / cease: chance per case, after one of the first contacts;
            `dispute_upheld` and `dispute_days` its outcome and how long it takes.
        close: chance per case of a death or bankruptcy at a random moment.
        attitude_shift: chance a conversation changes the attitude by one step.
        approve_delay_days: days a human takes to approve what the policy waits for.
    """

    respond: dict[Channel, float] = field(
        default_factory=lambda: {
            Channel.SMS: 0.06,
            Channel.PUSH: 0.04,
            Channel.EMAIL: 0.04,
            Channel.CALL: 0.30,
            Channel.LETTER: 0.08,
            Channel.FIELD_VISIT: 0.35,
        }
    )
    stage_factor: dict[Stage, float] = field(
        default_factory=lambda: {
            ActiveStage.REMINDER: 1.2,
            ActiveStage.NEGOTIATION: 1.0,
            ActiveStage.ESCALATION: 0.8,
            ActiveStage.LEGAL_REFERRAL: 0.6,
        }
    )
    attitude_factor: dict[Attitude, float] = field(
        default_factory=lambda: {
            Attitude.COOPERATIVE: 1.6,
            Attitude.NEUTRAL: 1.0,
            Attitude.EVASIVE: 0.5,
            Attitude.HOSTILE: 0.3,
        }
    )
    answer: dict[Attitude, float] = field(
        default_factory=lambda: {
            Attitude.COOPERATIVE: 0.65,
            Attitude.NEUTRAL: 0.5,
            Attitude.EVASIVE: 0.25,
            Attitude.HOSTILE: 0.35,
        }
    )
    third_party_answer: float = 0.5
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "full": 0.38,
            "partial": 0.19,
            "promise": 0.27,
            "plan": 0.11,
            "settle": 0.05,
        }
    )
    settle_keep: float = 0.8
    partial: tuple[float, float] = (0.2, 0.6)
    pay_lag_days: tuple[int, int] = (0, 3)
    promise_keep: dict[Attitude, float] = field(
        default_factory=lambda: {
            Attitude.COOPERATIVE: 0.85,
            Attitude.NEUTRAL: 0.65,
            Attitude.EVASIVE: 0.35,
            Attitude.HOSTILE: 0.25,
        }
    )
    plan_keep: float = 0.9
    plan_every_days: int = 14
    self_cure: float = 0.15
    self_cure_days: int = 6
    dispute: float = 0.03
    dispute_upheld: float = 0.3
    dispute_days: tuple[int, int] = (7, 45)
    hardship: float = 0.02
    hardship_days: tuple[int, int] = (14, 60)
    cease: float = 0.015
    close: float = 0.005
    attitude_shift: float = 0.08
    approve_delay_days: float = 0.0


_ATTITUDES = tuple(Attitude)


@dataclass(order=True)
class _Intent:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: Any = field(compare=False, default=None)


class DebtorModel:
    """One debtor's intentions, due in time order; deterministic per (seed, case_id)."""

    def __init__(
        self,
        cp: CompiledPolicy,
        state: CaseState,
        opened: datetime,
        horizon: datetime,
        seed: int,
        spec: BehaviourSpec,
    ) -> None:
        case = state.case
        self.cp = cp
        self.spec = spec
        self.rng = case_rng(seed, case.case_id, "debtor")
        self.tz = ZoneInfo(case.debtor.timezone)
        self.digits = CURRENCIES.get(case.currency, 2)
        self.unit = Decimal(1).scaleb(-self.digits)
        self.queue: list[_Intent] = []
        self._seq = 0
        self._payments = 0  # numbers payment references: each payment its own, as a bank gives
        self.contacts = 0
        self.paying = False  # a payment is on its way: no new decision to pay
        rng = self.rng
        risk = case.risk_score
        self.risk_factor = 1.0 if risk is None else 1.4 - 0.8 * risk / 1000
        # One-off life events, decided up front: after which contact, or when.
        self.dispute_after = rng.randint(1, 6) if rng.random() < spec.dispute else 0
        self.hardship_after = rng.randint(1, 10) if rng.random() < spec.hardship else 0
        self.cease_after = rng.randint(2, 12) if rng.random() < spec.cease else 0
        if rng.random() < spec.close and horizon > opened:
            at = opened + (horizon - opened) * rng.random()
            self._add(at, "close", rng.choice((CloseReason.BANKRUPT, CloseReason.DECEASED)))
        if (
            rng.random()
            < spec.self_cure * spec.attitude_factor.get(case.attitude, 1.0) * self.risk_factor
        ):
            day = case.due_date + timedelta(days=rng.randint(0, spec.self_cure_days))
            at = self._local(day, rng.randint(7 * 60, 22 * 60))
            if at >= opened:
                self._add(at, "pay", "full")
                self.paying = True

    # -- the queue -------------------------------------------------------------------------
    def _add(self, at: datetime, kind: str, data: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.queue, _Intent(at, self._seq, kind, data))

    def _local(self, day: date, minute: int) -> datetime:
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz)

    def next_at(self) -> datetime | None:
        """When the next intent falls due, if any."""
        return self.queue[0].at if self.queue else None

    def pop(self, state: CaseState) -> tuple[datetime, ev.Event | None]:
        """The next intent as a valid event for the case as it stands (None: no longer fits)."""
        intent = heapq.heappop(self.queue)
        return intent.at, self._materialize(intent, state)

    # -- reacting to what the policy does --------------------------------------------------
    def on_action(self, a: Action, state: CaseState, now: datetime) -> str | None:
        """React to one action of a decision; returns a call's outcome (for the trace)."""
        if a.kind == "approval_request":
            self._add(
                now + self.spec.approve_delay_days * DAY, "approve", a.detail.get("approval", "")
            )
            return None
        if a.kind != "contact":
            return None
        spec, rng = self.spec, self.rng
        channel = a.channel or ""
        outcome: str | None = None
        talked = channel in _CONVERSATION
        if channel == "call":
            chance = (
                spec.third_party_answer if a.third_party else spec.answer.get(state.attitude, 0.5)
            )
            outcome = "connected" if rng.random() < chance else "unanswered"
            self._add(now, "outcome", (a.action_id, outcome))
            if a.third_party:
                return outcome
            talked = outcome == "connected"
            if not talked:
                return outcome
        self.contacts += 1
        if talked and rng.random() < spec.attitude_shift:
            i = _ATTITUDES.index(state.attitude) if state.attitude in _ATTITUDES else 1
            self._add(now, "attitude", _ATTITUDES[max(0, min(3, i + rng.choice((-1, 1))))])
        if self.contacts == self.dispute_after:
            self._add(
                now + rng.randint(0, 2) * DAY + rng.randint(30, 600) * timedelta(minutes=1),
                "dispute",
            )
            return outcome
        if self.contacts == self.hardship_after:
            days = rng.randint(*spec.hardship_days)
            self._add(now + rng.randint(60, 24 * 60) * timedelta(minutes=1), "hardship", days)
        if self.contacts == self.cease_after:
            self._add(now + rng.randint(10, 24 * 60) * timedelta(minutes=1), "cease")
        if (
            self.paying
            or state.promise is not None
            or state.plan is not None
            or state.settlement is not None
        ):
            return outcome
        chance = (
            (spec.respond.get(a.channel, 0.0) if a.channel else 0.0)
            * spec.stage_factor.get(a.stage, 1.0)
            * spec.attitude_factor.get(state.attitude, 1.0)
            * self.risk_factor
        )
        if rng.random() < chance:
            self._respond(now, talked)
        return outcome

    def _respond(self, now: datetime, talked: bool) -> None:
        spec, rng = self.spec, self.rng
        mix = (
            spec.mix if talked else {k: v for k, v in spec.mix.items() if k in ("full", "partial")}
        )
        if self.cp.policy.settlement is None:
            mix = {k: v for k, v in mix.items() if k != "settle"}
        choice = rng.choices(list(mix), weights=list(mix.values()))[0]
        if choice in ("promise", "plan", "settle"):
            self._add(now, choice)
            return
        lag = rng.randint(*spec.pay_lag_days) * DAY + rng.randint(5, 8 * 60) * timedelta(minutes=1)
        self._add(now + lag, "pay", "full" if choice == "full" else rng.uniform(*spec.partial))
        self.paying = True

    def on_accepted(self, e: ev.Event, state: CaseState, now: datetime) -> None:
        """Follow-ups of an event the core took: keep or break a promise or plan, resolve a dispute."""
        spec, rng = self.spec, self.rng
        today = now.astimezone(self.tz).date()
        if isinstance(e, ev.Promise):
            if rng.random() < spec.promise_keep.get(state.attitude, 0.5):
                days = (e.due_date - today).days
                self._add(
                    self._local(
                        today + timedelta(days=rng.randint(1, max(1, days))),
                        rng.randint(8 * 60, 20 * 60),
                    ),
                    "promise_pay",
                    now,
                )
        elif isinstance(e, ev.Plan):
            for k, (_, due) in enumerate(e.instalments):
                if rng.random() >= spec.plan_keep:
                    break
                day = max(today + DAY, due - rng.randint(0, 2) * DAY)
                self._add(self._local(day, rng.randint(8 * 60, 20 * 60)), "instalment", (now, k))
        elif isinstance(e, ev.Settle):
            st = state.settlement
            if st is not None and rng.random() < spec.settle_keep:
                days = (st.until - today).days
                self._add(
                    self._local(
                        today + timedelta(days=rng.randint(0, max(0, days))),
                        rng.randint(8 * 60, 20 * 60),
                    ),
                    "settle_pay",
                    now,
                )
        elif isinstance(e, ev.Dispute):
            upheld = rng.random() < spec.dispute_upheld
            self._add(
                now + rng.randint(*spec.dispute_days) * DAY,
                "resolve",
                DisputeOutcome.UPHELD if upheld else DisputeOutcome.REJECTED,
            )

    # -- intents to events -----------------------------------------------------------------
    def _money(self, x: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
        return x.quantize(self.unit, rounding=rounding)

    def _materialize(self, i: _Intent, s: CaseState) -> ev.Event | None:  # noqa: C901 - one branch per intent
        if s.closed:
            return None
        kind = i.kind
        if kind == "outcome":
            return ev.ContactOutcome(action_id=i.data[0], outcome=i.data[1])
        if kind == "approve":
            return (
                ev.Approve(action=i.data, by="simulator") if i.data in s.approvals_pending else None
            )
        if kind == "pay":
            self.paying = False
            amount = (
                s.balance
                if i.data == "full"
                else max(self.unit, self._money(s.balance * Decimal(str(i.data))))
            )
            return self._payment(min(amount, s.balance), s)
        if kind == "promise_pay":
            p = s.promise
            if p is None or p.made_at != i.data:
                return None
            return self._payment(min(p.amount - p.paid, s.balance), s)
        if kind == "instalment":
            plan = s.plan
            if plan is None or plan.started_at != i.data[0]:
                return None
            return self._payment(min(plan.instalments[i.data[1]].amount, s.balance), s)
        if kind == "settle_pay":
            st = s.settlement
            if st is None or st.agreed_at != i.data:
                return None
            return self._payment(st.amount - st.paid, s)
        if kind == "settle":
            return self._settle(i.at, s)
        if kind == "promise":
            return self._promise(i.at, s)
        if kind == "plan":
            return self._plan(i.at, s)
        if kind == "attitude":
            return ev.AttitudeChange(attitude=i.data) if i.data != s.attitude else None
        if kind == "dispute":
            return (
                ev.Dispute(reason="simulated dispute") if s.hold(HoldKind.DISPUTE) is None else None
            )
        if kind == "resolve":
            return (
                ev.DisputeResolved(outcome=i.data) if s.hold(HoldKind.DISPUTE) is not None else None
            )
        if kind == "hardship":
            if s.hold(HoldKind.HARDSHIP) is not None:
                return None
            return ev.Hardship(days=max(1, min(i.data, self.cp.policy.hardship.max_days)))
        if kind == "cease":
            return ev.Cease() if s.hold(HoldKind.CEASE) is None else None
        if kind == "close":
            return ev.Close(reason=i.data)
        raise ValueError(f"unknown intent {kind!r}")

    def _payment(self, amount: Decimal, s: CaseState) -> ev.Payment | None:
        amount = self._money(amount)
        if amount <= 0:
            return None
        self._payments += 1
        return ev.Payment(amount=amount, currency=s.case.currency, ref=f"sim-{self._payments}")

    def _promise(self, now: datetime, s: CaseState) -> ev.Promise | None:
        if s.promise is not None or s.plan is not None or s.balance <= 0:
            return None
        rules = self.cp.policy.promise
        floor = max(self._money(s.balance * rules.min_ratio, ROUND_CEILING), self.unit)
        ratio = Decimal(str(round(self.rng.uniform(max(0.3, float(rules.min_ratio)), 1.0), 4)))
        amount = min(s.balance, max(floor, self._money(s.balance * ratio, ROUND_CEILING)))
        today = now.astimezone(self.tz).date()
        due = today + timedelta(days=self.rng.randint(1, min(14, rules.max_days)))
        return ev.Promise(amount=amount, due_date=due)

    def _settle(self, now: datetime, s: CaseState) -> ev.Settle | None:
        rules = self.cp.policy.settlement
        if rules is None or s.settlement is not None or s.plan is not None or s.promise is not None:
            return None
        low = float(rules.min_ratio)
        ratio = Decimal(str(round(self.rng.uniform(low, min(0.95, low + 0.25)), 4)))
        amount = max(
            self._money(s.balance * rules.min_ratio, ROUND_CEILING),
            self._money(s.balance * ratio, ROUND_CEILING),
        )
        if amount >= s.balance or amount <= 0:
            return None
        today = now.astimezone(self.tz).date()
        return ev.Settle(
            amount=amount, until=today + timedelta(days=self.rng.randint(3, rules.max_days))
        )

    def _plan(self, now: datetime, s: CaseState) -> ev.Plan | None:
        if s.plan is not None or s.promise is not None or s.balance <= 0:
            return None
        rules = self.cp.policy.plan
        n = self.rng.randint(2, max(2, min(6, rules.max_instalments)))
        each = self._money(s.balance / n)
        if each <= 0:
            n, each = 1, s.balance
        amounts = [each] * (n - 1) + [s.balance - each * (n - 1)]
        today = now.astimezone(self.tz).date()
        every = self.spec.plan_every_days
        return ev.Plan(
            instalments=[(a, today + timedelta(days=7 + every * k)) for k, a in enumerate(amounts)]
        )
