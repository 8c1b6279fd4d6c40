"""The case workflow: a thin, durable shell around the core's `decide()`.

The workflow owns *when* and *durability*: it sleeps exactly until the core's next wake-up or
until an event arrives, asks the core what to do, and carries the actions out as
activities. The core owns *what*. Nothing here may do I/O, read the clock (only
`workflow.now()`), use randomness or threads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from engine.case import events as ev
    from engine.case.actions import Action, Record
    from engine.case.money import format_amount
    from engine.case.state import CaseState
    from engine.case.vocabulary import RecordKind
    from engine.decision.decide import Decision, decide, open_case, validate
    from engine.decision.migrate import check_migration, migrate
    from engine.decision.status import CaseStatus, case_status
    from engine.errors import EventRejected
    from engine.policy import registry
    from engine.policy.compiled import CompiledPolicy
    from workers.activities import ACTIVITY_FOR, tell_person
    from workflows import search_attributes as sa
    from workflows.cleartext import ClearText
    from workflows.debtor_types import PersonNotice
    from workflows.details import action_summary, case_details
    from workflows.types import HISTORY_LIMIT, ActionResult, CaseInput, CaseResult, EventResult

__all__ = ["CaseWorkflow", "loggable"]

#: A timer that fires no later than this after the moment the core asked for is decided *at* that
#: moment, so the case decides exactly as the core alone (and the simulator) would: a rolling
#: frequency cap judged a few milliseconds late would otherwise count a contact from exactly
#: seven days before. A timer later than this (a worker was down) is decided at the real moment,
#: because the contacts it sends leave now.
TIMER_SLACK = timedelta(minutes=1)

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)

#: A contact whose channel keeps failing for a while (a server down, an SMTP 4xx) is given up,
#: and the case records it as a failed contact: one contact that cannot leave must not hold back
#: every later step of the case behind it. Ten tries over about ten minutes, and never more than
#: half an hour in all.
CONTACT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
)
CONTACT_GIVE_UP = timedelta(minutes=30)

#: A case whose decision raised retries it after this, doubling up to `STUCK_RETRY_MAX`: a fixed
#: build deployed meanwhile takes the case on within the hour, and a case stuck for days adds no
#: more than a couple of short runs an hour.
STUCK_RETRY_FIRST = timedelta(minutes=1)
STUCK_RETRY_MAX = timedelta(hours=1)
#: Cases that took a cease before the workflow told the person's ledger itself (the client did)
#: replay as they ran; from then on the workflow tells it (`_tell_person`).
TELL_PERSON_PATCH = "tell-person"


def loggable(r: Record) -> str:
    """What the worker's log says of a record: for holds and releases only the hold's kind,
    because their reasons carry free text (a dispute's reason is often the debtor's own words);
    the other logged kinds' reasons are the policy's rule and guardrail names."""
    if r.kind in ("hold", "release"):
        return r.detail.get("hold", "")
    return r.reason


def _result(s: CaseState, d: Decision) -> EventResult:
    """What an accepted update tells its caller: where the case stands after decision `d`."""
    return EventResult(
        case_id=s.case.case_id,
        stage=s.stage,
        closed=s.closed,
        balance=format_amount(s.balance, s.case.currency),
        currency=s.case.currency,
        holds=[h.kind for h in s.holds],
        reasons=d.reasons,
        debtor_id=s.case.debtor.id,
        already_recorded=any(r.kind == "payment" and r.outcome == "duplicate" for r in d.records),
    )


def _give_up_reason(err: ActivityError) -> str:
    """The last failure of a contact activity, in words without personal data."""
    cause = err.cause
    if isinstance(cause, ActivityTimeout):
        return "timed out"
    if isinstance(cause, ApplicationError):
        # the activity puts the channel's short reason first in the details
        if cause.type == "DeliveryFailed" and cause.details and isinstance(cause.details[0], str):
            return cause.details[0]
        return cause.type or "error"
    return type(cause).__name__ if cause is not None else "error"


def _count(records: list[Record]) -> None:
    """Domain metrics through Temporal's meter (skipped on replay, so each decision counts once):
    contacts by channel and outcome, deferrals by guardrail, stage moves, payments, approvals
    asked for, failed decisions. Labels never carry personal data."""
    meter = workflow.metric_meter()
    for r in records:
        if r.kind == "contact":
            meter.create_counter("overdue_contacts", "Contacts sent").add(
                1, {"channel": r.channel or "", "outcome": r.outcome or ""}
            )
        elif r.kind == "deferred":
            meter.create_counter(
                "overdue_deferrals", "Contacts and steps deferred by a guardrail"
            ).add(1, {"guardrail": r.detail.get("guardrail", "")})
        elif r.kind in ("stage", "close"):
            meter.create_counter("overdue_stage_moves", "Cases entering a stage").add(
                1, {"to": r.detail.get("to", "")}
            )
        elif r.kind == "payment":
            meter.create_counter("overdue_payments", "Payments recorded").add(1)
        elif r.kind == "approval" and "outcome" not in r.detail:
            meter.create_counter("overdue_approvals_requested", "Approvals asked for").add(
                1, {"approval": r.detail.get("approval", "")}
            )
        elif r.kind == "error":
            meter.create_counter("overdue_decisions_failed", "Decisions that raised").add(1)


@workflow.defn(name="Case")
class CaseWorkflow:
    """One overdue case, from opening to its terminal stage."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        """Build the case from its input before any handler runs.

        An update sent right after the start (a payment, a dispute) can reach the workflow in its
        very first activation; with the state built here its validator and handler always see
        the case. Building the state issues no command, so histories replay as before.
        """
        self._state: CaseState | None = None
        self._cp: CompiledPolicy | None = None
        self._history: list[Record] = []
        self._dropped = 0
        self._wake: datetime | None = None
        self._queue: list[Action] = []
        self._changed = False
        self._indexed: dict[str, object] = {}
        self._indexing = False
        self._index_facts = False
        #: "<type>: <message>" of the decision that raised, while the case waits for a fix.
        self._stuck: str | None = None
        self._stuck_retries = 0
        self._retry_at: datetime | None = None
        #: A decision raised in this run: it continues as new before anything else happens.
        self._raised = False
        #: Why the core refused to open the case (the run fails with it, non-retryable).
        self._refused: str | None = None
        self._cp = registry.get(inp.policy.hash)
        if inp.state is None:
            if inp.case is not None:
                try:
                    self._apply(open_case(self._cp, inp.case, workflow.now(), conduct=inp.conduct))
                except EventRejected as e:
                    self._refused = str(e)
        else:
            self._state = inp.state
            self._history = list(inp.history)
            self._dropped = inp.history_dropped
            self._wake = inp.next_wake_up
            self._queue = list(inp.pending_actions)
            if inp.stuck is not None:
                self._stuck, self._stuck_retries = inp.stuck, inp.stuck_retries
                self._retry_at = workflow.now() + self._retry_delay()

    # -- the loop -------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        """Open (or resume) the case and drive it until it closes."""
        if inp.state is None and inp.case is None:
            raise ApplicationError("CaseInput needs a case or a state", non_retryable=True)
        if self._refused is not None:
            raise ApplicationError(self._refused, type="CaseRejected", non_retryable=True)
        # Attributes already set at start (by the client) or carried over by continue-as-new are
        # not upserted again: each upsert is a history event.
        # Runs started before the client set attributes at start (inputs without the flag)
        # upserted every attribute; they must keep doing so to replay. A flag in the input, not
        # workflow.patched(): a patch marker would cost the very history event this saves.
        # Likewise a flag, not only the `index-facts` patch: a new case would otherwise spend a
        # marker event on a patch it cannot have been started before.
        self._index_facts = inp.index_facts
        if inp.attributes_at_start:
            started_with = workflow.info().typed_search_attributes
            self._indexed = {
                k.name: v for k in sa.ALL_KEYS if (v := started_with.get(k)) is not None
            }
        self._index()
        self._indexing = True
        self._describe()
        while True:
            await self._carry_out()
            state = self._state
            assert state is not None
            if state.closed:
                break
            if self._raised:
                # The run in which a decision raised ends now: left open, a fixed build replaying
                # it would decide where the broken one raised, and fail on nondeterminism.
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue_as_new(inp)
            if self._should_continue_as_new(inp):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue:
                    self._continue_as_new(inp)
            timeout = None
            wake = self._retry_at if self._stuck is not None else self._wake
            if wake is not None:
                timeout = max(wake - workflow.now(), timedelta(0))
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed or bool(self._queue), timeout=timeout
                )
            except TimeoutError:
                # the current state, not `state`: an update handled in the same activation as
                # the timer has already moved it on, and deciding on the old one would lose it
                self._decide(None, self._timer_moment())
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._carry_out()
        state = self._state
        assert state is not None
        cur = state.case.currency
        return CaseResult(
            case_id=state.case.case_id,
            stage=state.stage,
            close_reason=state.close_reason,
            balance=format_amount(state.balance, cur),
            paid=format_amount(state.paid_total, cur),
            runs=inp.runs,
        )

    def _timer_moment(self) -> datetime:
        """The moment to decide a fired timer at: the wake-up asked for, if the timer is on time."""
        now = workflow.now()
        wake = self._wake
        if wake is not None and wake <= now <= wake + TIMER_SLACK:
            return wake
        return now

    def _apply(self, d: Decision) -> None:
        self._state = d.state
        self._wake = d.next_wake_up
        self._queue.extend(d.actions)
        self._history.extend(d.records)
        self._changed = True
        for r in d.records:
            if r.kind in ("stage", "close", "deferred", "hold", "release"):
                workflow.logger.info("case %s: %s %s", d.state.case.case_id, r.kind, loggable(r))
        _count(d.records)
        if self._state is not None and self._indexing:
            self._index()
            self._describe()

    def _decide(self, event: ev.Event | None, now: datetime) -> Decision | None:
        """Decide on the current state and apply the decision.

        A decision that raises (a bug, not a rejected event) changes nothing: it is recorded,
        alerts, and the case is stuck until a retry succeeds (None is returned). `EventRejected`
        passes through.
        """
        assert self._state is not None and self._cp is not None
        try:
            d = decide(self._cp, self._state, event, now)
        except EventRejected:
            raise
        except Exception as err:  # one broken decision must not fail the case
            self._got_stuck(err, event)
            return None
        if self._stuck is not None:
            workflow.logger.warning(
                "case %s: decisions work again after %d failure(s)",
                self._state.case.case_id,
                self._stuck_retries,
            )
            self._stuck, self._stuck_retries, self._retry_at = None, 0, None
        self._apply(d)
        return d

    def _got_stuck(self, err: Exception, event: ev.Event | None) -> None:
        assert self._state is not None
        what = event.kind if event is not None else "timer"
        text = f"{type(err).__name__}: {err}"[:300]
        tb = err.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else "?"
        self._stuck = text
        self._stuck_retries += 1
        self._raised = True
        self._retry_at = workflow.now() + self._retry_delay()
        self._history.append(
            Record(
                at=workflow.now(),
                kind=RecordKind.ERROR,
                stage=self._state.stage,
                reason=f"decision on {what} failed: {text}",
                detail={"error": type(err).__name__, "on": what},
            )
        )
        self._changed = True
        # the alert names the error's type and place only: its message may quote the debtor
        workflow.logger.error(
            "case %s is stuck: the decision on %s raised %s at %s; it waits for a fix",
            self._state.case.case_id,
            what,
            type(err).__name__,
            where,
        )

    def _retry_delay(self) -> timedelta:
        doublings: int = min(max(self._stuck_retries - 1, 0), 10)
        return min(STUCK_RETRY_FIRST * (1 << doublings), STUCK_RETRY_MAX)

    def _stuck_error(self) -> ApplicationError:
        assert self._state is not None
        return ApplicationError(
            f"case {self._state.case.case_id} is stuck after an internal error ({self._stuck}); "
            "it takes events again once a fix is deployed",
            type="CaseStuck",
            non_retryable=True,
        )

    async def _carry_out(self) -> None:
        """Run queued actions in order, one activity each; ids make retries harmless.

        A contact that failed (permanently, or transiently past `CONTACT_RETRY`) is a
        `ContactOutcome` the core records; the case goes on.
        """
        while self._queue:
            action = self._queue[0]
            contact = action.kind == "contact"
            try:
                result = await workflow.execute_activity_method(
                    ACTIVITY_FOR[action.kind],
                    action,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=CONTACT_RETRY if contact else _RETRY,
                    schedule_to_close_timeout=CONTACT_GIVE_UP if contact else None,
                    summary=ClearText(action_summary(action)),
                )
            except ActivityError as err:
                if not contact:
                    raise
                result = ActionResult(
                    action_id=action.action_id,
                    status="failed",
                    reason=f"gave up retrying: {_give_up_reason(err)}",
                )
            self._queue.pop(0)
            self._describe()
            if result.status == "failed":
                self._contact_failed(action, result)
            elif result.status == "deferred":
                self._contact_deferred(action, result)

    def _contact_failed(self, action: Action, result: ActionResult) -> None:
        """Record a contact that did not leave; a closed case only logs it."""
        assert self._state is not None and self._cp is not None
        workflow.logger.warning(
            "case %s: contact %s failed: %s", action.case_id, action.action_id, result.reason
        )
        outcome = ev.ContactOutcome(
            action_id=action.action_id,
            outcome="failed",
            reason=result.reason[:200],
            address_unusable=result.address_unusable,
        )
        try:
            self._decide(outcome, workflow.now())
        except EventRejected as err:
            workflow.logger.warning("case %s: failed contact not recorded: %s", action.case_id, err)

    def _contact_deferred(self, action: Action, result: ActionResult) -> None:
        """The person's ledger had no room (another case of the debtor used it): the core takes
        the contact back and waits (`ContactDeferred`). A debtor with one account never gets
        here, so pays no extra history event for the shared ledger."""
        assert self._state is not None and self._cp is not None
        deferred = ev.ContactDeferred(
            action_id=action.action_id, until=result.until, guardrail=result.guardrail
        )
        try:
            d = self._decide(deferred, workflow.now())
        except EventRejected as err:
            workflow.logger.warning("case %s: deferral not recorded: %s", action.case_id, err)
            return
        if d is None:  # the decision raised: the case is stuck and its trail stays as it was
            return
        # The contact did not happen: its record leaves the trail, the deferral takes its place.
        new = {id(r) for r in d.records}
        self._history = [
            r
            for r in self._history
            if id(r) in new or not (r.kind == "contact" and r.action_id == action.action_id)
        ]

    def _should_continue_as_new(self, inp: CaseInput) -> bool:
        info = workflow.info()
        if inp.max_history_events is not None:
            return info.get_current_history_length() >= inp.max_history_events
        return info.is_continue_as_new_suggested()

    def _continue_as_new(self, inp: CaseInput) -> None:
        assert self._state is not None
        dropped = max(0, len(self._history) - HISTORY_LIMIT)
        workflow.continue_as_new(
            CaseInput(
                policy=self._state.policy,
                state=self._state,
                history=self._history[dropped:],
                history_dropped=self._dropped + dropped,
                next_wake_up=self._wake,
                pending_actions=self._queue,
                max_history_events=inp.max_history_events,
                runs=inp.runs + 1,
                attributes_at_start=inp.attributes_at_start,
                index_facts=self._index_facts,
                conduct=inp.conduct,
                stuck=self._stuck,
                stuck_retries=self._stuck_retries,
            )
        )

    def _index(self) -> None:
        """Upsert the search attributes that changed (each upsert is a history event)."""
        assert self._state is not None
        # Runs recorded before `OverdueAwaiting` existed never upserted it, runs recorded before
        # the case facts (`index-facts`: variant, paid, promises, deferrals, open calls) never
        # upserted those nor awaited `call`; they keep not doing so. An unset value (an empty
        # list, no open call) costs no upsert on a new case either.
        facts = self._index_facts or workflow.patched("index-facts")
        self._index_facts = facts
        values = sa.values_for(self._state, facts=facts)
        if facts:
            keys = sa.ALL_KEYS
        elif workflow.patched("index-awaiting"):
            keys = sa.KEYS_BEFORE_FACTS
        else:
            keys = sa.KEYS_BEFORE_AWAITING
        # A value that went away (no call open any more) is left as it was, never unset: the
        # time-skipping test server keeps an unset Datetime as a null that the SDK then fails to
        # decode (describe, the next run's start). `OverdueAwaiting` says whether a call is open.
        changed = [
            k
            for k in keys
            if values[k.name] is not None
            and self._indexed.get(k.name, sa.unset(k)) != values[k.name]
        ]
        if changed:
            workflow.upsert_search_attributes([k.value_set(values[k.name]) for k in changed])
            self._indexed.update({k.name: values[k.name] for k in changed})

    def _describe(self) -> None:
        """Keep the details the Web UI shows current (no history event; no personal data: the
        codec lets the UI's metadata query through in clear)."""
        if self._state is not None:
            workflow.set_current_details(case_details(self._state, self._wake, self._queue))

    # -- events: one update for every event of the core, validated first, then applied ------
    @workflow.update
    async def event(self, e: ev.Event) -> EventResult:
        """Take one of the core's events (payment, promise, dispute, approval, ...).

        The event is the core's own type, so an event the core learns needs no change here.
        """
        assert self._state is not None and self._cp is not None
        if self._stuck is not None:
            raise self._stuck_error()
        if isinstance(e, ev.MigratePolicy):
            return self._migrate(e)
        try:
            d = self._decide(e, workflow.now())
        except EventRejected as err:  # state moved on between validation and handling
            raise ApplicationError(str(err), type="EventRejected", non_retryable=True) from None
        if d is None:
            raise ApplicationError(
                f"case {self._state.case.case_id} could not take this event: {self._stuck}; the error "
                "is recorded and the case waits for a fix",
                type="DecisionFailed",
                non_retryable=True,
            )
        s = d.state
        if isinstance(e, ev.Cease) and workflow.patched(TELL_PERSON_PATCH):
            await self._tell_person(s, e)
        return _result(s, d)

    async def _tell_person(self, s: CaseState, e: ev.Cease) -> None:
        """A cease or an opt-out is the person's: their ledger is told by an activity before the
        update answers, so no client dying in between can leave their other accounts untold. A
        ledger that cannot be reached for `CONTACT_GIVE_UP` is logged; this case's own hold or
        withdrawn consent stands either way."""
        notice = PersonNotice(
            debtor_id=s.case.debtor.id,
            timezone=s.case.debtor.timezone,
            channel=str(e.channel) if e.channel is not None else None,
            case_id=s.case.case_id,
        )
        try:
            await workflow.execute_activity(
                tell_person,
                notice,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CONTACT_RETRY,
                schedule_to_close_timeout=CONTACT_GIVE_UP,
                summary=ClearText("tell the person's ledger: " + (notice.channel or "cease")),
            )
        except ActivityError:
            workflow.logger.warning(
                "case %s: the person's ledger could not be told of a cease", s.case.case_id
            )

    @event.validator
    def _valid(self, e: ev.Event) -> None:
        """Reject an event the core would refuse, before it is written to the history."""
        if self._state is None or self._cp is None:  # the core refused to open the case
            raise ApplicationError(
                f"the case was never opened: {self._refused or 'no case in the input'}",
                type="EventRejected",
                non_retryable=True,
            )
        if self._stuck is not None:
            raise self._stuck_error()
        try:
            if isinstance(e, ev.MigratePolicy):
                check_migration(self._state, self._policy(e.to.hash), e)
            else:
                validate(self._cp, self._state, e, workflow.now())
        except EventRejected as err:
            raise ApplicationError(str(err), type="EventRejected", non_retryable=True) from None

    @staticmethod
    def _policy(policy_hash: str) -> CompiledPolicy:
        """A policy a migration names; a worker that cannot find it refuses the move (the rollout
        registers every version in the policy store before it moves any case)."""
        try:
            return registry.get(policy_hash)
        except registry.PolicyNotFound as err:
            raise EventRejected(str(err)) from None

    def _migrate(self, e: ev.MigratePolicy) -> EventResult:
        """Switch the case onto another policy version: from now on every decision uses it. An
        action already queued finishes as it was decided, under the old version."""
        assert self._state is not None
        try:
            to = self._policy(e.to.hash)
            d = migrate(to, self._state, e, workflow.now())
        except EventRejected as err:
            raise ApplicationError(str(err), type="EventRejected", non_retryable=True) from None
        if d.records:  # a move to the version the case is on changes nothing
            self._cp = to
            self._apply(d)
        return _result(self._state, d)

    # -- queries ---------------------------------------------------------------------------
    @workflow.query
    def status(self) -> CaseStatus:
        """Where the case stands."""
        assert self._state is not None and self._cp is not None
        st = case_status(self._cp, self._state, workflow.now(), self._wake)
        return st.model_copy(update={"stuck": self._stuck}) if self._stuck is not None else st

    @workflow.query
    def state(self) -> CaseState:
        """The case's whole state (personal data included: encrypted by the codec on the way
        out); what a rollout's dry run drives forward under both versions."""
        assert self._state is not None
        return self._state

    @workflow.query
    def history(self) -> list[Record]:
        """Every decision with its reason (the oldest may have been dropped on long cases)."""
        return self._history
