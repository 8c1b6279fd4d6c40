"""The debtor workflow: one per person (`debtor-<id>`), holding the contact ledger every case of
that person shares. The `send_contact` activity asks it for a grant (update-with-start) before a
contact leaves; the grant is the core's pure `engine.decision.person.grant`, judged at the
workflow's clock with the rules of the asking case's policy. Outcomes of calls and cease requests
arrive as signals. It continues-as-new when Temporal suggests it, and ends once idle: when no
contact, outcome or request reached it for longer than the longest window any rule of the
person's cases looks back (`PersonLedger.keep_days`), so nothing in the ledger can constrain a
contact any more and a fresh ledger (started by the next grant) judges exactly as this one would,
and when none of the person's cases still runs (asked of the `running_cases` activity). A person
who ceased or refused a channel keeps their ledger: that request has no end. Nothing here does
I/O or reads a clock other than `workflow.now()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.case.person import PersonLedger
    from engine.decision.person import (
        ContactRequest,
        Deferred,
        grant,
        next_allowed_per_channel,
        record_cease,
        record_outcome,
    )
    from engine.policy import registry
    from engine.policy.contact_window import zone
    from workflows.debtor_types import (
        RUNNING_CASES,
        DebtorInput,
        DebtorOutcome,
        DebtorRefusal,
        DebtorStatus,
        GrantInput,
        GrantResult,
    )

__all__ = ["DebtorWorkflow"]

#: How many of the most recent contacts `status` shows.
STATUS_CONTACTS = 50
#: Ledgers started before they could end when idle keep running as they did (replay).
IDLE_END_PATCH = "debtor-idle-end"
_SECOND = timedelta(seconds=1)


@workflow.defn(name="Debtor")
class DebtorWorkflow:
    """One person's shared contact ledger."""

    def __init__(self) -> None:
        self._ledger: PersonLedger | None = None
        self._tz = "UTC"
        self._touched: datetime | None = None
        self._ended = False

    @workflow.run
    async def run(self, inp: DebtorInput) -> None:
        """Hold the ledger; continue-as-new when the history grows large; end once idle."""
        self._tz = inp.timezone
        if self._ledger is None:
            self._ledger = inp.ledger or PersonLedger(debtor_id=inp.debtor_id)
        # A flag from the starter, not only the patch: a new ledger would otherwise spend a
        # marker event on a patch it cannot have been started before.
        idle_end = inp.idle_end or workflow.patched(IDLE_END_PATCH)
        if self._touched is None:
            self._touched = workflow.now()
        while True:
            if idle_end:
                # One timer per idle period, re-armed for what is left when something touched
                # the ledger meanwhile (never cancelled and restarted on every grant); none for
                # a ledger that can never end.
                end = self._end_at()
                try:
                    await workflow.wait_condition(
                        lambda: self._should_continue(inp),
                        timeout=None if end is None else max(end - workflow.now(), _SECOND),
                    )
                except TimeoutError:
                    end = self._end_at()
                    if end is not None and workflow.now() >= end and await self._no_case_runs():
                        await workflow.wait_condition(workflow.all_handlers_finished)
                        end = self._end_at()
                        if end is not None and workflow.now() >= end:
                            self._ended = True
                            workflow.logger.info("debtor %s: ledger idle, ended", inp.debtor_id)
                            return
                    continue
            else:
                await workflow.wait_condition(lambda: self._should_continue(inp))
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                DebtorInput(
                    debtor_id=inp.debtor_id,
                    timezone=self._tz,
                    ledger=self._ledger,
                    max_history_events=inp.max_history_events,
                    idle_end=idle_end,
                )
            )

    def _touch(self) -> None:
        self._touched = workflow.now()

    async def _no_case_runs(self) -> bool:
        """Whether none of the person's cases still runs. Those that ended leave the ledger's
        case list; while one runs (quiet: on hold, on a plan), the ledger stays, so `debtor
        status` keeps listing it, and asks again an idle period later."""
        asked = sorted(self._current().cases)
        if asked:
            running = await workflow.execute_activity(
                RUNNING_CASES,
                asked,
                result_type=list[str],
                start_to_close_timeout=timedelta(minutes=1),
            )
            ledger = self._current()  # a grant may have come in meanwhile
            keep = {k: v for k, v in ledger.cases.items() if k in running or k not in asked}
            self._ledger = ledger.model_copy(update={"cases": keep})
        if self._current().cases:
            self._touch()
            return False
        return True

    def _end_at(self) -> datetime | None:
        """When the ledger may end, idle: an idle period (a day more than the longest window the
        rules look back) after the last time anything touched it, its latest contact and its
        latest conversation; None for a person who ceased or refused a channel (no end)."""
        ledger = self._current()
        if ledger.ceased or ledger.refused:
            return None
        idle = timedelta(days=ledger.keep_days + 1)
        moments = [m for m in (self._touched, ledger.last_conversation_at) if m is not None]
        moments += [c.at for c in ledger.contacts[-1:]]
        return max(moments, default=workflow.now()) + idle

    def _should_continue(self, inp: DebtorInput) -> bool:
        info = workflow.info()
        if inp.max_history_events is not None:
            return info.get_current_history_length() >= inp.max_history_events
        return info.is_continue_as_new_suggested()

    def _current(self, debtor_id: str = "") -> PersonLedger:
        if self._ledger is None:  # an update delivered with the start, before `run` began
            self._ledger = PersonLedger(
                debtor_id=debtor_id or workflow.info().workflow_id.removeprefix("debtor-")
            )
        return self._ledger

    @workflow.update
    def grant(self, inp: GrantInput) -> GrantResult:
        """Room for one contact now, or the moment it may go and the per-person rule."""
        ledger = self._current()
        self._touch()
        self._tz = inp.timezone
        rules = registry.get(inp.policy_hash).rules
        verdict = grant(
            ledger,
            ContactRequest(
                action_id=inp.action_id,
                case_id=inp.case_id,
                channel=inp.channel,
                at=inp.at or workflow.now(),
                timezone=inp.timezone,
                legally_required=inp.legally_required,
            ),
            rules,
            inp.policy_hash,
        )
        self._ledger = verdict.ledger
        if isinstance(verdict, Deferred):
            workflow.logger.info(
                "debtor %s: %s deferred: %s", ledger.debtor_id, inp.action_id, verdict.guardrail
            )
            return GrantResult(granted=False, until=verdict.until, guardrail=verdict.guardrail)
        return GrantResult(granted=True)

    @workflow.signal
    def outcome(self, inp: DebtorOutcome) -> None:
        """A call's outcome: a conversation starts the cooldown for every case of the person."""
        self._touch()
        self._ledger = record_outcome(self._current(), inp.action_id, inp.outcome, workflow.now())

    @workflow.signal
    def cease(self) -> None:
        """The person asked to stop communications: only legally required notices from now on."""
        self._touch()
        self._ledger = record_cease(self._current())

    @workflow.signal
    def refuse(self, inp: DebtorRefusal) -> None:
        """The person refused one channel, on whichever account: none of their cases uses it
        again but for legally required notices."""
        self._touch()
        self._ledger = record_cease(self._current(), inp.channel)

    @workflow.query
    def status(self) -> DebtorStatus:
        """The person's cases, recent contacts and the next allowed moment per channel."""
        ledger = self._current()
        rules = [registry.get(h).rules for h in sorted(set(ledger.cases.values())) if h]
        nxt = (
            next_allowed_per_channel(ledger, rules, zone(self._tz), workflow.now()) if rules else {}
        )
        return DebtorStatus(
            debtor_id=ledger.debtor_id,
            cases=sorted(ledger.cases),
            contacts=ledger.contacts[-STATUS_CONTACTS:],
            last_conversation_at=ledger.last_conversation_at,
            ceased=ledger.ceased,
            next_allowed=nxt,
            refused=list(ledger.refused),
            ended=self._ended,
        )
