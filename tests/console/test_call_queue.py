"""The queue of calls to write up, on the dev server's visibility store: a case whose call has no
outcome is listed by `OverdueAwaiting = 'call'` with the call's time in `OverdueCallSince`, and
leaves the list once the outcome is recorded."""

from __future__ import annotations

import pytest

from engine.case import events as ev
from tests.console.conftest import Stack, daytime_zone, first_call
from workflows import search_attributes as sa

pytestmark = pytest.mark.e2e


async def test_a_call_without_outcome_is_queued_until_written_up(stack: Stack) -> None:
    await stack.open("CQ-1", 10, amount="900.00", policy="consumer-credit-line", tz=daytime_zone())
    action_id = await first_call(stack, "CQ-1")
    (call,) = [r for r in await stack.cases.history("CQ-1") if r.action_id == action_id]
    queue = f"WorkflowId = 'case-CQ-1' AND {sa.AWAITING.name} = 'call'"
    await stack.wait_for(queue, 1)
    (listed,) = [w async for w in stack.client.list_workflows(queue)]
    assert listed.typed_search_attributes.get(sa.CALL_SINCE) == call.at

    await stack.cases.send("CQ-1", ev.ContactOutcome(action_id=action_id, outcome="unanswered"))
    await stack.wait_for(queue, 0)
