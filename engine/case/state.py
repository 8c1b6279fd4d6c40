"""The case: what it is (debtor, debt, policy pin) and where it stands, in one serializable object.

`CaseState` is the only thing a workflow carries across continue-as-new, and the only thing the
simulator keeps per case.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from engine.case.vocabulary import Attitude, Channel, ContactResult, HoldKind, Stage

__all__ = [
    "CONDUCT",
    "PAYMENT_REFS_KEPT",
    "CaseFile",
    "CaseState",
    "ComplaintState",
    "ContactLog",
    "Debtor",
    "Hold",
    "Instalment",
    "Pending",
    "PlanState",
    "PolicyRef",
    "PromiseState",
    "SettlementState",
]

#: The rules-of-conduct version new cases start with. 2: one call at a time, attempts on one
#: channel an hour apart, no catch-up bursts, rolling windows in elapsed time. A case started
#: before (its state has no `conduct`, so 1) keeps deciding as it did, so its history replays.
#: 3: the engine sends the bureau notice a report needs on the way in, the bureau hears of
#: payments, plans and disputes, limitation counts from the last payment where the law says so and
#: a time-barred debt gets only required notices, `close settled` needs a paid settlement.
#: 4: a call's outcome is recorded once; a second one for the same call is refused.
CONDUCT = 4

#: Payment references a case remembers (the most recent), so a bank feed that retries a payment
#: is acknowledged instead of counted twice. Bounded so a case's state stays small across
#: continue-as-new; a retry arrives within hours or days, far fewer payments than this later.
PAYMENT_REFS_KEPT = 500


class Debtor(BaseModel):
    """The borrower. Personal data: encrypted in histories, redacted in logs."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    phone: str = ""
    email: str = ""
    address: str = ""
    timezone: str
    locale: str
    third_party_phone: str = ""  # a contact person the debtor named, if any


class PolicyRef(BaseModel):
    """The policy version a case is pinned to."""

    name: str
    version: int
    hash: str


