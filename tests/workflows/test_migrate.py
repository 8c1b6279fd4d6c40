"""A running case moved onto another policy version on the time-skipping server: it sends the new
version's texts from the move on, reports the new version (status and search attribute), keeps
it across continue-as-new, takes a repeated move as a no-op, and moves back without sending
anything twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.errors import EventRejected
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import Policy
from tests.workflows.helpers import Driver, align, local, make_case
from workers.outbox import Outbox
from workflows import search_attributes as sa
from workflows.client import Cases

MARK = " [v-next]"


def next_version(cp: CompiledPolicy) -> CompiledPolicy:
    """`cp` one version on, every template's text marked, registered for the worker."""
    doc: dict[str, Any] = cp.policy.model_dump(mode="json")
    doc["version"] += 1
    for template in doc["templates"].values():
        template["text"] = {loc: text + MARK for loc, text in template["text"].items()}
    return registry.register(Policy.model_validate(doc))


async def test_a_case_moves_and_moves_back(
    tsenv: WorkflowEnvironment, cases: Cases, outbox: Outbox, cn_policy: CompiledPolicy
) -> None:
    cp, drv = cn_policy, Driver(tsenv, cases)
    new = next_version(cp)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "MIG-1", local(now, tz).date() - timedelta(days=1), "6000.00")
    await cases.open(case, cp, max_history_events=60)
    await drv.run([case.case_id], 6, tz=tz)
    before = {r.action_id for r in outbox.list(case.case_id)}
    assert before and not any(MARK in (r.message or "") for r in outbox.list(case.case_id))

    moved = await cases.send(
        case.case_id, ev.MigratePolicy(to=new.ref, by="ops", reason="new texts")
    )
    assert any("-> v" in r for r in moved.reasons)
    again = await cases.send(case.case_id, ev.MigratePolicy(to=new.ref, by="ops", reason="retry"))
    assert again.reasons == []
    moved_at = await drv.now()
    await drv.run([case.case_id], 20, tz=tz)  # long enough to continue as new at least once
    st = await cases.status(case.case_id)
    assert st.policy == new.ref
    desc = await cases.handle(case.case_id).describe()
    assert desc.typed_search_attributes.get(sa.POLICY_VERSION) == new.policy.version
    assert (
        desc.run_id != desc.raw_description.workflow_execution_info.first_run_id
    )  # continued as new
    after = [r for r in outbox.list(case.case_id) if r.action_id not in before]
    assert after and all(r.at >= moved_at for r in after)
    assert all(MARK in (r.message or "") for r in after if r.kind == "contact" and r.message)

    back = await cases.send(case.case_id, ev.MigratePolicy(to=cp.ref, by="ops", reason="rollback"))
    assert back.reasons and (await cases.status(case.case_id)).policy == cp.ref
    await drv.run([case.case_id], 10, tz=tz)
    ids = Counter(r.action_id for r in outbox.list(case.case_id))
    assert outbox.duplicates() == 0 and max(ids.values()) == 1
    history = await cases.history(case.case_id)
    assert [r.detail["by"] for r in history if r.kind == "migrated"] == ["ops", "ops"]


async def test_a_version_no_worker_knows_is_refused(
    tsenv: WorkflowEnvironment, cases: Cases, cn_policy: CompiledPolicy
) -> None:
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "MIG-2", local(now, tz).date() - timedelta(days=1), "600.00")
    await cases.open(case, cp)
    unknown = cp.ref.model_copy(update={"version": cp.policy.version + 7, "hash": "0" * 64})
    with pytest.raises(EventRejected, match="not known"):
        await cases.send(case.case_id, ev.MigratePolicy(to=unknown))
    assert (await cases.status(case.case_id)).policy == cp.ref
