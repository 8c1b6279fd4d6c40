"""The queue pages' templates on items given by hand: a case awaiting an approval and a call's
outcome at once is offered only the approval's buttons in the approvals queue."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader

from console.queues import APPROVALS, QueueItem
from console.service import TEMPLATES


def _approvals_page(items: list[QueueItem], can: set[str]) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    return env.get_template("approvals.html").render(
        request=SimpleNamespace(url=SimpleNamespace(path="/queues/approvals")),
        user=None,
        csrf="t",
        can=can,
        msg="",
        error="",
        problem="",
        filters={},
        back="/queues/approvals",
        items=items,
        approvals=APPROVALS,
    )


def _item(case_id: str, *awaiting: str) -> QueueItem:
    return QueueItem(
        case_id=case_id,
        stage="escalation",
        segment="large",
        balance=Decimal("5000.00"),
        policy="instalment-loan v2",
        awaiting=awaiting,
        overdue_since=date(2026, 9, 1),
        age_days=87,
    )


class TestApprovalsQueue:
    """What an approver may press for each case in the queue."""

    def test_a_call_or_a_dispute_awaited_beside_an_approval_gets_no_button(self) -> None:
        """`call` and `dispute` are in `OverdueAwaiting` too, but nobody approves them."""
        html = _approvals_page([_item("Q-1", "agency_placement", "call", "dispute")], {"approve"})
        assert 'aria-label="Approve agency_placement for Q-1"' in html
        assert 'aria-label="Deny agency_placement for Q-1"' in html
        assert "Approve call" not in html and "Deny call" not in html
        assert "Approve dispute" not in html
        assert 'name="action" value="call"' not in html
        assert "<td>agency_placement</td>" in html  # the waiting-for column lists approvals only

    def test_a_viewer_sees_the_queue_without_buttons(self) -> None:
        """The same row for a role that may not approve: listed, nothing to press."""
        html = _approvals_page([_item("Q-2", "legal_referral", "call")], {"view"})
        assert 'id="row-Q-2"' in html and "<td>legal_referral</td>" in html
        assert "/cases/Q-2/approve" not in html and "/cases/Q-2/deny" not in html
