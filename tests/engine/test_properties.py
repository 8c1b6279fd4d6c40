"""Property tests of the core: random cases on both shipped policies, random event sequences
interleaved with timers fired at the wake-up the core asked for, judged by a small checker of
our own (written from the guardrail figures, not from the core's guardrail code)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, Debtor
from engine.decision.decide import Decision, EventRejected, decide, open_case
from engine.policy.compiled import CompiledPolicy
from tests.conftest import load_shipped

TIMEZONES = (
    "Asia/Shanghai",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Auckland",
    "UTC",
)
CHANNELS = ("sms", "push", "email", "call", "letter", "field_visit")
MAX_STEPS = 25
MAX_TIMERS_PER_STEP = 12


@dataclass(frozen=True)
class Limits:
    """The guardrail figures each shipped policy runs under, written out by hand: the
    jurisdiction floor tightened by the policy file."""

    country: str
    window: tuple[time, time]
    caps: dict[str, tuple[int, int]]  # channel -> (max, per days)
    overall: tuple[int, int] | None
    call_cooldown_days: int | None  # after a conversation
    connected_per_day: int | None
    unanswered_per_day: int | None
    third_party: bool
    pause_after_dispute_rejected: int


LIMITS = {
    # CN floor 08:00-22:00, policy 09:00-21:00; 3 connected calls a day, policy 1.
    "consumer-credit-line": Limits(
        "CN",
        (time(9), time(21)),
        {"sms": (3, 7), "push": (2, 7)},
        (12, 7),
        call_cooldown_days=None,
        connected_per_day=1,
        unanswered_per_day=6,
        third_party=False,
        pause_after_dispute_rejected=0,
    ),
    # Regulation F: 7 call attempts in 7 days (policy 5), none for 7 days after a conversation.
    "instalment-loan": Limits(
        "US",
        (time(8), time(21)),
        {"sms": (2, 7), "email": (3, 7), "call": (5, 7)},
        None,
        call_cooldown_days=7,
        connected_per_day=None,
        unanswered_per_day=None,
        third_party=True,
        pause_after_dispute_rejected=2,
    ),
}


@cache
def shipped(name: str) -> CompiledPolicy:
    """A shipped policy, loaded once (the same loader as the `cn_policy`/`us_policy` fixtures)."""
    return load_shipped(name)


@cache
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The country's public holidays in one year, straight from the `holidays` package."""
    return frozenset(holidays.country_holidays(country, years=[year]).keys())


# -- driving a case ------------------------------------------------------------------------


@dataclass
class Step:
    """One decision of the run: when, which (if any) event, what came out."""

    seq: int
    at: datetime
    event: ev.Event | None
    accepted: bool
    decision: Decision | None


@dataclass
class Ledger:
    """Everything a run produced, in order."""

    cp: CompiledPolicy
    case: CaseFile
    steps: list[Step] = field(default_factory=list)

    def add(self, at: datetime, event: ev.Event | None, decision: Decision | None) -> None:
        self.steps.append(Step(len(self.steps), at, event, decision is not None, decision))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.case.debtor.timezone)

    def actions(self) -> list[tuple[Step, Action]]:
        return [(s, a) for s in self.steps if s.decision for a in s.decision.actions]

    def records(self) -> list[tuple[Step, Record]]:
        return [(s, r) for s in self.steps if s.decision for r in s.decision.records]

    def events(self) -> list[Step]:
        return [s for s in self.steps if s.event is not None and s.accepted]


