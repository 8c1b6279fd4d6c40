"""The bare workflow the benchmark measures the case workflow against.

Hand-written Temporal, no engine: sleep until each planned moment, send that contact with one
activity (recorded in an outbox by a deterministic action id, as the case workflow's contacts
are), then wait for a `pay` update and complete. It carries the same case file in and the same
`Action` per contact out, through the same data converter, so what is left between the two is
the engine and the shell around it. Its types live in `bench.bare_types`, passed through the
sandbox as the case workflow's are, so neither re-creates pydantic classes per workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from bench.bare_types import BareInput, BareStatus
    from engine.case.actions import Action
    from engine.case.events import Payment
    from workflows.types import ActionResult, CaseResult, EventResult

__all__ = ["BareActivities", "BareWorkflow"]

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
_ADDRESS = {"sms": "phone", "push": "id", "email": "email"}


@workflow.defn(name="BareCase")
class BareWorkflow:
    """K x (sleep until the moment, one activity), then wait for `pay`, then complete."""

    def __init__(self) -> None:
        self._case_id = ""
        self._sent = 0
        self._paid: Payment | None = None

    @workflow.run
    async def run(self, inp: BareInput) -> CaseResult:
        """Send every contact at its moment, then wait for the payment."""
        case = inp.case
        self._case_id = case.case_id
        for c in inp.contacts:
            delay = c.at - workflow.now()
            if delay > timedelta(0):
                await workflow.sleep(delay)
            to = {"phone": case.debtor.phone, "email": case.debtor.email, "id": case.debtor.id}[
                _ADDRESS[c.channel]
            ]
            action = Action(
                action_id=f"{case.case_id}/0.reminder/{c.key}",
                case_id=case.case_id,
                kind="contact",
                at=c.at,
                stage="reminder",
                reason=f"reminder.{c.key}",
                channel=c.channel,
                template=c.template,
                locale=case.debtor.locale,
                message=c.message,
                to=to,
            )
            await workflow.execute_activity(
                "bare_send",
                action,
                result_type=ActionResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            self._sent += 1
        await workflow.wait_condition(lambda: self._paid is not None)
        paid = self._paid
        assert paid is not None
        return CaseResult(
            case_id=case.case_id,
            stage="resolved",
            close_reason="paid_in_full",
            balance="0.00",
            paid=str(paid.amount),
            runs=1,
        )

    @workflow.update
    async def pay(self, inp: Payment) -> EventResult:
        """Record the payment that ends the case."""
        self._paid = inp
        return EventResult(
            case_id=self._case_id,
            stage="resolved",
            closed=True,
            balance="0.00",
            holds=[],
            reasons=[],
        )

    @workflow.query
    def status(self) -> BareStatus:
        """How many contacts went out, and whether it is paid."""
        return BareStatus(case_id=self._case_id, sent=self._sent, paid=self._paid is not None)


class BareActivities:
    """The bare activity: record the contact in an outbox, once, by its action id."""

    def __init__(self, outbox: object, on_sent: Callable[[Action], None] | None = None) -> None:
        self.outbox = outbox
        self.on_sent = on_sent

    @activity.defn(name="bare_send")
    async def send(self, action: Action) -> ActionResult:
        """Record `action` (the outbox is the embedded channel) and report it."""
        new = await asyncio.to_thread(
            self.outbox.record,  # type: ignore[attr-defined]
            action,
            via="outbox",
            provider_id=f"outbox:{action.action_id}",
        )
        if self.on_sent is not None:
            self.on_sent(action)
        return ActionResult(
            action_id=action.action_id,
            status="delivered" if new else "duplicate",
            provider_id=f"outbox:{action.action_id}",
        )
