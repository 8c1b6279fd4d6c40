"""Activities: where the decisions of a case meet the world. One per action kind.

Every action carries a deterministic `action_id`; the channel adapters and the outbox dedup on
it, so Temporal's at-least-once retries never contact a debtor twice. Non-contact steps (agency,
bureau, counsel, approvals) are recorded in the outbox ledger too: it is the embedded default's
integration point, where a deployment plugs its agency, bureau and case-management APIs.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine.case.actions import Action
from engine.case.vocabulary import ActionKind
from workers.channels import ChannelRouter, DeliveryFailed
from workers.outbox import Outbox
from workflows.debtor_types import (
    RUNNING_CASES,
    DebtorInput,
    GrantInput,
    GrantResult,
    PersonNotice,
    debtor_workflow_id,
)
from workflows.debtor_workflow import DebtorWorkflow
from workflows.person_signal import tell_ledger
from workflows.types import ActionResult, workflow_id

__all__ = ["ACTIVITY_FOR", "CaseActivities", "running_cases", "tell_person"]

log = structlog.get_logger("overdue.activities")


class CaseActivities:
    """The activities of the case workflow, bound to one channel router and outbox."""

    def __init__(self, router: ChannelRouter, outbox: Outbox) -> None:
        self.router = router
        self.outbox = outbox

    def all(self) -> list[object]:
        """Every activity, for the worker."""
        return [
            *(getattr(self, fn.__name__) for fn in ACTIVITY_FOR.values()),
            running_cases,
            tell_person,
        ]

    @activity.defn
    async def send_contact(self, action: Action) -> ActionResult:
        """Send a contact through its channel (sms, push, email, call task, letter, field visit).

        A permanent failure (a refused or invalid address, HTTP 4xx, SMTP 5xx) is an outcome,
        returned as ``failed`` for the case to record; a transient one raises, for Temporal to
        retry on the workflow's bounded schedule. Nothing raised from here carries personal
        data: channel errors are rebuilt without it, anything else is reduced to its type.
        """
        bound = log.bind(
            case_id=action.case_id,
            action_id=action.action_id,
            channel=action.channel,
            attempt=activity.info().attempt,
        )
        if action.debtor_id:
            granted = await ask_person(action)
            if not granted.granted:
                bound.info("contact.deferred", guardrail=granted.guardrail)
                return ActionResult(
                    action_id=action.action_id,
                    status="deferred",
                    until=granted.until,
                    guardrail=granted.guardrail,
                )
        try:
            result = await self.router.send(action)
        except DeliveryFailed as e:
            bound.warning(
                "contact.failed",
                reason=e.reason,
                retryable=e.retryable,
                address_unusable=e.address_unusable,
            )
            if e.retryable:
                raise ApplicationError(str(e), e.reason, type="DeliveryFailed") from None
            return ActionResult(
                action_id=action.action_id,
                status="failed",
                reason=e.reason,
                address_unusable=e.address_unusable,
            )
        except Exception as e:
            # A bug in an adapter: its message may quote the recipient, so only the type and
            # the place go to the log and to Temporal (which retries it like a transient error).
            where = traceback.extract_tb(e.__traceback__)[-1]
            bound.error(
                "contact.error",
                error_type=type(e).__name__,
                where=f"{Path(where.filename).name}:{where.lineno} in {where.name}",
            )
            raise ApplicationError(
                f"{type(e).__name__} in the {action.channel} channel", type=type(e).__name__
            ) from None
        bound.info("contact.sent", status=result.status, via=result.via)
        status = "duplicate" if result.status == "duplicate" else "delivered"
        return ActionResult(
            action_id=action.action_id, status=status, provider_id=result.provider_id or ""
        )

    async def _record(self, action: Action, event: str) -> ActionResult:
        new = await asyncio.to_thread(self.outbox.record, action)
        log.info(
            event,
            case_id=action.case_id,
            action_id=action.action_id,
            new=new,
            attempt=activity.info().attempt,
        )
        return ActionResult(action_id=action.action_id, status="queued" if new else "duplicate")

    @activity.defn
    async def place_with_agency(self, action: Action) -> ActionResult:
        """Place the case with a third-party collection agency."""
        return await self._record(action, "agency.placed")

    @activity.defn
    async def recall_from_agency(self, action: Action) -> ActionResult:
        """Recall the case from the agency."""
        return await self._record(action, "agency.recalled")

    @activity.defn
    async def report_to_bureau(self, action: Action) -> ActionResult:
        """Report the delinquency to the credit bureau (the debtor was told first)."""
        return await self._record(action, "bureau.reported")

    @activity.defn
    async def update_bureau(self, action: Action) -> ActionResult:
        """Tell the bureau the debt was paid, settled or written off."""
        return await self._record(action, "bureau.updated")

    @activity.defn
    async def refer_to_counsel(self, action: Action) -> ActionResult:
        """Hand the case to counsel."""
        return await self._record(action, "legal.referred")

    @activity.defn
    async def request_approval(self, action: Action) -> ActionResult:
        """Ask a human to approve a step (legal referral, field visit, agency placement)."""
        return await self._record(action, "approval.requested")


#: The activity that carries out each action kind. The workflow calls them through this table
#: (`execute_activity_method`), so an activity's name is its method's name, written once.
ACTIVITY_FOR: dict[ActionKind, Callable[[CaseActivities, Action], Awaitable[ActionResult]]] = {
    ActionKind.CONTACT: CaseActivities.send_contact,
    ActionKind.AGENCY_PLACEMENT: CaseActivities.place_with_agency,
    ActionKind.AGENCY_RECALL: CaseActivities.recall_from_agency,
    ActionKind.BUREAU_REPORT: CaseActivities.report_to_bureau,
    ActionKind.BUREAU_UPDATE: CaseActivities.update_bureau,
    ActionKind.LEGAL_REFERRAL: CaseActivities.refer_to_counsel,
    ActionKind.APPROVAL_REQUEST: CaseActivities.request_approval,
}


async def ask_person(action: Action) -> GrantResult:
    """Ask the person's ledger (the `debtor-<id>` workflow, started if need be) for room for this
    contact, before it leaves. Idempotent on the action id, so a retried activity is granted
    again and not counted twice."""
    client = activity.client()
    start = WithStartWorkflowOperation(
        DebtorWorkflow.run,
        DebtorInput(debtor_id=action.debtor_id, timezone=action.debtor_timezone, idle_end=True),
        id=debtor_workflow_id(action.debtor_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=activity.info().task_queue,
    )
    return await client.execute_update_with_start_workflow(
        DebtorWorkflow.grant,
        GrantInput(
            action_id=action.action_id,
            case_id=action.case_id,
            channel=action.channel or "",
            timezone=action.debtor_timezone,
            policy_hash=action.policy_hash,
            legally_required=action.legally_required,
            at=action.at,
        ),
        start_workflow_operation=start,
    )


@activity.defn(name=RUNNING_CASES)
async def running_cases(case_ids: list[str]) -> list[str]:
    """Which of these cases (of one person) still run: an idle ledger ends only once none does,
    so `debtor status` keeps listing a quiet open case. A case Temporal no longer knows (its
    retention passed) does not run."""
    client = activity.client()
    out: list[str] = []
    for case_id in case_ids:
        try:
            desc = await client.get_workflow_handle(workflow_id(case_id)).describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        if desc.status == WorkflowExecutionStatus.RUNNING:
            out.append(case_id)
    return out


@activity.defn
async def tell_person(notice: PersonNotice) -> None:
    """A cease or an opt-out a case took, told to the person's ledger before the case answers:
    durable (retried like any activity) where a client telling it after the update could be
    killed in between."""
    await tell_ledger(activity.client(), notice, activity.info().task_queue)
