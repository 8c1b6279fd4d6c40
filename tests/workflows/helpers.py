"""Helpers of the workflow tests: cases, driving them through time on the time-skipping server,
the pure-core oracle the shell is compared with, and recording histories for the replay test.

The oracle is the core alone: `open_case` at the moment the workflow opened the case, then
`decide` at every wake-up it asks for, and each event at the moment the workflow took it. The
workflow must produce the same records (kind, stage, reason, channel, action id, outcome) and the
outbox the same actions, at the same moments give or take the few milliseconds a timer or an
activity takes on the test server.

Recording: with ``OVERDUE_RECORD_HISTORIES=1`` in the environment, the tests that call
`record_history` write ``histories/<name>.json`` (the Temporal history, payloads sealed with the
test key) and ``histories/<name>.policy.json`` (the policy it ran on). See `test_replay`.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, Debtor
from engine.decision.decide import Decision
from engine.decision.driver import Lane
from engine.decision.status import CaseStatus, case_status
from engine.policy.compiled import CompiledPolicy
from engine.policy.contact_window import holiday_dates
from workers.outbox import Outbox, OutboxRow
from workflows.client import Cases
from workflows.types import EventResult

__all__ = [
    "HISTORIES",
    "RECORD_ENV",
    "TOLERANCE",
    "Driver",
    "HistorySize",
    "Oracle",
    "align",
    "assert_in_window",
    "assert_same_outbox",
    "assert_same_records",
    "assert_same_status",
    "compare_with_core",
    "local",
    "make_case",
    "record_history",
    "stage_days",
]

RECORD_ENV = "OVERDUE_RECORD_HISTORIES"
HISTORIES = Path(__file__).resolve().parent / "histories"
#: How far apart the shell's and the oracle's moments may be: a timer fires, and an activity
#: runs, a few milliseconds after the moment the core asked for.
TOLERANCE = timedelta(seconds=5)
DAY = timedelta(days=1)
#: Public holidays of the shipped jurisdictions, which `align` steps over.
_DAYS_OFF = holiday_dates(("CN", "US"))


# -- cases ---------------------------------------------------------------------------------
def make_case(
    cp: CompiledPolicy,
    case_id: str,
    due: date,
    amount: str,
    *,
    attitude: str = "neutral",
    locale: str | None = None,
) -> CaseFile:
    """A case on `cp` in the policy's time zone, with every contact address filled in."""
    return CaseFile(
        case_id=case_id,
        debtor=Debtor(
            id=f"D-{case_id}",
            name="Lee Wei",
            phone="+8613800000000",
            email="lee@example.com",
            address="1 Test Road",
            timezone=cp.policy.timezone,
            locale=locale or cp.policy.locales[0],
        ),
        product="credit-line",
        amount_due=Decimal(amount),
        currency=cp.policy.currency,
        due_date=due,
        policy=cp.policy.name,
        attitude=attitude,
    )


def local(t: datetime, tz: str) -> datetime:
    """`t` in the time zone `tz`."""
    return t.astimezone(ZoneInfo(tz))


def _next_hour(now: datetime, tz: str, hour: int) -> datetime:
    loc = local(now, tz)
    day = loc.date() if loc.time() < time(hour) else loc.date() + DAY
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(tz))


async def align(tsenv: WorkflowEnvironment, tz: str, hour: int = 2) -> datetime:
    """Skip to the next `hour`:00 local time in `tz`, on a day that is no public holiday of a
    shipped jurisdiction (nor is the day after), and return the moment.

    Tests open cases and look at them at that hour, at night, so a test's own moments never
    fall inside a contact window and the run does not depend on the hour the suite starts. The
    shared server's date is wherever earlier tests left it (years ahead): without the holiday
    check, a test whose day lands on one would see its contact moved to the next working day.
    """
    now = await tsenv.get_current_time()
    target = _next_hour(now, tz, hour)
    while target.date() in _DAYS_OFF or target.date() + DAY in _DAYS_OFF:
        target = datetime.combine(target.date() + DAY, time(hour), tzinfo=ZoneInfo(tz))
    await tsenv.sleep(target - now)
    return await tsenv.get_current_time()