@st.composite
def case_files(draw: st.DrawFn, cp: CompiledPolicy) -> tuple[CaseFile, datetime]:
    """A random case on `cp` and the moment it is opened."""
    tz = draw(st.sampled_from(TIMEZONES))
    due = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    # Mostly early; some in escalation, where visits, agencies and third parties happen.
    opened_day = draw(st.one_of(st.integers(-10, 15), st.integers(25, 70), st.integers(-10, 130)))
    minute = draw(st.integers(0, 24 * 60 - 1))
    opened = datetime.combine(
        due + timedelta(days=opened_day), time(minute // 60, minute % 60), tzinfo=ZoneInfo(tz)
    )
    refused = draw(st.sets(st.sampled_from(CHANNELS), max_size=2))
    case = CaseFile(
        case_id=f"P-{draw(st.integers(0, 10**6))}",
        debtor=Debtor(
            id="D",
            name="Lee",
            phone="+15550100",
            email="lee@example.com",
            address="1 Main St",
            timezone=tz,
            locale=draw(st.sampled_from(["en-US", "zh-CN"])),
            third_party_phone=draw(st.sampled_from(["", "+15550199"])),
        ),
        product="loan",
        amount_due=Decimal(draw(st.integers(5_000, 2_000_000))).scaleb(-2),
        currency=cp.policy.currency,
        due_date=due,
        policy=cp.policy.name,
        consent={ch: False for ch in refused},
        attitude=draw(st.sampled_from(["cooperative", "neutral", "neutral", "evasive", "hostile"])),
    )
    return case, opened


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"))


def invalid_event(data: st.DataObject, cp: CompiledPolicy, s: CaseState, today: date) -> ev.Event:
    """An event the case must refuse (or, by chance, one it may take)."""
    cur = cp.policy.currency
    return data.draw(
        st.sampled_from(
            [
                ev.Payment(amount=Decimal("0"), currency=cur),
                ev.Payment(amount=Decimal("-5.00"), currency=cur),
                ev.Payment(amount=Decimal("1.005"), currency=cur),
                ev.Payment(amount=Decimal("10.00"), currency="EUR"),
                ev.Promise(amount=s.balance, due_date=today - timedelta(days=1)),
                ev.Promise(amount=s.balance + 1, due_date=today),
                ev.Hardship(days=0),
                ev.Approve(action="legal_referral"),
                ev.DisputeResolved(outcome="rejected"),
                ev.ContactOutcome(action_id="nope", outcome="failed"),
            ]
        ),
        label="invalid",
    )


def draw_events(
    data: st.DataObject, cp: CompiledPolicy, s: CaseState, today: date
) -> list[ev.Event]:
    """One plausible event for the case as it stands, or the outcomes of all its open calls."""
    calls = [c for c in s.contacts if c.channel == "call" and c.outcome is None]
    if len(calls) > 1 and data.draw(st.integers(0, 3), label="all outcomes") == 0:
        outcome = data.draw(st.sampled_from(["connected", "unanswered", "failed"]))
        return [ev.ContactOutcome(action_id=c.action_id, outcome=outcome) for c in calls]
    return [draw_event(data, cp, s, today)]


def draw_event(data: st.DataObject, cp: CompiledPolicy, s: CaseState, today: date) -> ev.Event:
    """A plausible event for the case as it stands (sometimes an invalid one, on purpose)."""
    cur = cp.policy.currency
    bal = s.balance
    calls = [c for c in s.contacts if c.channel == "call" and c.outcome is None]
    ops = ["payment", "promise", "promise", "plan", "plan", "hardship", "attitude"]
    ops += ["resolve", "resolve"] if s.hold("dispute") else ["dispute"]
    ops += ["approve"] * 3 if s.approvals_pending else []
    ops += ["outcome"] * 4 if calls else []
    ops += ["outcome"] if s.contacts else []
    ops += ["rare"]
    op = data.draw(st.sampled_from(ops), label="event")
    if op == "rare":
        op = data.draw(st.sampled_from(["cease", "close", "invalid", "invalid"]), label="rare")
    if op == "payment":
        kind = data.draw(st.sampled_from(["part", "part", "promise", "instalment", "full"]))
        amount = _cents(bal * Decimal(data.draw(st.integers(1, 60))) / 100)
        if kind == "promise" and s.promise is not None:
            amount = s.promise.amount - s.promise.paid
        elif kind == "instalment" and s.plan is not None:
            amount = s.plan.instalments[min(s.plan.checked, len(s.plan.instalments) - 1)].amount
        elif kind == "full":
            amount = bal
        # A reference from a small set: a repeat is a retried payment, acknowledged and not applied
        # (or refused if the amount differs); no reference always counts.
        ref = data.draw(st.sampled_from(["", "", "r1", "r2"]))
        return ev.Payment(amount=max(amount, Decimal("0.01")), currency=cur, ref=ref)
    if op == "promise":
        ratio = Decimal(data.draw(st.integers(5, 110))) / 100
        days = data.draw(st.integers(-1, cp.policy.promise.max_days + 1))
        return ev.Promise(
            amount=max(_cents(bal * ratio), Decimal("0.01")), due_date=today + timedelta(days=days)
        )
    if op == "plan":
        n = data.draw(st.integers(1, 4))
        each = _cents(bal / n)
        amounts = [each] * (n - 1) + [bal - each * (n - 1)]
        if data.draw(st.integers(0, 9)) == 0:
            amounts[-1] += Decimal("0.01")  # does not add up: must be rejected
        first = data.draw(st.integers(0, 10))
        gaps = [data.draw(st.integers(1, 15)) for _ in range(n - 1)]
        dates = [today + timedelta(days=first + sum(gaps[:k])) for k in range(n)]
        return ev.Plan(instalments=list(zip(amounts, dates, strict=True)))
    if op == "dispute":
        return ev.Dispute(reason="not mine")
    if op == "resolve":
        return ev.DisputeResolved(
            outcome=data.draw(st.sampled_from(["rejected", "rejected", "upheld"]))
        )
    if op == "hardship":
        return ev.Hardship(days=data.draw(st.integers(1, cp.policy.hardship.max_days)))
    if op == "approve":
        return ev.Approve(action=data.draw(st.sampled_from(s.approvals_pending)), by="ops")
    if op == "outcome":
        if calls:
            c = data.draw(st.sampled_from(calls))
            outcome = data.draw(
                st.sampled_from(["connected", "unanswered", "unanswered", "failed"])
            )
            return ev.ContactOutcome(action_id=c.action_id, outcome=outcome)
        return ev.ContactOutcome(action_id=s.contacts[-1].action_id, outcome="delivered")
    if op == "attitude":
        return ev.AttitudeChange(
            attitude=data.draw(st.sampled_from(["cooperative", "neutral", "evasive", "hostile"]))
        )
    if op == "cease":
        return ev.Cease()
    if op == "close":
        return ev.Close(
            reason=data.draw(st.sampled_from(["bankrupt", "deceased", "settled", "written_off"]))
        )
    return invalid_event(data, cp, s, today)


def same_decision(a: Decision, b: Decision) -> bool:
    """Two decisions say exactly the same thing."""
    return (
        a.state.model_dump() == b.state.model_dump()
        and a.next_wake_up == b.next_wake_up
        and [x.model_dump() for x in a.actions] == [x.model_dump() for x in b.actions]
        and [x.model_dump() for x in a.records] == [x.model_dump() for x in b.records]
    )


def waiting_on_someone(s: CaseState) -> bool:
    """A case may sleep without a wake-up only while it waits for a person or an open hold."""
    return bool(s.approvals_pending) or s.hold("dispute") is not None


def check_quiet(cp: CompiledPolicy, d: Decision, now: datetime, data: st.DataObject) -> None:
    """Nothing happens at any moment strictly before the wake-up the core asked for."""
    s = d.state
    if s.closed:
        assert d.next_wake_up is None
        return
    if d.next_wake_up is None:
        assert waiting_on_someone(s), f"open case with no wake-up and nothing to wait for at {now}"
        probe = now + timedelta(minutes=data.draw(st.integers(1, 60 * 24 * 60), label="probe"))
    else:
        assert d.next_wake_up > now, f"wake-up {d.next_wake_up} not after {now}"
        gap = d.next_wake_up - now
        if gap <= timedelta(microseconds=2):
            return
        probe = now + gap * data.draw(st.integers(1, 999), label="probe") / 1000
        probe = min(
            max(probe, now + timedelta(microseconds=1)), d.next_wake_up - timedelta(microseconds=1)
        )
    quiet = decide(cp, s, None, probe)
    assert not quiet.actions and not quiet.records, (
        f"decide at {probe} (between {now} and {d.next_wake_up}) did something: "
        f"{[r.reason for r in quiet.records]}"
    )


def drive(data: st.DataObject, cp: CompiledPolicy) -> Ledger:
    """Open a random case and run a random sequence of timers and events on it."""
    case, now = data.draw(case_files(cp), label="case")
    d = open_case(cp, case, now)
    ledger = Ledger(cp, case)
    ledger.add(now, None, d)
    check_quiet(cp, d, now, data)
    tz = ZoneInfo(case.debtor.timezone)
    for _ in range(data.draw(st.integers(5, MAX_STEPS), label="steps")):
        op = data.draw(
            st.sampled_from(("timer", "timer", "jump", "event", "event", "event")), label="op"
        )
        if op in ("timer", "jump"):
            horizon = now + timedelta(days=data.draw(st.integers(1, 30))) if op == "jump" else None
            for _ in range(MAX_TIMERS_PER_STEP if op == "jump" else data.draw(st.integers(1, 4))):
                wake = d.next_wake_up
                if wake is None or (horizon is not None and wake > horizon):
                    break
                now = wake
                d = decide(cp, d.state, None, now)
                ledger.add(now, None, d)
                check_quiet(cp, d, now, data)
            continue
        wake = d.next_wake_up
        if wake is None:
            now = now + timedelta(minutes=data.draw(st.integers(0, 20 * 24 * 60)))
        else:
            now = now + (wake - now) * data.draw(st.integers(0, 999)) / 1000
            now = min(now, wake - timedelta(microseconds=1)) if wake > now else now
        for e in draw_events(data, cp, d.state, now.astimezone(tz).date()):
            before = d.state.model_dump()
            try:
                nd = decide(cp, d.state, e, now)
            except EventRejected as err:
                assert str(err), "a rejection needs a message"
                assert d.state.model_dump() == before, "a rejected event changed the state"
                ledger.add(now, e, None)
                continue
            assert d.state.model_dump() == before, "decide() mutated its input state"
            assert same_decision(nd, decide(cp, d.state, e, now)), "same input, different decision"
            d = nd
            ledger.add(now, e, d)
        check_quiet(cp, d, now, data)
    return ledger


# -- the checker ---------------------------------------------------------------------------


@dataclass
class Interval:
    """A hold, in decision order: from decision `start` on, until decision `end_seq` or the
    moment `end_at`, whichever comes first (either may be open)."""

    kind: str
    start: int
    end_seq: int | None = None
    end_at: datetime | None = None

    def covers(self, seq: int, at: datetime) -> bool:
        return (
            self.start <= seq
            and (self.end_seq is None or seq < self.end_seq)
            and (self.end_at is None or at < self.end_at)
        )


def hold_intervals(ledger: Ledger) -> list[Interval]:
    """Every collection-stopping hold the events started, reconstructed from the events alone."""
    p = ledger.cp.policy
    tz = ledger.tz
    lim = LIMITS[p.name]

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=tz)

    out: list[Interval] = []
    dispute: Interval | None = None
    promise: tuple[Interval, Decimal, Decimal] | None = None
    plan: tuple[Interval, list[tuple[Decimal, datetime]], Decimal] | None = None

    def expire(at: datetime) -> None:
        nonlocal promise, plan
        if promise is not None and promise[0].end_at and promise[0].end_at <= at:
            promise = None
        if plan is not None:
            iv, schedule, paid = plan
            while schedule and schedule[0][1] <= at:
                due_total, deadline = schedule.pop(0)
                if paid < due_total:
                    iv.end_at = deadline
                    schedule = []
            plan = (iv, schedule, paid) if schedule else None

    for s in ledger.events():
        e, seq, at = s.event, s.seq, s.at
        expire(at)
        if isinstance(e, ev.Dispute):
            dispute = Interval("dispute", seq)
            out.append(dispute)
        elif isinstance(e, ev.DisputeResolved) and dispute is not None:
            dispute.end_seq = seq
            dispute = None
            if e.outcome == "rejected" and lim.pause_after_dispute_rejected:
                out.append(
                    Interval(
                        "pause", seq, end_at=at + timedelta(days=lim.pause_after_dispute_rejected)
                    )
                )
        elif isinstance(e, ev.Hardship):
            out.append(Interval("hardship", seq, end_at=at + timedelta(days=e.days)))
        elif isinstance(e, ev.Promise):
            iv = Interval(
                "promise",
                seq,
                end_at=midnight(e.due_date + timedelta(days=1 + p.promise.grace_days)),
            )
            out.append(iv)
            promise = (iv, e.amount, Decimal(0))
        elif isinstance(e, ev.Plan):
            iv = Interval("plan", seq)
            out.append(iv)
            total = Decimal(0)
            schedule = []
            for amount, due in e.instalments:
                total += amount
                schedule.append((total, midnight(due + timedelta(days=1 + p.plan.grace_days))))
            plan = (iv, schedule, Decimal(0))
        elif isinstance(e, ev.Payment):
            if promise is not None:
                iv, amount, paid = promise
                paid += e.amount
                promise = (iv, amount, paid)
                if paid >= amount:
                    iv.end_seq = seq
                    promise = None
                    continue
            if plan is not None:
                plan = (plan[0], plan[1], plan[2] + e.amount)
    expire(datetime.max.replace(tzinfo=tz))
    return out


