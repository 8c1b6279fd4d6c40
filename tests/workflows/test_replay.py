"""Replay every committed case history, so a change that would break running cases fails the build.

`histories/<name>.json` are real histories of the case workflow, recorded from the tests of this
package on the time-skipping server (payloads sealed with the test key of `conftest`, which is
why the replayer uses the same converter). `histories/<name>.policy.json` is the policy each ran
on: a case pins its policy by content hash, so editing a shipped policy would otherwise leave the
old histories without theirs. The snapshot is registered before the replay, and must hash to the
pin in the history.

A replay failure means the workflow code no longer makes the same commands for a history it
once made: cases running in production would fail the same way. Make the change compatible
(`workflow.patched()`) rather than re-recording over it. A snapshot that no longer hashes to the
history's pin means the policy model changed what a policy hashes to: running cases would no
longer find their policy in the store either.

Recording::

    OVERDUE_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows -q -p no:cacheprovider

rewrites, in place, every history the tests record (the `record_history` calls; the name is the
file name) with its policy snapshot, then replays them. Histories are only ever added on
purpose: to keep today's history of a scenario as a guard for the cases running on today's
code, copy the pair to a new name first (``never-pays-consumer-credit-line.2026-11.json`` and
``never-pays-consumer-credit-line.2026-11.policy.json``); every pair in the folder is replayed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import Policy
from tests.workflows.conftest import tsenv_converter
from tests.workflows.helpers import HISTORIES, RECORD_ENV
from workers.worker import sandbox_runner
from workflows.case_workflow import CaseWorkflow
from workflows.debtor_workflow import DebtorWorkflow
from workflows.types import CaseInput

HISTORY_FILES = sorted(p for p in HISTORIES.glob("*.json") if not p.name.endswith(".policy.json"))


def test_histories_are_committed() -> None:
    """The replay below only guards anything if histories exist, each with its policy."""
    if os.environ.get(RECORD_ENV) and not HISTORY_FILES:
        pytest.skip("recording into an empty folder: run again to check what was recorded")
    names = {p.stem for p in HISTORY_FILES}
    assert {
        "never-pays-consumer-credit-line",
        "never-pays-instalment-loan",
        "continue-as-new-first-run",
        "continue-as-new-last-run",
    } <= names
    for p in HISTORY_FILES:
        assert p.with_name(f"{p.stem}.policy.json").is_file(), f"{p.name} has no policy snapshot"


def _load(path: Path) -> tuple[CompiledPolicy, WorkflowHistory]:
    """Register the history's policy snapshot; read the history."""
    snapshot = json.loads(path.with_name(f"{path.stem}.policy.json").read_text(encoding="utf-8"))
    cp = registry.register(Policy.model_validate(snapshot))
    return cp, WorkflowHistory.from_json(f"case-{path.stem}", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", HISTORY_FILES, ids=[p.stem for p in HISTORY_FILES])
async def test_replay(path: Path) -> None:
    cp, history = _load(path)
    converter = tsenv_converter()

    started = history.events[0].workflow_execution_started_event_attributes
    (inp,) = await converter.decode(started.input.payloads, [CaseInput])
    assert isinstance(inp, CaseInput)
    assert inp.policy.hash == cp.hash, (
        f"{path.name}: the policy snapshot does not hash to the case's pin"
    )

    replayer = Replayer(
        workflows=[CaseWorkflow], workflow_runner=sandbox_runner(), data_converter=converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


DEBTOR_FILES = sorted(
    p for p in (HISTORIES / "debtor").glob("*.json") if not p.name.endswith(".policy.json")
)


def test_debtor_histories_are_committed() -> None:
    """Ledgers (`debtor-<id>`) recorded before they could end when idle: still replayed."""
    assert "two-accounts-before-idle-end" in {p.stem for p in DEBTOR_FILES}


@pytest.mark.parametrize("path", DEBTOR_FILES, ids=[p.stem for p in DEBTOR_FILES])
async def test_replay_debtor(path: Path) -> None:
    """A person's ledger running on older code replays on today's (`workflow.patched`)."""
    _, history = _load(path)
    replayer = Replayer(
        workflows=[DebtorWorkflow],
        workflow_runner=sandbox_runner(),
        data_converter=tsenv_converter(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"
