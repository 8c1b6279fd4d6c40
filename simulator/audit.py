"""An independent guardrail auditor: judges the decisions of one case against the law and policy.

Written from the jurisdiction floors (`engine.policy.jurisdictions`) and the policy's own guardrail
section, not from the core's guardrail code, so that it catches the core's mistakes. It follows the
case through the events fed to it and the decisions that came out, and reports every contact that
breaks a rule: the contact window and holidays in the debtor's local time, every cap (per channel,
overall, call attempts, CN connected/unanswered calls per day, the US cooldown after a
conversation), holds (dispute, hardship, pause, promise, plan), cease, consent, third parties,
field visits; and any action after the case closed or record without a reason.

    auditor = Auditor(cp, case)
    violations = auditor.observe(decision, now, event)   # after each decide/advance

Holds are rebuilt from the events alone, except a policy `pause` (an event effect's
`pause_days`), whose start and end are read from the state the core reports.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from engine.case import events as ev
from engine.case.state import CaseFile
from engine.decision.decide import Decision
from engine.policy.compiled import CompiledPolicy
from engine.policy.jurisdictions import JURISDICTIONS

__all__ = ["Auditor", "Limits", "limits_of"]

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """Every guardrail figure a policy runs under, each constraint kept separately."""

    window_start: time
    window_end: time
    calendars: tuple[str, ...]
    caps: dict[str, list[tuple[int, int]]]  # channel -> [(max, per_days), ...]
    overall: list[tuple[int, int]]
    call_cooldown_days: int | None
    connected_per_day: int | None
    unanswered_per_day: int | None
    third_party_allowed: bool
    third_party_after_failed: int


def _least(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def limits_of(cp: CompiledPolicy) -> Limits:
    """The guardrails of a policy, from its jurisdictions' floors and its own tightenings."""
    p = cp.policy
    g = p.guardrails
    floors = [JURISDICTIONS[j] for j in p.jurisdictions]
    caps: dict[str, list[tuple[int, int]]] = {ch: [(c.max, c.per_days)] for ch, c in g.caps.items()}
    for f in floors:
        if f.calls.max_attempts is not None:
            caps.setdefault("call", []).append((f.calls.max_attempts, f.calls.attempts_days))
    if g.call_max_attempts_7d is not None:
        caps.setdefault("call", []).append((g.call_max_attempts_7d, 7))
    cooldowns = [f.calls.cooldown_days_after_conversation for f in floors]
    cooldowns.append(g.call_cooldown_days_after_conversation)
    return Limits(
        window_start=max(
            [f.window_start for f in floors] + ([g.window_start] if g.window_start else [])
        ),
        window_end=min([f.window_end for f in floors] + ([g.window_end] if g.window_end else [])),
        calendars=tuple(sorted({c for f in floors for c in f.holidays} | set(g.holidays))),
        caps=caps,
        overall=[(g.overall.max, g.overall.per_days)] if g.overall else [],
        call_cooldown_days=max((c for c in cooldowns if c), default=None),
        connected_per_day=_least(
            *(f.calls.max_connected_per_day for f in floors), g.calls_connected_per_day
        ),
        unanswered_per_day=_least(
            *(f.calls.max_unanswered_per_day for f in floors), g.calls_unanswered_per_day
        ),
        third_party_allowed=all(f.third_party_allowed for f in floors) and g.third_party_contact,
        third_party_after_failed=max(3, g.third_party_after_failed),
    )


@lru_cache(maxsize=256)
def _days_off(calendars: tuple[str, ...], year: int) -> frozenset[date]:
    out: set[date] = set()
    for c in calendars:
        out.update(holidays.country_holidays(c, years=[year]).keys())
    return frozenset(out)


@dataclass
class _Plan:
    schedule: list[tuple[Decimal, datetime]]  # (amount owed in total by then, deadline)
    paid: Decimal = Decimal(0)


#: The debtor field each channel reaches (push goes to the app: never refused as an address).
_ADDRESS = {
    "sms": "phone",
    "call": "phone",
    "email": "email",
    "letter": "address",
    "field_visit": "address",
}


@dataclass
class _Calls:
    connected: int = 0
    other: int = 0


