"""One decision in progress: the case, the clock and what has been decided so far.

Shared by `engine.decision.decide`, `engine.decision.events_apply` and `engine.decision.contacts` so each stays small. The
clock arithmetic lives here: the collection clock runs from the due date, in the debtor's local
calendar days, less every day it stood still (disputes, hardship, promises, plans).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from heapq import merge
from operator import itemgetter
from zoneinfo import ZoneInfo

from engine.case.actions import Action, Record
from engine.case.state import CaseState, Hold
from engine.case.vocabulary import HoldKind
from engine.policy.compiled import CompiledPolicy, PlanEntry
from engine.policy.conditions import CaseFacts, Condition
from engine.policy.contact_window import zone
from engine.policy.model import ContactItem

__all__ = ["CONTACT_STOPPING", "Ctx", "local_midnight"]


_day = itemgetter(0)

#: Holds during which no contact goes out and no stage moves.
CONTACT_STOPPING = frozenset(
    {
        HoldKind.DISPUTE,
        HoldKind.HARDSHIP,
        HoldKind.PAUSE,
        HoldKind.PROMISE,
        HoldKind.PLAN,
        HoldKind.SETTLEMENT,
        HoldKind.COMPLAINT,
    }
)


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """The first moment of local day `d`."""
    return datetime.combine(d, time(0), tzinfo=tz)


@dataclass
class Ctx:
    """A decision being made for one case at one moment."""

    cp: CompiledPolicy
    state: CaseState
    now: datetime
    actions: list[Action] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tz = zone(self.state.case.debtor.timezone)
        self.policy = self.cp.policy
        self.rules = self.cp.rules
        # `now` never changes within a decision: its local date is worked out once.
        self.today = self.now.astimezone(self.tz).date()

    # -- the clock -------------------------------------------------------------------------
    def local_date(self, at: datetime | None = None) -> date:
        """The debtor's local calendar date at `at` (default now)."""
        if at is None or at is self.now:
            return self.today
        return at.astimezone(self.tz).date()

    def calendar_dpd(self) -> int:
        """Calendar days since the due date (what the debtor and the bureau count)."""
        return (self.today - self.state.case.due_date).days

    def limitation_start(self) -> date:
        """The day the limitation period runs from: the due date, or the last payment where the
        jurisdiction restarts the period on a payment."""
        s = self.state
        if (
            self.rules.limitation_restarts_on_payment
            and s.last_payment_on is not None
            and s.conduct >= 3
        ):
            return max(s.case.due_date, s.last_payment_on)
        return s.case.due_date

    def time_barred(self) -> bool:
        """Whether the debt is past the limitation period, on calendar days (never the paused
        collection clock: a dispute or a hardship pause does not stop limitation)."""
        return (self.today - self.limitation_start()).days > self.rules.limitation_days

    def time_barred_at(self) -> datetime:
        """The first moment the debt is time-barred (if nothing restarts the period before)."""
        return local_midnight(
            self.limitation_start() + timedelta(days=self.rules.limitation_days + 1), self.tz
        )

    def clock_pausing(self, h: Hold) -> bool:
        """Whether this hold stops the collection clock."""
        if h.kind == "promise":
            return self.policy.promise.pause_clock
        return h.kind in CONTACT_STOPPING

    def pause_start(self) -> datetime | None:
        """When the clock stopped, if it stands still now."""
        holds = self.state.holds
        if not holds:
            return None
        starts = [h.since for h in holds if self.clock_pausing(h)]
        return min(starts) if starts else None

    def clock_day(self) -> int:
        """The collection clock: calendar days past due, less every paused day."""
        s = self.state
        day = (self.today - s.case.due_date).days - s.paused_days
        if s.holds:
            start = self.pause_start()
            if start is not None:
                day -= (self.today - self.local_date(start)).days
        return day

    def day_start(self, day: int) -> datetime:
        """The moment the (running) collection clock reaches `day`."""
        d = self.state.case.due_date + timedelta(days=day + self.state.paused_days)
        return local_midnight(d, self.tz)

    def day_at(self, day: int, at: time) -> datetime:
        """The local moment `at` on collection-clock `day`."""
        d = self.state.case.due_date + timedelta(days=day + self.state.paused_days)
        return datetime.combine(d, at, tzinfo=self.tz)

    @property
    def stopped(self) -> bool:
        """Whether a hold stops contacts and stage moves now."""
        holds = self.state.holds
        return bool(holds) and any(h.kind in CONTACT_STOPPING for h in holds)

    # -- the contact plan --------------------------------------------------------------------
    def occurrences(self) -> Iterator[tuple[datetime, str, ContactItem]]:
        """Live occurrences of the current stage's plan, in due order: (due moment, key, item),
        not yet settled. Lazy: a caller that stops at the first one in the future pays for no
        more. The settled keys are taken when iteration starts.

        An occurrence planned before the case entered the stage (a late import, a late approval
        into legal referral) is never replayed, unless its template is a legally required notice:
        that one falls due once, the moment the case entered the stage, and goes out under the
        usual guardrails (window, holidays, holds, consent).
        """
        s = self.state
        plan = self.cp.contact_plan.get(s.stage)
        if not plan:
            return
        start = bisect_left(plan, s.stage_entered_day, key=_day)
        settled = set(s.done)
        if start:
            required = self.cp.legally_required
            missed = [
                (s.stage_entered_at, k, item)
                for _, k, item, _ in plan[:start]
                if item.template in required and k not in settled
            ]
            if missed:
                yield from merge(missed, self._planned(plan[start:], settled), key=_day)
                return
        yield from self._planned(plan[start:] if start else plan, settled)

    def _planned(
        self, plan: Sequence[PlanEntry], settled: set[str]
    ) -> Iterator[tuple[datetime, str, ContactItem]]:
        base = self.state.case.due_date + timedelta(days=self.state.paused_days)
        tz = self.tz
        combine = datetime.combine
        for day, k, item, at in plan:
            if k not in settled:
                yield combine(base + timedelta(days=day), at, tzinfo=tz), k, item

    # -- facts and records -----------------------------------------------------------------
    def facts(self) -> CaseFacts:
        """The values conditions are evaluated against."""
        s = self.state
        day = self.clock_day()
        return {
            "days_past_due": day,
            "days_in_stage": day - s.stage_entered_day,
            "balance": s.balance,
            "amount_due": s.case.amount_due,
            "risk_score": s.case.risk_score,
            "attitude": s.attitude,
            "product": s.case.product,
            "segment": s.segment,
            "variant": s.variant,
            "broken_promises": s.broken_promises,
            "kept_promises": s.kept_promises,
            "missed_instalments": s.missed_instalments,
            "failed_contacts": s.failed_contacts,
            "contacts_in_stage": s.contacts_in_stage,
            "paid_ratio": (s.paid_total / s.case.amount_due) if s.case.amount_due else 0,
            "time_barred": self.time_barred(),
        }

    def record(self, kind: str, reason: str, **kw: object) -> None:
        """Add a line to the audit trail."""
        detail = kw.pop("detail", None) or {}
        self.records.append(
            Record(
                at=self.now, kind=kind, stage=self.state.stage, reason=reason, detail=detail, **kw
            )
        )

    def action_id(self, key: str) -> str:
        """The deterministic id of an action: same case, stage entry and plan item, same id."""
        s = self.state
        return f"{s.case.case_id}/{s.stage_seq}.{s.stage}/{key}"

    def explain(self, cond: Condition | None, facts: CaseFacts) -> str:
        """A condition with the values it was judged on: `days_past_due >= 30 [days_past_due=30]`."""
        from engine.policy.conditions import describe

        names: list[str] = []

        def walk(c: Condition | None) -> None:
            if c is None:
                return
            if c.field and c.field not in names:
                names.append(c.field)
            for sub in (c.all or []) + (c.any or []):
                walk(sub)

        walk(cond)
        values = ", ".join(f"{n}={facts.get(n)}" for n in names)
        return f"{describe(cond)} [{values}]" if values else describe(cond)