# -- driving cases on the server, logging every event for the oracle -------------------------
@dataclass
class Driver:
    """Sends events through the typed client and remembers when the workflow took each one
    (the moment of its first record), so the oracle can replay them at the same moments."""

    tsenv: WorkflowEnvironment
    cases: Cases
    events: dict[str, list[tuple[datetime, ev.Event]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    approvals: dict[str, list[tuple[str, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    async def _logged(self, case_id: str, e: ev.Event, result: EventResult) -> EventResult:
        hist = await self.cases.history(case_id)
        n = len(result.reasons)
        assert n > 0, f"{e} left no record"
        assert [r.reason for r in hist[-n:]] == result.reasons, (hist[-n:], result.reasons)
        self.events[case_id].append((hist[-n].at, e))
        return result

    async def pay(self, case_id: str, amount: str, currency: str, ref: str = "") -> EventResult:
        """`Cases.pay`, logged."""
        r = await self.cases.send(
            case_id, ev.Payment(amount=Decimal(amount), currency=currency, ref=ref)
        )
        return await self._logged(
            case_id, ev.Payment(amount=Decimal(amount), currency=currency, ref=ref), r
        )

    async def promise(self, case_id: str, amount: str, due: date) -> EventResult:
        """`Cases.promise`, logged."""
        r = await self.cases.send(case_id, ev.Promise(amount=Decimal(amount), due_date=due))
        return await self._logged(case_id, ev.Promise(amount=Decimal(amount), due_date=due), r)

    async def send(self, case_id: str, e: ev.Event) -> EventResult:
        """`Cases.send` of any event, logged."""
        return await self._logged(case_id, e, await self.cases.send(case_id, e))

    async def dispute(self, case_id: str, reason: str = "") -> EventResult:
        """`Cases.dispute`, logged."""
        r = await self.cases.send(case_id, ev.Dispute(reason=reason))
        return await self._logged(case_id, ev.Dispute(reason=reason), r)

    async def resolve_dispute(
        self, case_id: str, outcome: Literal["upheld", "rejected"]
    ) -> EventResult:
        """`Cases.resolve_dispute`, logged."""
        r = await self.cases.send(case_id, ev.DisputeResolved(outcome=outcome))
        return await self._logged(case_id, ev.DisputeResolved(outcome=outcome), r)

    async def hardship(self, case_id: str, days: int) -> EventResult:
        """`Cases.hardship`, logged."""
        r = await self.cases.send(case_id, ev.Hardship(days=days))
        return await self._logged(case_id, ev.Hardship(days=days), r)

    async def approve(self, case_id: str, action: str) -> EventResult:
        """`Cases.approve` (by "test"), logged."""
        r = await self.cases.send(case_id, ev.Approve(action=action, by="test"))
        await self._logged(case_id, ev.Approve(action=action, by="test"), r)
        self.approvals[case_id].append((action, self.events[case_id][-1][0]))
        return r

    async def now(self) -> datetime:
        """The server's clock."""
        return await self.tsenv.get_current_time()

    async def run(
        self,
        case_ids: list[str],
        days: int,
        *,
        tz: str,
        hour: int = 2,
        approve: bool = True,
        until_stage: str | None = None,
    ) -> dict[str, CaseStatus]:
        """Let `days` nights pass, stopping at `hour`:00 local time in `tz` each night (exactly,
        so no timer the cases set after an event falls due at the very moment a step ends) and
        approving there whatever the cases wait for.

        Stops early once every case is closed or (with `until_stage`) has reached that stage.
        Returns the last status of each case.
        """
        status: dict[str, CaseStatus] = {}
        for _ in range(days):
            now = await self.now()
            await self.tsenv.sleep(_next_hour(now, tz, hour) - now)
            for cid in case_ids:
                st = await self.cases.status(cid)
                if approve and st.approvals_pending:
                    for name in st.approvals_pending:
                        await self.approve(cid, name)
                    st = await self.cases.status(cid)
                status[cid] = st
            if all(
                s.closed or (until_stage is not None and s.stage == until_stage)
                for s in status.values()
            ):
                break
        return status


# -- the oracle: the pure core alone ----------------------------------------------------------
@dataclass
class Oracle:
    """A case driven by the core alone (its driver, `Lane`), the way the workflow drives it."""

    lane: Lane
    decision: Decision
    actions: list[Action] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    @classmethod
    def run(
        cls,
        cp: CompiledPolicy,
        case: CaseFile,
        opened_at: datetime,
        events: list[tuple[datetime, ev.Event]] = (),
        end: datetime | None = None,
    ) -> Oracle:  # type: ignore[assignment]
        """Open at `opened_at`, take `events` at their moments, let time run to `end`
        (or, without `end`, until the case closes or has nothing left to wait for)."""
        lane, d = Lane.open(cp, case, opened_at)
        o = cls(lane, d)
        o._take(d)
        for at, e in events:
            o.until(at, inclusive=False)
            o._take(lane.decide(e, at))
        o.until(end)
        return o

    @property
    def cp(self) -> CompiledPolicy:
        """The policy the case runs on."""
        return self.lane.cp

    @property
    def now(self) -> datetime:
        """The oracle's clock."""
        return self.lane.now

    @property
    def state(self) -> CaseState:
        """The case as it stands."""
        return self.lane.state

    @property
    def wake(self) -> datetime | None:
        """The next wake-up the core asked for."""
        return self.lane.wake

    def _take(self, d: Decision) -> None:
        self.decision = d
        self.actions.extend(d.actions)
        self.records.extend(d.records)

    def until(self, end: datetime | None, *, inclusive: bool = True) -> None:
        """Fire every timer up to `end` (all of them when None)."""
        for d in self.lane.until(end, inclusive=inclusive):
            self._take(d)

    def status(self, now: datetime | None = None) -> CaseStatus:
        """The status the core gives at `now`."""
        return case_status(self.cp, self.state, now or self.now, self.wake)


# -- comparisons ------------------------------------------------------------------------------
def _rec(r: Record) -> tuple[Any, ...]:
    detail = {k: v for k, v in r.detail.items() if k != "until"}  # a moment, compared below
    return (r.kind, r.stage, r.reason, r.channel, r.action_id, r.outcome, detail)


def assert_same_records(got: list[Record], want: list[Record], tol: timedelta = TOLERANCE) -> None:
    """Same decisions with the same reasons, in the same order, at (nearly) the same moments."""
    assert [_rec(r) for r in got] == [_rec(r) for r in want]
    for g, w in zip(got, want, strict=True):
        assert abs(g.at - w.at) <= tol, (g, w)
        if "until" in w.detail:
            gap = datetime.fromisoformat(g.detail["until"]) - datetime.fromisoformat(
                w.detail["until"]
            )
            assert abs(gap) <= tol, (g, w)


def _row(r: OutboxRow) -> tuple[Any, ...]:
    return (r.action_id, r.kind, r.channel, r.template, r.recipient, r.message, r.detail)


def _act(a: Action) -> tuple[Any, ...]:
    return (a.action_id, a.kind, a.channel, a.template, a.to, a.message, a.detail)


def assert_same_outbox(
    rows: list[OutboxRow], want: list[Action], tol: timedelta = TOLERANCE
) -> None:
    """The outbox holds exactly the oracle's actions (contacts and steps), once each.

    The outbox keeps one row per action id, so of two oracle actions sharing an id only the first
    can appear (see `test_events.test_close_actions_have_distinct_ids` for the core bug that
    makes two close actions share one).
    """
    first: dict[str, Action] = {}
    for a in want:
        first.setdefault(a.action_id, a)
    ordered = sorted(first.values(), key=lambda a: (a.at, a.action_id))
    assert [_row(r) for r in rows] == [_act(a) for a in ordered]
    for r, a in zip(rows, ordered, strict=True):
        assert abs(r.at - a.at) <= tol, (r, a)


def assert_same_status(got: CaseStatus, want: CaseStatus) -> None:
    """The workflow's status query agrees with the core's status of the oracle case."""
    fields = (
        "stage",
        "closed",
        "close_reason",
        "balance",
        "paid",
        "segment",
        "variant",
        "holds",
        "approvals_pending",
        "contacts",
        "broken_promises",
        "policy",
    )
    assert {f: getattr(got, f) for f in fields} == {f: getattr(want, f) for f in fields}


def assert_in_window(rows: list[OutboxRow], cp: CompiledPolicy, tz: str) -> int:
    """Every contact left inside the policy's contact window, on a working day, in the
    debtor's local time. Returns how many contacts were checked."""
    contacts = [r for r in rows if r.kind == "contact"]
    for r in contacts:
        at = local(r.at, tz)
        assert cp.rules.window_start <= at.time() < cp.rules.window_end, (r.action_id, at)
        assert at.date() not in cp.rules.days_off, (r.action_id, at)
    return len(contacts)


async def compare_with_core(
    drv: Driver, outbox: Outbox, cp: CompiledPolicy, case: CaseFile, *, end: datetime | None = None
) -> tuple[list[Record], list[OutboxRow], Oracle]:
    """Check the case against the oracle fed the same events at the same moments: records,
    outbox and status. `end`: the moment to run the oracle to (None: the case is closed).
    Returns the workflow's records, the outbox rows and the oracle."""
    cid = case.case_id
    records = await drv.cases.history(cid)
    rows = outbox.list(cid)
    status = await drv.cases.status(cid)
    oracle = Oracle.run(cp, case, records[0].at, drv.events[cid], end)
    assert_same_records(records, oracle.records)
    assert_same_outbox(rows, oracle.actions)
    assert_same_status(status, oracle.status())
    assert assert_in_window(rows, cp, case.debtor.timezone) == status.contacts
    return records, rows, oracle


def stage_days(records: list[Record], due: date, tz: str) -> list[tuple[str, int]]:
    """(stage entered, local calendar day past due) of every stage change and close."""
    return [
        (r.detail["to"], (local(r.at, tz).date() - due).days)
        for r in records
        if r.kind in ("stage", "close")
    ]


# -- histories --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistorySize:
    """How big a run's history is."""

    events: int
    json_bytes: int  # the committed JSON form (compact)
    proto_bytes: int  # the serialised protobuf, as Temporal stores it


async def record_history(
    handle: WorkflowHandle[Any, Any], name: str, cp: CompiledPolicy
) -> HistorySize:
    """Fetch the run's history and measure it; with OVERDUE_RECORD_HISTORIES=1 write it (and its
    policy snapshot) under `histories/`."""
    history = await handle.fetch_history()
    text = json.dumps(json.loads(history.to_json()), separators=(",", ":"), sort_keys=True)
    if os.environ.get(RECORD_ENV):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        snapshot = json.dumps(
            cp.policy.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False
        )
        (HISTORIES / f"{name}.policy.json").write_text(snapshot + "\n", encoding="utf-8")
    proto = History(events=history.events).ByteSize()
    return HistorySize(len(history.events), len(text.encode()), proto)
