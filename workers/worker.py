"""The worker process: runs case workflows and their activities against the configured Temporal.

Tuning (documented in the README): the sticky workflow cache is bounded (`max_cached_workflows`)
so memory stays flat however many cases sleep; evicted cases are rebuilt by replay when they
wake. Workflow task slots are few because a decision takes microseconds; activity slots are more
because contacts wait on networks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workers.activities import CaseActivities
from workers.channels import ChannelRouter, router_from_settings
from workers.client import worker_identity
from workers.converter import EncryptionCodec
from workers.dataplane import DataPlane, database_url, display_url
from workers.outbox import Outbox
from workers.policy_store import PolicyStore
from workers.rollout_activities import RolloutActivities
from workers.settings import ConfigError, Settings
from workflows.case_workflow import CaseWorkflow
from workflows.debtor_workflow import DebtorWorkflow
from workflows.rollout_workflow import RolloutWorkflow

__all__ = ["TASK_QUEUE", "build_worker", "run_worker", "sandbox_runner"]

from workflows.client import TASK_QUEUE

log = structlog.get_logger("overdue.worker")


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with the pure core passed through.

    The core is deterministic and side-effect free, so re-importing it for every workflow run
    would only cost time; `holidays` and `transitions` are data-only libraries it uses.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "engine",
            "holidays",
            "transitions",
            "pydantic",
            "pydantic_core",
            "annotated_types",
        )
    )


def build_worker(
    client: Client,
    outbox: Outbox,
    router: ChannelRouter,
    *,
    task_queue: str = TASK_QUEUE,
    max_cached_workflows: int = 2000,
    max_concurrent_workflow_tasks: int = 50,
    max_concurrent_activities: int = 100,
    dataplane: DataPlane | None = None,
) -> Worker:
    """A worker for case workflows and their activities.

    Its identity carries the ids of the codec keys it holds, so that a client with another key
    is refused before it starts a case no worker could read (`workers.client.check_worker_keys`).
    Rollouts keep their row in `dataplane` (None: they run without one).
    """
    acts = CaseActivities(router, outbox)
    rollout_acts = RolloutActivities(dataplane)
    return Worker(
        client,
        task_queue=task_queue,
        identity=worker_identity(client, f"overdue-worker {os.getpid()}@{socket.gethostname()}"),
        workflows=[CaseWorkflow, DebtorWorkflow, RolloutWorkflow],
        activities=[*acts.all(), *rollout_acts.all()],  # type: ignore[list-item]
        workflow_runner=sandbox_runner(),
        max_cached_workflows=max_cached_workflows,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        max_concurrent_activities=max_concurrent_activities,
    )


async def run_worker(
    client: Client,
    data_dir: Path,
    settings: Settings,
    *,
    task_queue: str = TASK_QUEUE,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully:
    in-flight activities finish or are retried elsewhere, nothing is lost.

    The data plane (`OVERDUE_DATABASE_URL`, else a SQLite file in `data_dir`) is created or
    upgraded on start; the policy store and the outbox live in it.

    Raises:
        ConfigError: A channel setting names a channel that does not exist.
    """
    plane = DataPlane(database_url(data_dir, settings), upgrade=True)
    log.info("dataplane.ready", url=display_url(plane.url), dialect=plane.dialect)
    PolicyStore(plane).install()
    codec = client.data_converter.payload_codec
    # the outbox seals recipients and messages with the very key the client's codec uses
    outbox = Outbox(plane, keys=codec.keys if isinstance(codec, EncryptionCodec) else ())
    try:
        router = router_from_settings(outbox, settings)
    except ValueError as e:
        outbox.close()
        plane.close()
        raise ConfigError(f"OVERDUE_WEBHOOK_CHANNELS: {e}") from None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, outbox, router, task_queue=task_queue, dataplane=plane)
    log.info("worker.started", task_queue=task_queue, namespace=client.namespace)
    async with worker:
        await stop.wait()
        log.info("worker.stopping")
    outbox.close()
    plane.close()
    log.info("worker.stopped")
