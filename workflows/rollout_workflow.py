"""The rollout workflow (`rollout-<policy>`): moves running cases onto a policy version, durably.

It lists the cases once (an activity reading visibility), then sends each the core's
`MigratePolicy` event in batches (an activity per batch), sleeping between batches so cases move
at a bounded rate. A worker that dies mid-batch loses nothing: the batch is retried, and a case
already on the version takes the event as a no-op, so nothing moves or is sent twice. It can be
paused, resumed and aborted (signals), shows its progress (a query), and keeps the data plane's
`rollouts` row current (an activity). Deterministic: no I/O, no clock but `workflow.now()`.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.rollout_types import (
        BatchResult,
        Listed,
        ListRequest,
        MoveBatch,
        RolloutInput,
        RolloutProgress,
        RolloutRecord,
    )

__all__ = ["REFUSED_KEPT", "RolloutWorkflow"]

#: Refused cases named in the progress (the count goes on past it).
REFUSED_KEPT = 100
#: Batches per run before continuing as new (keeps the history short for large portfolios).
BATCHES_PER_RUN = 200

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


@workflow.defn(name="Rollout")
class RolloutWorkflow:
    """One rollout of one policy version onto running cases."""

    def __init__(self) -> None:
        self._p: RolloutProgress | None = None
        self._paused = False
        self._aborted = False

    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutProgress:
        """List the cases (once), move them batch by batch, record the end."""
        p = self._p = inp.progress
        self._paused = inp.paused
        if p.started_at is None:
            p.started_at = workflow.now()
        ids = inp.case_ids
        if ids is None:
            listed: Listed = await workflow.execute_activity(
                "rollout_list",
                ListRequest(
                    p.policy,
                    p.where,
                    p.percent,
                    skip_version=p.to.version if p.mode == "promote" else None,
                ),
                result_type=Listed,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
            ids = listed.case_ids
            p.selected, p.from_versions = len(ids), listed.from_versions
        p.state = "paused" if self._paused else "moving"
        await self._record()
        batches = 0
        while p.done < len(ids) and not self._aborted:
            if self._paused:
                p.state = "paused"
                await self._record()
                await workflow.wait_condition(lambda: not self._paused or self._aborted)
                if self._aborted:
                    break
                p.state = "moving"
                await self._record()
            batch = ids[p.done : p.done + inp.batch_size]
            result: BatchResult = await workflow.execute_activity(
                "rollout_move",
                MoveBatch(batch, p.to, p.by, p.reason),
                result_type=BatchResult,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=_RETRY,
            )
            p.done += len(batch)
            p.moved += len(result.moved)
            p.already += len(result.already)
            p.refused_count += len(result.refused)
            p.refused.extend(result.refused[: max(0, REFUSED_KEPT - len(p.refused))])
            await self._record()
            batches += 1
            if p.done < len(ids) and inp.pause_seconds > 0:
                # the bound on the rate; an abort or a pause does not wait for it
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._aborted or self._paused,
                        timeout=timedelta(seconds=inp.pause_seconds),
                    )
            if batches >= BATCHES_PER_RUN and p.done < len(ids) and not self._aborted:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    replace(inp, progress=p, case_ids=ids, paused=self._paused)
                )
        p.state = "aborted" if self._aborted and p.done < len(ids) else "done"
        p.finished_at = workflow.now()
        await self._record()
        return p

    async def _record(self) -> None:
        assert self._p is not None
        # one row per rollout: its first run's id (continue-as-new keeps it)
        await workflow.execute_activity(
            "rollout_record",
            RolloutRecord(workflow.info().first_execution_run_id, self._p, workflow.now()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
        )

    @workflow.signal
    def pause(self) -> None:
        """Stop after the batch in flight, until resumed."""
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        """Go on after a pause."""
        self._paused = False

    @workflow.signal
    def abort(self) -> None:
        """Stop for good after the batch in flight; cases moved stay moved (roll back to undo)."""
        self._aborted = True

    @workflow.query
    def progress(self) -> RolloutProgress:
        """Where the rollout stands."""
        assert self._p is not None
        return self._p
