"""The rollout workflow on the time-skipping server: a canary moves exactly the cases the stable
hash picks, a pause holds it and a resume finishes it, a promote moves the rest, a rollback
brings every case back without sending anything twice, and the data plane keeps its row.

The time-skipping server has no visibility store, so the listing activity is replaced by one that
lists the cases this test opened (the same selection rules: percentage, version already reached);
moving and recording are the real activities. Listing by visibility runs in the e2e test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.decision.migrate import in_percent
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import align, local, make_case
from tests.workflows.test_migrate import next_version
from workers.dataplane.database import DataPlane, sqlite_url
from workers.outbox import Outbox
from workers.rollout_activities import RolloutActivities, latest_rollout
from workers.worker import sandbox_runner
from workflows.client import Cases
from workflows.rollout_client import Rollouts
from workflows.rollout_types import Listed, ListRequest
from workflows.rollout_workflow import RolloutWorkflow

N = 20


async def test_canary_pause_promote_rollback(
    tsenv: WorkflowEnvironment,
    cases: Cases,
    outbox: Outbox,
    cn_policy: CompiledPolicy,
    tmp_path: Path,
) -> None:
    cp = cn_policy
    new = next_version(cp)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    ids = [f"RO-{i:02d}" for i in range(N)]
    for cid in ids:
        await cases.open(
            make_case(cp, cid, local(now, tz).date() - timedelta(days=1), "800.00"), cp
        )

    @activity.defn(name="rollout_list")
    async def listing(req: ListRequest) -> Listed:
        picked: list[str] = []
        versions: Counter[str] = Counter()
        for cid in ids:
            st = await cases.status(cid)
            if (
                not st.closed
                and in_percent(cid, req.percent)
                and st.policy.version != req.skip_version
            ):
                picked.append(cid)
                versions[str(st.policy.version)] += 1
        return Listed(picked, dict(versions))

    dp = DataPlane(sqlite_url(tmp_path / "dp.db"))
    acts = RolloutActivities(dp)
    queue = f"rollouts-{uuid.uuid4()}"
    async with Worker(
        tsenv.client,
        task_queue=queue,
        workflows=[RolloutWorkflow],
        activities=[listing, acts.rollout_move, acts.rollout_record],
        workflow_runner=sandbox_runner(),
    ):
        rollouts = Rollouts(tsenv.client, task_queue=queue)
        name = cp.policy.name

        started = await rollouts.start(
            name, new.ref, "canary", percent=30, by="ops", reason="canary", batch_size=3
        )
        canary = await started.result()
        chosen = [c for c in ids if in_percent(c, 30)]
        assert chosen and len(chosen) < N
        assert (canary.state, canary.selected, canary.moved, canary.refused_count) == (
            "done",
            len(chosen),
            len(chosen),
            0,
        )
        versions = {c: (await cases.status(c)).policy.version for c in ids}
        assert {c for c, v in versions.items() if v == new.policy.version} == set(chosen)

        started = await rollouts.start(
            name, new.ref, "promote", by="ops", reason="promote", batch_size=2, pause_seconds=60
        )
        await rollouts.signal(name, "pause")
        while (await rollouts.progress(name)).state != "paused":  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.05)
        await rollouts.signal(name, "resume")
        promoted = await started.result()
        assert (promoted.state, promoted.selected, promoted.moved) == (
            "done",
            N - len(chosen),
            N - len(chosen),
        )
        assert {(await cases.status(c)).policy.version for c in ids} == {new.policy.version}
        row = latest_rollout(dp, name)
        assert (
            row is not None and row["state"] == "promote:done" and row["moved"] == N - len(chosen)
        )

        await tsenv.sleep(timedelta(days=3))  # contacts go out under the new version
        await rollouts.start(name, cp.ref, "rollback", by="ops", reason="rollback", batch_size=7)
        back = await rollouts.wait(name)  # by the policy's name, as `rollout-status` finds it
        assert (back.state, back.moved) == ("done", N)
        assert {(await cases.status(c)).policy.version for c in ids} == {cp.policy.version}
        again = await rollouts.start(
            name, cp.ref, "rollback", by="ops", reason="twice", batch_size=7
        )
        twice = await again.result()
        assert (twice.moved, twice.already) == (0, N)  # a repeated rollback moves nothing
    await tsenv.sleep(timedelta(days=3))
    assert outbox.duplicates() == 0
    assert max(Counter(r.action_id for r in outbox.list()).values()) == 1
    dp.close()
