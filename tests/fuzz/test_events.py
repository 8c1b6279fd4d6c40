"""Fuzz: events fed to the core (as the workflow's one `event` update does) with any values the
event types let through are applied or rejected with `EventRejected`, leaving a rejected case
untouched; between events time passes; at the end the case is never stuck."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.case import events as ev
from engine.decision.decide import Decision, decide, open_case
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from tests.fuzz.drive import NOW, case_on, run_for
from tests.fuzz.harness import FUZZ, Tally, examples, judge

POLICIES = ("consumer-credit-line", "instalment-loan")
AMOUNTS = [
    "1e400",
    "1" * 30,
    "9" * 28,
    "0",
    "-5",
    "0.001",
    "10.005",
    "1E+999999999",
    "1e-999999999",
    "999999999999999",
    "1000000000000000",
    "0.01",
    "1",
    "100.00",
]
TEXTS = [
    "",
    "x" * 501,
    "x" * 100_000,
    "\r\n",
    "\x00",
    "🙂" * 10,
    "{name}",
    "legal_referral",
    "field_visit",
]


def amounts(balance: Decimal) -> st.SearchStrategy[Decimal]:
    """Amounts around the balance (so some events are taken), extremes, and anything finite."""
    return st.one_of(
        st.sampled_from([balance, balance / 2, balance * 2, balance + Decimal("0.01")]).map(
            lambda d: d.quantize(Decimal("0.01"))
        ),
        st.sampled_from(AMOUNTS).map(Decimal),
        st.decimals(allow_nan=False, allow_infinity=False),
    )


def dates(today: date) -> st.SearchStrategy[date]:
    return st.one_of(
        st.integers(-40, 400).map(lambda n: today + timedelta(days=n)),
        st.sampled_from([date.min, date.max, date(1970, 1, 1), date(2100, 12, 31)]),
        st.dates(),
    )


@st.composite
def event(draw: st.DrawFn, d: Decision, currency: str, today: date) -> ev.Event:
    """One event of any kind, with values the type accepts (the type is the wire's only check)."""
    s = d.state
    text = st.one_of(st.sampled_from(TEXTS), st.text(max_size=30))
    kind = draw(
        st.sampled_from(
            [
                "payment",
                "promise",
                "plan",
                "dispute",
                "resolved",
                "hardship",
                "cease",
                "close",
                "approve",
                "outcome",
                "attitude",
            ]
        )
    )
    if kind == "payment":
        return ev.Payment(
            amount=draw(amounts(s.balance)),
            currency=draw(st.sampled_from([currency, currency, "EUR", ""])),
            ref=draw(text),
        )
    if kind == "promise":
        return ev.Promise(amount=draw(amounts(s.balance)), due_date=draw(dates(today)))
    if kind == "plan":
        n = draw(st.integers(1, 14))
        if draw(st.booleans()):  # a plan that adds up, monthly or at drawn dates
            part = (s.balance / n).quantize(Decimal("0.01"))
            parts = [part] * (n - 1) + [s.balance - part * (n - 1)]
            return ev.Plan(
                instalments=[(a, today + timedelta(days=30 * (i + 1))) for i, a in enumerate(parts)]
            )
        return ev.Plan(
            instalments=draw(
                st.lists(st.tuples(amounts(s.balance), dates(today)), min_size=1, max_size=n)
            )
        )
    if kind == "dispute":
        return ev.Dispute(reason=draw(text))
    if kind == "resolved":
        return ev.DisputeResolved(outcome=draw(st.sampled_from(["upheld", "rejected"])))
    if kind == "hardship":
        return ev.Hardship(
            days=draw(st.one_of(st.integers(-5, 400), st.integers(-(10**30), 10**30)))
        )
    if kind == "cease":
        return ev.Cease()
    if kind == "close":
        return ev.Close(
            reason=draw(st.sampled_from(["bankrupt", "deceased", "settled", "written_off"]))
        )
    if kind == "approve":
        return ev.Approve(
            action=draw(
                st.one_of(st.sampled_from(s.approvals_pending or ["legal_referral"]), text)
            ),
            by=draw(text),
        )
    if kind == "outcome":
        known = [c.action_id for c in s.contacts] or ["nope"]
        return ev.ContactOutcome(
            action_id=draw(st.one_of(st.sampled_from(known), text)),
            outcome=draw(st.sampled_from(["delivered", "connected", "unanswered", "failed"])),
            reason=draw(st.sampled_from(["", "webhook HTTP 400", "x" * 200])),
            address_unusable=draw(st.booleans()),
        )
    return ev.AttitudeChange(
        attitude=draw(st.sampled_from(["cooperative", "neutral", "evasive", "hostile"]))
    )


def _into(out: list[Any], f: Callable[..., Any], *args: Any) -> None:
    out.append(f(*args))


def feed(
    cp: CompiledPolicy, d: Decision, now: datetime, days: float, e: ev.Event
) -> tuple[Decision, datetime]:
    """Let `days` pass from `now` (firing timers), then apply `e`; a rejection must leave the case
    exactly as it was."""
    d, now = run_for(cp, d, now, days)
    before = d.state.model_dump()
    try:
        return decide(cp, d.state, e, now), now
    finally:
        assert d.state.model_dump() == before, "decide changed the state it was given"


def play(data: st.DataObject, tally: Tally | None = None) -> None:
    """Open a case and feed it up to eight events a few days apart, judging each; then let four
    months pass."""
    cp = registry.load(data.draw(st.sampled_from(POLICIES)))
    d = open_case(cp, case_on(cp, days_overdue=data.draw(st.integers(-3, 120))), NOW)
    now, zone = NOW, ZoneInfo(d.state.case.debtor.timezone)
    for _ in range(data.draw(st.integers(1, 8))):
        days = data.draw(st.sampled_from([0, 0.2, 1, 3, 15, 40]))
        e = data.draw(
            event(d, cp.policy.currency, (now + timedelta(days=days)).astimezone(zone).date())
        )
        result: list[tuple[Decision, datetime]] = []
        outcome, detail = judge(partial(_into, result, feed, cp, d, now, days, e), tally)
        assert outcome in ("ok", "clear"), f"{e!r}: {detail}"
        if result:
            d, now = result[0]
        else:  # rejected: the time passed all the same
            d, now = run_for(cp, d, now, days)
    final: list[Decision] = []
    outcome, detail = judge(lambda: final.append(run_for(cp, d, now, 120)[0]), tally)
    assert outcome in ("ok", "clear"), detail


@settings(FUZZ, max_examples=examples(100))
@given(st.data())
def test_events(data: st.DataObject) -> None:
    """Every event is applied or rejected clearly; a rejected one changes nothing; no case sticks."""
    play(data)