class CaseFile(BaseModel):
    """A case as it arrives (one JSON object, one JSON line or one CSV row)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    debtor: Debtor
    product: str
    amount_due: Decimal = Field(gt=0)
    currency: str
    due_date: date
    policy: str
    risk_score: int | None = Field(default=None, ge=0, le=1000)
    consent: dict[str, bool] = {}
    attitude: Attitude = Attitude.NEUTRAL


class Hold(BaseModel):
    """Something that stops or pauses collection, orthogonal to the stage."""

    kind: HoldKind
    since: datetime
    until: datetime | None = None  # None: until an event releases it
    reason: str = ""


class PromiseState(BaseModel):
    """An open promise to pay `amount` by `due`."""

    amount: Decimal
    due: date
    made_at: datetime
    paid: Decimal = Decimal(0)


class Instalment(BaseModel):
    """One payment of a repayment plan."""

    amount: Decimal
    due: date


class PlanState(BaseModel):
    """An open repayment plan; `checked` counts instalments already judged."""

    instalments: list[Instalment]
    started_at: datetime
    paid: Decimal = Decimal(0)
    checked: int = 0


class SettlementState(BaseModel):
    """An agreed settlement for less: `amount` to pay by `until`, counted from `agreed_at`.

    `approved` is False while the policy waits for a human to approve it; a settlement closes the
    case only once approved and paid.
    """

    amount: Decimal
    until: date
    agreed_at: datetime
    balance_at: Decimal  # the balance it settles (fees stand still while it is open)
    paid: Decimal = Decimal(0)
    approved: bool = True


class ContactLog(BaseModel):
    """A contact attempt, kept for the rolling-window caps (pruned past the longest window)."""

    at: datetime
    channel: Channel
    action_id: str
    outcome: ContactResult | None = None
    third_party: bool = False  # sent to the debtor's contact person, not the debtor


class Pending(BaseModel):
    """A contact or step that is due but deferred by a guardrail until `not_before`."""

    key: str
    not_before: datetime
    guardrail: str


class ComplaintState(BaseModel):
    """A complaint and, once answered, its outcome. `text` is personal data."""

    id: str
    category: str
    channel: str
    text: str
    filed_at: datetime
    respond_by: date
    by: str = ""
    resolved_at: datetime | None = None
    outcome: str | None = None
    resolved_by: str = ""

    @property
    def open(self) -> bool:
        """Not yet answered."""
        return self.resolved_at is None


class CaseState(BaseModel):
    """Everything the core knows about one case."""

    case: CaseFile
    policy: PolicyRef
    opened_at: datetime
    balance: Decimal
    conduct: int = 1  # see CONDUCT; `open_case` sets the current version
    paid_total: Decimal = Decimal(0)
    fees_total: Decimal = Decimal(0)
    last_payment_on: date | None = (
        None  # debtor's local date; restarts limitation where the law says
    )
    #: What was paid beyond what the case owed: owed back to the debtor (never a negative balance).
    refund_due: Decimal = Decimal(0)
    #: Reference -> amount of the payments recorded with a reference (oldest first, bounded by
    #: `PAYMENT_REFS_KEPT`): the same reference again is acknowledged, never applied twice.
    payment_refs: dict[str, Decimal] = {}

    stage: Stage
    stage_entered_at: datetime
    stage_entered_day: int = 0  # collection-clock day at stage entry
    stage_seq: int = 0  # how many stages the case has entered; part of every action id
    closed: bool = False
    close_reason: str | None = None
    segment: str | None = None
    variant: str | None = None
    attitude: Attitude = Attitude.NEUTRAL

    paused_days: int = 0  # whole days the collection clock stood still (holds, promises)
    holds: list[Hold] = []
    promise: PromiseState | None = None
    plan: PlanState | None = None
    settlement: SettlementState | None = None

    done: list[str] = []  # plan occurrences / steps settled in this stage (sent, skipped)
    pending: list[Pending] = []  # deferred by a guardrail
    contacts: list[ContactLog] = []
    approvals_pending: list[str] = []
    approvals_granted: list[str] = []
    approvals_denied: list[str] = []  # refused in this stage: not asked for again until it ends
    complaints: list[ComplaintState] = []
    fees_applied: list[str] = []

    broken_promises: int = 0
    kept_promises: int = 0
    missed_instalments: int = 0
    failed_contacts: int = 0
    contacts_in_stage: int = 0
    contacts_total: int = 0
    deferred_total: int = 0
    #: The guardrails that deferred at least one contact or step of this case, sorted (what
    #: `deferred_total` counts, by name: a case held back by quiet hours reads differently from
    #: one held back by a frequency cap).
    deferred_by: list[str] = []
    last_conversation_at: datetime | None = None
    bureau_notice_at: datetime | None = None
    bureau_reported: bool = False
    bureau_updates: int = 0  # updates sent since the report (numbers their action ids)
    #: A report was ordered and waits for its notice period; it survives a stage change (a late
    #: import moving on to legal referral inside the notice period would otherwise never report).
    bureau_report_owed: bool = False
    agency_placed: bool = False
    #: Debtor fields (`phone`, `email`, `address`, `third_party_phone`) a channel reported
    #: unusable; contacts needing them are suppressed with `address_unusable.<field>`.
    unusable: list[str] = []

    def hold(self, kind: HoldKind) -> Hold | None:
        """The active hold of this kind, if any."""
        for h in self.holds:
            if h.kind == kind:
                return h
        return None

    def note_deferral(self, guardrail: str) -> None:
        """Count one deferral by `guardrail` (`deferred_total`, `deferred_by`)."""
        self.deferred_total += 1
        if guardrail not in self.deferred_by:
            self.deferred_by = sorted([*self.deferred_by, guardrail])

    @property
    def on_hold(self) -> bool:
        """Whether any hold is active (cease included)."""
        return bool(self.holds)
