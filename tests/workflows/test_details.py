"""The case's details for the Web UI: its standing and what comes next, never personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from engine.case import events as ev
from engine.decision.decide import decide, open_case
from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import make_case
from workflows.details import action_summary, case_details


def test_details_say_where_the_case_stands_and_nothing_personal(
    cn_policy: CompiledPolicy,
) -> None:
    cp = cn_policy
    now = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    case = make_case(cp, "DET-1", date(2026, 3, 9), "1500.00")
    d = open_case(cp, case, now)
    while not d.actions:  # the case's first contact
        assert d.next_wake_up is not None
        now = d.next_wake_up
        d = decide(cp, d.state, None, now)
    (sms,) = d.actions
    key = sms.action_id.rsplit("/", 1)[1]
    assert action_summary(sms) == f"contact sms reminder.{key}" == f"contact sms {sms.reason}"
    text = case_details(d.state, d.next_wake_up, d.actions)
    assert text.startswith("**reminder** · balance 1500.00 CNY · paid 0.00 CNY")
    assert f"now: {action_summary(sms)}" in text and "next decision: 2026-03-" in text

    said = "Lee Wei says lee@example.com got it wrong"
    d = decide(cp, d.state, ev.Dispute(reason=said, by="olga"), now + timedelta(hours=1))
    text = case_details(d.state, d.next_wake_up, [])
    assert "holds: dispute" in text and "awaiting: dispute" in text
    assert "Lee Wei" not in text and "lee@example.com" not in text and "olga" not in text

    d = decide(cp, d.state, ev.Close(reason="written_off"), now + timedelta(hours=2))
    assert case_details(d.state, None, []).startswith("**written_off** (")
