"""Telling a person's ledger (`debtor-<id>`) of a cease or a refused channel, starting the ledger
if it is not running (signal-with-start): from the client (a case file's refusals, before the case
starts) and from the `tell_person` activity (a cease or an opt-out a case took).
"""

from __future__ import annotations

from temporalio.client import Client

from workflows.debtor_types import DebtorInput, DebtorRefusal, PersonNotice, debtor_workflow_id
from workflows.debtor_workflow import DebtorWorkflow

__all__ = ["tell_ledger"]


async def tell_ledger(client: Client, notice: PersonNotice, task_queue: str) -> None:
    """Signal the person's ledger `refuse` (a channel) or `cease`, starting it if need be.
    Idempotent: a ledger told twice holds the same refusal."""
    if notice.channel is not None:
        signal, args = "refuse", [DebtorRefusal(channel=notice.channel, case_id=notice.case_id)]
    else:
        signal, args = "cease", []
    await client.start_workflow(
        DebtorWorkflow.run,
        DebtorInput(debtor_id=notice.debtor_id, timezone=notice.timezone, idle_end=True),
        id=debtor_workflow_id(notice.debtor_id),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=args,
    )