def check_ledger(ledger: Ledger) -> None:
    """Every rule a run must keep, judged from its events and actions alone."""
    p = ledger.cp.policy
    lim = LIMITS[p.name]
    tz = ledger.tz
    actions = ledger.actions()
    contacts = [(s, a) for s, a in actions if a.kind == "contact"]

    # Every record has a reason; nothing happens after the case closed.
    for _, r in ledger.records():
        assert r.reason.strip(), f"record without a reason: {r}"
    closed_at = next((s.seq for s in ledger.steps if s.decision and s.decision.state.closed), None)
    if closed_at is not None:
        for s in ledger.steps[closed_at + 1 :]:
            assert s.event is None or not s.accepted, f"event {s.event} accepted after close"
            assert s.decision is None or not s.decision.actions, "actions after close"

    # Every action has its own id: the channels drop a repeated id as a duplicate.
    ids = [a.action_id for _, a in actions]
    assert len(ids) == len(set(ids)), (
        f"repeated action ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    )

    # Window and holidays, in the debtor's local time.
    for _, a in contacts:
        local = a.at.astimezone(tz)
        assert lim.window[0] <= local.time() < lim.window[1], (
            f"{a.action_id} at {local} is outside the window"
        )
        assert local.date() not in public_holidays(lim.country, local.year), (
            f"{a.action_id} on a holiday {local}"
        )

    # Rolling caps, per channel and overall.
    def rolling(times: list[datetime], mx: int, per: int, what: str) -> None:
        times = sorted(times)
        for i, t in enumerate(times):
            inside = [u for u in times[: i + 1] if u > t - timedelta(days=per)]
            assert len(inside) <= mx, f"{len(inside)} {what} contacts in {per} days up to {t}"

    for ch, (mx, per) in lim.caps.items():
        rolling([a.at for _, a in contacts if a.channel == ch], mx, per, ch)
    if lim.overall:
        rolling([a.at for _, a in contacts], *lim.overall, "overall")

    # Calls: cooldown after a conversation, per-day connected/unanswered.
    outcomes: dict[str, str] = {}
    for s in ledger.events():
        if isinstance(s.event, ev.ContactOutcome):
            outcomes[s.event.action_id] = s.event.outcome
    calls = [(s, a) for s, a in contacts if a.channel == "call"]
    if lim.call_cooldown_days:
        for s in ledger.events():
            if isinstance(s.event, ev.ContactOutcome) and s.event.outcome == "connected":
                end = s.at + timedelta(days=lim.call_cooldown_days)
                for cs, a in calls:
                    assert not (cs.seq >= s.seq and a.at < end), (
                        f"call {a.action_id} at {a.at} within the cooldown after {s.at}"
                    )
    per_day: dict[date, list[str]] = defaultdict(list)
    for _, a in calls:
        per_day[a.at.astimezone(tz).date()].append(outcomes.get(a.action_id, "unknown"))
    for day, outs in per_day.items():
        if lim.connected_per_day is not None:
            assert outs.count("connected") <= lim.connected_per_day, f"{outs} on {day}"
        if lim.unanswered_per_day is not None:
            assert len([o for o in outs if o != "connected"]) <= lim.unanswered_per_day, (
                f"{outs} on {day}"
            )

    # Holds: no contact and no stage move while one runs.
    intervals = hold_intervals(ledger)
    for s, a in contacts:
        for iv in intervals:
            assert not iv.covers(s.seq, a.at), (
                f"{a.action_id} at {a.at} during a {iv.kind} hold {iv}"
            )
    for s, r in ledger.records():
        if r.kind == "stage":
            for iv in intervals:
                assert not iv.covers(s.seq, r.at), (
                    f"stage move {r.reason} at {r.at} during a {iv.kind} hold"
                )

    # Cease: only legally required notices afterwards.
    cease = next((s.seq for s in ledger.events() if isinstance(s.event, ev.Cease)), None)
    if cease is not None:
        for s, a in contacts:
            if s.seq >= cease:
                assert p.templates[a.template or ""].legally_required, f"{a.action_id} after cease"

    # Field visits: escalation only, each after its own approval, two collectors.
    approvals = [
        s.seq
        for s in ledger.events()
        if isinstance(s.event, ev.Approve) and s.event.action == "field_visit"
    ]
    visits = [(s, a) for s, a in contacts if a.channel == "field_visit"]
    for k, (s, a) in enumerate(visits):
        assert a.stage == "escalation" and a.detail.get("collectors") == "2"
        assert len([x for x in approvals if x <= s.seq]) >= k + 1, (
            f"field visit {a.action_id} without approval"
        )

    # Third parties: only where allowed, after three failed attempts in a row.
    for s, a in contacts:
        if not a.third_party:
            continue
        assert lim.third_party and ledger.case.debtor.third_party_phone
        failed = 0
        for es in ledger.events():
            if es.seq > s.seq:
                break
            if isinstance(es.event, ev.ContactOutcome):
                failed = (
                    0
                    if es.event.outcome == "connected"
                    else failed + (es.event.outcome != "delivered")
                )
        assert failed >= 3, f"third-party call {a.action_id} after {failed} failed attempts"


class TestRandomCases:
    """Random cases and event sequences on both shipped policies never break a guardrail, and the
    core's wake-ups are exact: nothing happens between them."""

    # Passing takes well under a minute; a failure is shrunk for at most five minutes (hypothesis'
    # own limit), which must not be cut short by the suite's 300 s timeout.
    @pytest.mark.timeout(900)
    @pytest.mark.parametrize("name", sorted(LIMITS))
    @given(data=st.data())
    def test_guardrails_hold(self, name: str, data: st.DataObject) -> None:
        # The policy is looked up by name rather than taken as a fixture argument: hypothesis
        # prints the arguments of a failing example, and a whole policy is a 90 kB repr.
        check_ledger(drive(data, shipped(name)))
