"""A decision that raises (a bug in the core, not a rejected event) never fails the case: it is
recorded, the case says it is stuck and why, refuses events with a clear message, answers
queries, and retries on a timer, so a fixed build deployed meanwhile takes it on. The run in which
the decision raised continues as new at once, so no open run's history holds the failed decision
and a fixed build replays it without a nondeterminism error.

The bug is injected by wrapping the core's `decide` (the workflow sandbox passes `engine` through,
so the wrapper is what the workflow calls) with a switch the test turns off to "deploy the fix"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

import engine.decision.decide as core
from engine.case import events as ev
from engine.case.actions import Record
from engine.case.state import CaseState
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from tests.workflows.conftest import tsenv_converter
from tests.workflows.helpers import align, local, make_case
from workers.worker import sandbox_runner
from workflows.case_workflow import STUCK_RETRY_FIRST, STUCK_RETRY_MAX, CaseWorkflow
from workflows.client import Cases

BOOM = "RuntimeError: the core has a bug (test)"


class _Bug:
    """Makes `decide` raise for payments of 13.13 and, when `timers` is on, for every timer."""

    def __init__(self) -> None:
        self.on = True
        self.timers = False
        self.real = core.decide

    def __call__(
        self, cp: CompiledPolicy, state: CaseState, event: ev.Event | None, now: datetime
    ) -> Any:
        if self.on and (
            (isinstance(event, ev.Payment) and event.amount == Decimal("13.13"))
            or (event is None and self.timers)
        ):
            raise RuntimeError("the core has a bug (test)")
        return self.real(cp, state, event, now)


@pytest.fixture
def bug(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Bug]:
    """The injected bug, installed where the workflow imports `decide` from."""
    b = _Bug()
    monkeypatch.setattr(core, "decide", b)
    yield b


def _pay(amount: str) -> ev.Payment:
    return ev.Payment(amount=Decimal(amount), currency="CNY")


async def _replays(cases: Cases, case_id: str) -> None:
    """The current run's history replays on the code as it is now (the "fixed build")."""
    history = await cases.handle(case_id).fetch_history()
    replayer = Replayer(
        workflows=[CaseWorkflow], workflow_runner=sandbox_runner(), data_converter=tsenv_converter()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, repr(result.replay_failure)


async def test_an_event_that_breaks_the_core(
    tsenv: WorkflowEnvironment, cases: Cases, cn_policy: CompiledPolicy, bug: _Bug
) -> None:
    """The event is refused with the error; the case is stuck, answers, refuses the next event
    with a clear message, and takes events again once a retry succeeds on the fixed code."""
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "BUG-1", local(now, tz).date(), "1500.00")
    handle = await cases.open(case, cp)
    first_run = handle.first_execution_run_id

    with pytest.raises(EventRejected, match="could not take this event"):
        await cases.send("BUG-1", _pay("13.13"))
    st = await cases.status("BUG-1")
    assert st.stuck == BOOM and not st.closed and st.balance == "1500.00"
    with pytest.raises(
        EventRejected, match=r"case BUG-1 is stuck after an internal error \(RuntimeError"
    ):
        await cases.send("BUG-1", _pay("10.00"))
    desc = await cases.handle("BUG-1").describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING and desc.run_id != first_run
    errors = [r for r in await cases.history("BUG-1") if r.kind == "error"]
    assert [(r.reason, r.detail) for r in errors] == [
        (f"decision on payment failed: {BOOM}", {"error": "RuntimeError", "on": "payment"})
    ]

    bug.on = False  # the fixed build is deployed
    await _replays(cases, "BUG-1")
    await tsenv.sleep(STUCK_RETRY_FIRST * 2)
    st = await cases.status("BUG-1")
    assert st.stuck is None
    r = await cases.send("BUG-1", _pay("10.00"))
    assert r.balance == "1490.00"
    await _replays(cases, "BUG-1")


async def test_a_timer_that_breaks_the_core(
    tsenv: WorkflowEnvironment, cases: Cases, cn_policy: CompiledPolicy, bug: _Bug
) -> None:
    """A broken timer decision keeps the case waiting (retrying with a growing interval, each
    retry a new run, nothing sent meanwhile) until the fix; then it decides and takes events."""
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "BUG-2", local(now, tz).date(), "1500.00")
    await cases.open(case, cp)
    contacts = (await cases.status("BUG-2")).contacts
    bug.timers = True
    errors: list[Record] = []
    for _ in range(60):  # until the case's next wake-up (a holiday may push it days away)
        await tsenv.sleep(STUCK_RETRY_MAX * 12)
        errors = [r for r in await cases.history("BUG-2") if r.kind == "error"]
        if len(errors) >= 3:
            break
    st = await cases.status("BUG-2")
    assert st.stuck == BOOM and st.contacts == contacts
    assert {r.reason for r in errors} == {f"decision on timer failed: {BOOM}"}
    # 1, 2, 4 ... minutes apart up to an hour: never more often than that schedule allows
    hours = (errors[-1].at - errors[0].at) / STUCK_RETRY_MAX
    assert 3 <= len(errors) <= 7 + hours
    bug.on = False
    await _replays(cases, "BUG-2")
    await tsenv.sleep(STUCK_RETRY_MAX + STUCK_RETRY_FIRST)
    st = await cases.status("BUG-2")
    assert st.stuck is None
    r = await cases.send("BUG-2", _pay("10.00"))
    assert r.balance == "1490.00"
    await _replays(cases, "BUG-2")
