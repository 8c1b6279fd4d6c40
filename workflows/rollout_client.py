"""The typed client API of rollouts: start one, pause, resume, abort, and read its progress."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine.case.state import PolicyRef
from engine.errors import OverdueError
from workflows.cleartext import ClearText
from workflows.client import TASK_QUEUE
from workflows.rollout_types import RolloutInput, RolloutMode, RolloutProgress, rollout_workflow_id
from workflows.rollout_workflow import RolloutWorkflow

__all__ = ["Rollouts"]


class Rollouts:
    """Rollouts of policy versions onto running cases, one at a time per policy."""

    def __init__(self, client: Client, task_queue: str = TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    def handle(self, policy: str) -> WorkflowHandle[RolloutWorkflow, RolloutProgress]:
        """The policy's rollout workflow (its latest run)."""
        return self.client.get_workflow_handle_for(RolloutWorkflow.run, rollout_workflow_id(policy))

    async def start(
        self,
        policy: str,
        to: PolicyRef,
        mode: RolloutMode,
        *,
        percent: int = 100,
        where: str | None = None,
        by: str = "",
        reason: str = "",
        batch_size: int = 25,
        pause_seconds: float = 1.0,
    ) -> WorkflowHandle[RolloutWorkflow, RolloutProgress]:
        """Start a rollout; the version must already be in the policy store (every worker finds it).

        Raises:
            OverdueError: a rollout of this policy is still running.
        """
        inp = RolloutInput(
            RolloutProgress(
                policy=policy, to=to, mode=mode, percent=percent, where=where, by=by, reason=reason
            ),
            batch_size=batch_size,
            pause_seconds=pause_seconds,
        )
        try:
            return await self.client.start_workflow(
                RolloutWorkflow.run,
                inp,
                id=rollout_workflow_id(policy),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=ClearText(f"{mode} {policy} v{to.version}"),
            )
        except WorkflowAlreadyStartedError:
            raise OverdueError(
                f"a rollout of {policy} is running: see `overdue policy rollout-status {policy}`, "
                "or abort it first"
            ) from None

    async def progress(self, policy: str) -> RolloutProgress:
        """Where the policy's latest rollout stands (running or finished).

        Raises:
            OverdueError: no rollout of this policy.
        """
        try:
            return await self.handle(policy).query(RolloutWorkflow.progress)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise OverdueError(f"no rollout of {policy}") from None
            raise

    async def signal(self, policy: str, what: str) -> None:
        """Pause, resume or abort the running rollout.

        Raises:
            OverdueError: no rollout of this policy is running.
        """
        handle = self.handle(policy)
        method = {
            "pause": RolloutWorkflow.pause,
            "resume": RolloutWorkflow.resume,
            "abort": RolloutWorkflow.abort,
        }[what]
        try:
            await handle.signal(method)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise OverdueError(f"no rollout of {policy} is running") from None
            raise

    async def wait(self, policy: str) -> RolloutProgress:
        """The end of the policy's latest rollout (its final progress)."""
        desc = await self.handle(policy).describe()
        return await self.client.get_workflow_handle_for(
            RolloutWorkflow.run, desc.id, run_id=desc.run_id
        ).result()
