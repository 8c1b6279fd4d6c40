"""The workflow calls activities through one table; every action the core can ask for is in it."""

from __future__ import annotations

from temporalio import activity

from engine.case.vocabulary import ActionKind
from workers.activities import ACTIVITY_FOR


def test_every_action_kind_has_its_activity() -> None:
    assert set(ACTIVITY_FOR) == set(ActionKind)


def test_activity_names_are_the_method_names() -> None:
    """Names on the wire (in every history) stay what they were when they were strings."""
    names = {
        kind: activity._Definition.must_from_callable(fn).name for kind, fn in ACTIVITY_FOR.items()
    }
    assert names == {
        "contact": "send_contact",
        "agency_placement": "place_with_agency",
        "agency_recall": "recall_from_agency",
        "bureau_report": "report_to_bureau",
        "bureau_update": "update_bureau",
        "legal_referral": "refer_to_counsel",
        "approval_request": "request_approval",
    }
