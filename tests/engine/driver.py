"""Test scaffolding for the core: building cases and small policies, and driving a case through
time the way the workflow does (decide at each wake-up, events in between), keeping every
action and record for the assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, Debtor
from engine.decision.decide import Decision
from engine.decision.driver import Lane
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import Policy

__all__ = ["Run", "at", "calls", "case_file", "inline_policy"]


def at(d: date, hh: int, mm: int = 0, tz: str = "UTC") -> datetime:
    """A local moment in `tz`."""
    return datetime.combine(d, time(hh, mm), tzinfo=ZoneInfo(tz))


def case_file(
    cp: CompiledPolicy,
    *,
    due: date = date(2025, 3, 3),
    amount: str = "1500.00",
    tz: str | None = None,
    case_id: str = "C-1",
    attitude: str = "neutral",
    consent: dict[str, bool] | None = None,
    third_party_phone: str = "",
    locale: str = "en-US",
    risk_score: int | None = None,
    product: str = "credit-line",
) -> CaseFile:
    """A case on `cp` with every contact address filled in."""
    return CaseFile(
        case_id=case_id,
        debtor=Debtor(
            id="D-1",
            name="Lee",
            phone="+15550100",
            email="lee@example.com",
            address="1 Main St",
            timezone=tz or cp.policy.timezone,
            locale=locale,
            third_party_phone=third_party_phone,
        ),
        product=product,
        amount_due=Decimal(amount),
        currency=cp.policy.currency,
        due_date=due,
        policy=cp.policy.name,
        consent=consent or {},
        attitude=attitude,
        risk_score=risk_score,
    )


_BASE: dict[str, Any] = {
    "name": "inline",
    "version": 1,
    "jurisdictions": ["US"],
    "timezone": "America/New_York",
    "currency": "USD",
    "locales": ["en-US"],
    "send_time": "10:00",
    "segments": [{"name": "all"}],
    "stages": {"reminder": {"contacts": []}},
    "templates": {
        "t": {"text": {"en-US": "Hi {name}, {amount} {currency} is due."}},
        "legal": {"text": {"en-US": "Notice to {name}."}, "legally_required": True},
        "notice": {"text": {"en-US": "{name}, we may report this."}, "bureau_notice": True},
        "visit": {"text": {"en-US": "Visit {name}."}},
    },
}


_PLACES = {"US": ("America/New_York", "USD"), "CN": ("Asia/Shanghai", "CNY")}


def inline_policy(jurisdiction: str = "US", **overrides: Any) -> CompiledPolicy:
    """A small policy under one jurisdiction: the base above with top-level keys replaced."""
    tz, currency = _PLACES[jurisdiction]
    doc = {
        **_BASE,
        "jurisdictions": [jurisdiction],
        "timezone": tz,
        "currency": currency,
        **overrides,
    }
    return registry.register(Policy.model_validate(doc))


def calls(n: int, day: int = 1, first_hour: int = 9, **item: Any) -> list[dict[str, Any]]:
    """`n` call items on `day`, an hour apart from `first_hour`."""
    return [
        {
            "id": f"c{i}",
            "day": day,
            "channel": "call",
            "template": "t",
            "at": f"{first_hour + i:02d}:00",
            **item,
        }
        for i in range(n)
    ]


@dataclass
class Run:
    """One case driven through time (by the core's driver, `Lane`): every decision's actions and
    records, in order."""

    lane: Lane
    decision: Decision
    actions: list[Action] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    decisions: int = 0

    @classmethod
    def open(cls, cp: CompiledPolicy, case: CaseFile, now: datetime) -> Run:
        """Open the case at `now`."""
        lane, d = Lane.open(cp, case, now)
        run = cls(lane, d)
        run._take(d)
        return run

    @property
    def cp(self) -> CompiledPolicy:
        """The policy the case runs on."""
        return self.lane.cp

    @property
    def now(self) -> datetime:
        """The run's clock."""
        return self.lane.now

    @property
    def state(self) -> CaseState:
        """The case as it stands."""
        return self.lane.state

    @property
    def wake(self) -> datetime | None:
        """The next wake-up the core asked for."""
        return self.lane.wake

    def _take(self, d: Decision) -> Decision:
        self.decision = d
        self.actions.extend(d.actions)
        self.records.extend(d.records)
        self.decisions += 1
        return d

    def tick(self) -> Decision:
        """Fire the timer at the wake-up."""
        return self._take(self.lane.tick())

    def until(self, end: datetime, max_steps: int = 5000) -> Run:
        """Fire timers up to and including `end` (and land the clock on `end`)."""
        for d in self.lane.until(end, max_steps=max_steps):
            self._take(d)
        return self

    def event(self, e: ev.Event, when: datetime | None = None) -> Decision:
        """Deliver an event at `when` (after firing every timer due before it)."""
        if when is not None:
            assert when >= self.now, f"{when} is before the run's clock {self.now}"
            for d in self.lane.until(when, inclusive=False):
                self._take(d)
        return self._take(self.lane.decide(e, when or self.now))

    def approve_all(self, when: datetime | None = None) -> None:
        """Approve everything the case is waiting for."""
        for name in list(self.state.approvals_pending):
            self.event(ev.Approve(action=name, by="test"), when)

    # -- views -----------------------------------------------------------------------------
    def contacts(self) -> list[Action]:
        """Every contact sent so far."""
        return [a for a in self.actions if a.kind == "contact"]

    def kinds(self, kind: str) -> list[Record]:
        """Records of one kind."""
        return [r for r in self.records if r.kind == kind]

    def sent(self, reason: str) -> list[Action]:
        """The contacts sent for one plan item occurrence (`stage.key`)."""
        return [a for a in self.contacts() if a.reason == reason]

    def deferred(self, reason: str) -> list[Record]:
        """The deferral records of one plan item occurrence."""
        return [r for r in self.records if r.kind == "deferred" and r.reason == reason]

    def guardrails(self, kind: str) -> list[str]:
        """The guardrail named by every record of `kind` (deferred, suppressed)."""
        return [r.detail.get("guardrail", "") for r in self.records if r.kind == kind]

    def stage_moves(self) -> list[tuple[str, str]]:
        """(from, to) of every stage change and close."""
        return [
            (r.detail["from"], r.detail["to"]) for r in self.records if r.kind in ("stage", "close")
        ]

    def local(self, t: datetime) -> datetime:
        """`t` in the debtor's time zone."""
        return t.astimezone(ZoneInfo(self.state.case.debtor.timezone))
