"""Property: whatever order a person's events come in, across two or three accounts (on one
policy, or for the US on two: the shipped one and a stricter test policy), no contact breaks a
rule of the person (per-person caps, same-instant attempts, the US seven days after a
conversation, the CN daily call limits) nor of the case, as judged by the independent auditors.

The cases are driven as production drives them: each case decides alone, every contact asks the
person's ledger (`grant`), a refusal comes back as `ContactDeferred`. Hypothesis chooses what
happens next: a timer, a call's outcome (within the outcome timeout, at any moment), or a
debtor's event on any of the accounts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.case import events as ev
from engine.case.person import PersonLedger
from engine.decision.caps import CALL_OUTCOME_TIMEOUT
from engine.decision.decide import Decision
from engine.decision.driver import Lane, person_event, settle
from engine.errors import EventRejected
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from simulator.audit import Auditor, limits_of
from simulator.audit_person import PersonAuditor
from simulator.trace import trace_lines
from tests.conftest import SHIPPED, load_shipped
from tests.engine.driver import case_file

DAY = timedelta(days=1)
START = datetime(2026, 3, 2, tzinfo=UTC)
#: Same-currency policies a person's other accounts may be on, by shipped policy.
OTHERS = {"instalment-loan": ["sms-strict-usd"]}
FIXTURES = Path(__file__).parent.parent / "fixtures" / "policies"


def _policies(data: st.DataObject, cp: CompiledPolicy, n: int) -> list[CompiledPolicy]:
    """The policy of each of `n` accounts: the first on `cp`, the others on it or on a
    same-currency policy of `OTHERS`."""
    pool = [registry.load(str(FIXTURES / f"{o}.yaml")) for o in OTHERS.get(cp.policy.name, [])]
    pool.append(cp)  # last: hypothesis favours the first choice, the other policy
    return [cp] + [data.draw(st.sampled_from(pool), label="policy") for _ in range(n - 1)]


def _event(data: st.DataObject, run: Lane) -> ev.Event:
    s = run.state
    choices: list[ev.Event] = [
        ev.AttitudeChange(
            attitude=data.draw(st.sampled_from(["cooperative", "neutral", "evasive", "hostile"]))
        )
    ]
    if s.hold("dispute") is None:
        choices.append(ev.Dispute(reason="test"))
    else:
        choices.append(ev.DisputeResolved(outcome="rejected"))
    if s.hold("hardship") is None:
        choices.append(ev.Hardship(days=data.draw(st.integers(1, 20))))
    if s.hold("cease") is None:
        choices.append(ev.Cease())
    if s.balance > 10:
        choices.append(ev.Payment(amount=Decimal(5), currency=s.case.currency, ref=""))
    return data.draw(st.sampled_from(choices))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_rule_of_the_person_is_broken(data: st.DataObject) -> None:
    cp = load_shipped(data.draw(st.sampled_from(SHIPPED)))
    n = data.draw(st.integers(2, 3), label="accounts")
    cps = _policies(data, cp, n)
    due = date(2026, 3, 2) - timedelta(days=data.draw(st.integers(0, 40), label="days overdue"))
    cases = [
        case_file(
            cps[k],
            case_id=f"C-{k}",
            due=due + timedelta(days=data.draw(st.integers(0, 4))),
            amount="9000.00",
        )
        for k in range(n)
    ]
    ledger = PersonLedger(debtor_id="D-1")
    runs: list[Lane] = []
    auditors: list[Auditor] = []
    lines: list[dict[str, object]] = []
    calls: dict[str, tuple[int, datetime]] = {}  # unanswered-for call -> (case, when)
    outcomes: dict[str, str] = {}
    violations: list[str] = []

    def take(k: int, d: Decision, now: datetime, e: ev.Event | None) -> None:
        nonlocal ledger
        run = runs[k]
        settled, ledger = settle(run, k, d, now, e, ledger)
        violations.extend(settled.refusals)
        for a in settled.actions:
            if a.kind == "contact" and a.channel == "call":
                calls[a.action_id] = (k, now)
        violations.extend(
            auditors[k].observe(
                Decision(
                    run.state, settled.actions, settled.decision.next_wake_up, settled.records
                ),
                now,
                e,
            )
        )
        lines.extend(
            trace_lines(
                run.state.case.case_id,
                "D-1",
                ZoneInfo(run.state.case.debtor.timezone),
                settled.records,
                {},
            )
        )

    for k, c in enumerate(cases):
        run, d = Lane.open(cps[k], c, START, in_place=True)
        runs.append(run)
        auditors.append(Auditor(cps[k], c))
        take(k, d, START, None)

    now = START

    def fire_until(t: datetime) -> None:
        nonlocal now
        while True:
            due_runs = [
                (r.wake, k)
                for k, r in enumerate(runs)
                if r.wake is not None and r.wake <= t and not r.state.closed
            ]
            if not due_runs:
                break
            wake, k = min(due_runs)
            assert wake is not None
            now = max(now, wake)
            take(k, runs[k].decide(None, now), now, None)

    for _ in range(data.draw(st.integers(5, 60), label="steps")):
        what = data.draw(
            st.sampled_from(["timer", "outcome", "outcome", "event"])
        )  # outcomes twice as often
        open_calls = sorted(calls.items(), key=lambda kv: kv[1][1])
        if what == "outcome" and open_calls:
            aid, (k, placed) = data.draw(st.sampled_from(open_calls))
            when = placed + timedelta(minutes=data.draw(st.integers(0, 110)))
            del calls[aid]
            if when < now or runs[k].state.closed:
                continue  # too late to come back within the timeout: it stays unanswered
            fire_until(when - timedelta(microseconds=1))
            if when < now:
                continue
            now = when
            outcome = data.draw(st.sampled_from(["connected", "unanswered"]))
            e: ev.Event = ev.ContactOutcome(action_id=aid, outcome=outcome)
            try:
                d = runs[k].decide(e, now)
            except EventRejected:
                continue
            outcomes[aid] = outcome
            ledger = person_event(ledger, e, now)
            take(k, d, now, e)
        elif what == "event":
            k = data.draw(st.integers(0, n - 1))
            when = now + timedelta(minutes=data.draw(st.integers(0, 3 * 24 * 60)))
            fire_until(when - timedelta(microseconds=1))
            now = max(now, when)
            if runs[k].state.closed:
                continue
            e = _event(data, runs[k])
            try:
                d = runs[k].decide(e, now)
            except EventRejected:
                continue
            ledger = person_event(ledger, e, now)
            take(k, d, now, e)
        else:
            wakes = [r.wake for r in runs if r.wake is not None and not r.state.closed]
            if not wakes:
                break
            fire_until(min(wakes))

    people = PersonAuditor({c.hash: limits_of(c) for c in cps})
    policy_of = {c.case_id: cps[k].hash for k, c in enumerate(cases)}
    for line in sorted(lines, key=lambda x: str(x["at"])):
        if line["kind"] == "contact" and line["channel"] == "call":
            line = {**line, "outcome": outcomes.get(_action_of(line, runs), "unanswered")}
        violations.extend(people.observe(line, policy_of[str(line["case_id"])]))
    assert violations == []
    assert CALL_OUTCOME_TIMEOUT > timedelta(minutes=110)


def _action_of(line: dict[str, object], runs: list[Lane]) -> str:
    """The action id of a traced call (trace lines carry the case and the plan item)."""
    stage_key = str(line["reason"])
    stage, key = stage_key.split(".", 1)
    for r in runs:
        if r.state.case.case_id == line["case_id"]:
            for c in r.state.contacts:
                if c.action_id.endswith(f".{stage}/{key}"):
                    return c.action_id
    return ""