@dataclass
class Auditor:
    """Follows one case; `observe` each decision (with the event that caused it, if any)."""

    cp: CompiledPolicy
    case: CaseFile
    limits: Limits = field(init=False)
    tz: ZoneInfo = field(init=False)
    closed: bool = False
    dispute: bool = False
    ceased: bool = False
    hardship_until: datetime | None = None
    pauses: dict[datetime, datetime | None] = field(default_factory=dict)  # since -> until
    promise: tuple[Decimal, datetime] | None = None  # (amount still to pay, deadline)
    plan: _Plan | None = None
    failed: int = 0
    last_conversation: datetime | None = None
    visits_approved: int = 0
    times: dict[str, list[datetime]] = field(default_factory=dict)  # channel -> contact times
    all_times: list[datetime] = field(default_factory=list)
    call_days: dict[date, _Calls] = field(default_factory=dict)
    call_day_of: dict[str, date] = field(default_factory=dict)  # action id -> local day
    sent: dict[str, str] = field(default_factory=dict)  # action id -> the debtor field it went to
    unusable: set[str] = field(default_factory=set)  # debtor fields a channel refused
    opted_out: set[str] = field(default_factory=set)  # channels the debtor withdrew consent to
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limits = limits_of(self.cp)
        self.tz = ZoneInfo(self.case.debtor.timezone)

    # -- following the case ----------------------------------------------------------------
    def _midnight_after(self, d: date, grace: int) -> datetime:
        return datetime.combine(d + timedelta(days=1 + grace), time(0), tzinfo=self.tz)

    def _event(self, e: ev.Event, now: datetime) -> None:
        if isinstance(e, ev.Promise | ev.Plan | ev.Payment):
            self._money(e)
        elif isinstance(e, ev.ContactOutcome):
            self._outcome(e, now)
        elif isinstance(e, ev.Dispute):
            self.dispute = True
        elif isinstance(e, ev.DisputeResolved):
            self.dispute = False
        elif isinstance(e, ev.Hardship):
            self.hardship_until = now + e.days * DAY
        elif isinstance(e, ev.Cease) and e.channel is not None:
            self.opted_out.add(e.channel)
        elif isinstance(e, ev.Cease):
            self.ceased = True
        elif isinstance(e, ev.Approve) and e.action == "field_visit":
            self.visits_approved += 1

    def _money(self, e: ev.Promise | ev.Plan | ev.Payment) -> None:
        p = self.cp.policy
        if isinstance(e, ev.Promise):
            self.promise = (e.amount, self._midnight_after(e.due_date, p.promise.grace_days))
        elif isinstance(e, ev.Plan):
            total = Decimal(0)
            schedule = []
            for amount, due in e.instalments:
                total += amount
                schedule.append((total, self._midnight_after(due, p.plan.grace_days)))
            self.plan = _Plan(schedule)
        else:
            if self.promise is not None:
                left = self.promise[0] - e.amount
                if left <= 0:
                    self.promise = None
                    return  # the payment went to the promise; a plan does not see it
                self.promise = (left, self.promise[1])
            if self.plan is not None:
                self.plan.paid += e.amount

    def _outcome(self, e: ev.ContactOutcome, now: datetime) -> None:
        if e.outcome == "connected":
            self.failed = 0
            self.last_conversation = now
        elif e.outcome in ("unanswered", "failed"):
            self.failed += 1
        if e.outcome == "failed" and e.address_unusable and e.action_id in self.sent:
            self.unusable.add(self.sent[e.action_id])
        day = self.call_day_of.get(e.action_id)
        if day is not None and e.outcome == "connected":
            calls = self.call_days[day]
            calls.other -= 1  # counted as not connected until the outcome came back
            calls.connected += 1

    def _let_time_pass(self, now: datetime) -> None:
        if self.hardship_until is not None and self.hardship_until <= now:
            self.hardship_until = None
        if self.promise is not None and self.promise[1] <= now:
            self.promise = None
        plan = self.plan
        while plan is not None and plan.schedule and plan.schedule[0][1] <= now:
            owed, _ = plan.schedule.pop(0)
            if plan.paid < owed:
                plan.schedule = []
        if plan is not None and not plan.schedule:
            self.plan = None

    def _holds(self, now: datetime) -> list[str]:
        out = []
        if self.dispute:
            out.append("dispute")
        if self.hardship_until is not None:
            out.append("hardship")
        if self.promise is not None:
            out.append("promise")
        if self.plan is not None:
            out.append("plan")
        if any(
            since <= now and (until is None or now < until) for since, until in self.pauses.items()
        ):
            out.append("pause")
        return out

    # -- judging ---------------------------------------------------------------------------
    def observe(
        self, decision: Decision, now: datetime, event: ev.Event | None = None
    ) -> list[str]:
        """Judge one decision made at `now` (after `event`, if one was fed); returns the violations
        it holds (also kept in `violations`)."""
        found: list[str] = []
        if event is None and not decision.actions and not decision.records:
            # Nothing to judge; holds run out by the clock alone, judged at the next contact.
            return found
        if self.closed:
            if decision.actions or decision.records:
                found.append(
                    f"{self.case.case_id}: decided after the case closed at {now.isoformat()}: "
                    + ", ".join(r.reason for r in decision.records)
                )
            self.violations.extend(found)
            return found
        if event is not None:
            self._event(event, now)
        self._let_time_pass(now)
        for h in decision.state.holds:
            if h.kind == "pause":
                self.pauses[h.since] = h.until
        for r in decision.records:
            if not r.reason.strip():
                found.append(
                    f"{self.case.case_id}: a {r.kind} record without a reason at {r.at.isoformat()}"
                )
        for a in decision.actions:
            if a.kind == "contact":
                found.extend(
                    f"{a.action_id}: {v}"
                    for v in self._contact(
                        a.channel or "", a.template or "", a.third_party, a.stage, a.at, a.action_id
                    )
                )
        if decision.state.closed:
            self.closed = True
        self.violations.extend(found)
        return found

    def _contact(
        self,
        channel: str,
        template: str,
        third_party: bool,
        stage: str,
        at: datetime,
        action_id: str,
    ) -> list[str]:
        lim = self.limits
        out: list[str] = []
        local = at.astimezone(self.tz)
        if not lim.window_start <= local.time() < lim.window_end:
            out.append(
                f"{channel} at {local.isoformat()} local, outside {lim.window_start:%H:%M}-"
                f"{lim.window_end:%H:%M}"
            )
        if lim.calendars and local.date() in _days_off(lim.calendars, local.year):
            out.append(f"{channel} on a public holiday ({local.date()}, {'+'.join(lim.calendars)})")
        holds = self._holds(at)
        if holds:
            out.append(f"{channel} during a {'/'.join(holds)} hold")
        tpl = self.cp.policy.templates.get(template)
        if self.ceased and not (tpl is not None and tpl.legally_required):
            out.append(f"{channel} with {template!r} after a cease-communication request")
        if self.case.consent.get(channel) is False:
            out.append(f"{channel}: the debtor refused this channel")
        elif channel in self.opted_out:
            out.append(f"{channel}: the debtor opted out of this channel")
        out.extend(self._whom(channel, third_party, stage))
        to = "third_party_phone" if third_party else _ADDRESS.get(channel, channel)
        if to in self.unusable:
            out.append(f"{channel} to the debtor's {to}, which a channel refused before")
        self.sent[action_id] = to
        out.extend(self._caps(channel, at))
        if channel == "call":
            out.extend(self._call(at, local.date(), action_id))
        return out

    def _whom(self, channel: str, third_party: bool, stage: str) -> list[str]:
        lim = self.limits
        out = []
        if third_party:
            if not lim.third_party_allowed:
                out.append("third-party contact where it is not allowed")
            elif not self.case.debtor.third_party_phone:
                out.append("third-party contact without a named contact person")
            elif self.failed < lim.third_party_after_failed:
                out.append(
                    f"third-party contact after only {self.failed} failed attempts "
                    f"(needs {lim.third_party_after_failed})"
                )
        if channel == "field_visit":
            if stage != "escalation":
                out.append(f"field visit in {stage}")
            if self.visits_approved <= 0:
                out.append("field visit without an approval")
            self.visits_approved = max(0, self.visits_approved - 1)
        return out

    def _caps(self, channel: str, at: datetime) -> list[str]:
        """Rolling caps: this contact included, at most `max` in any `per` days ending now."""
        out = []
        at = at.astimezone(UTC)  # elapsed time: a window across a DST change is still 7 x 24 hours
        times = self.times.setdefault(channel, [])
        times.append(at)
        self.all_times.append(at)
        for mx, per in self.limits.caps.get(channel, []):
            n = len(times) - bisect_right(times, at - per * DAY)
            if n > mx:
                out.append(f"{n} {channel} contacts in {per} days (cap {mx})")
        for mx, per in self.limits.overall:
            n = len(self.all_times) - bisect_right(self.all_times, at - per * DAY)
            if n > mx:
                out.append(f"{n} contacts in {per} days (overall cap {mx})")
        return out

    def _call(self, at: datetime, day: date, action_id: str) -> list[str]:
        lim = self.limits
        out = []
        if lim.call_cooldown_days and self.last_conversation is not None:
            until = self.last_conversation.astimezone(UTC) + lim.call_cooldown_days * DAY
            if at < until:
                out.append(
                    f"call within {lim.call_cooldown_days} days of a conversation "
                    f"({self.last_conversation.isoformat()})"
                )
        calls = self.call_days.setdefault(day, _Calls())
        # The call may connect or not: both per-day caps must still have room for it.
        if lim.connected_per_day is not None and calls.connected >= lim.connected_per_day:
            out.append(
                f"call on {day} after {calls.connected} connected calls that day "
                f"(cap {lim.connected_per_day})"
            )
        if lim.unanswered_per_day is not None and calls.other >= lim.unanswered_per_day:
            out.append(
                f"call on {day} after {calls.other} unanswered calls that day "
                f"(cap {lim.unanswered_per_day})"
            )
        calls.other += 1
        self.call_day_of[action_id] = day
        return out
