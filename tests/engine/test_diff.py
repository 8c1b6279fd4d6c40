"""`engine.policy.diff`: real edits of the shipped policies, told in plain language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.policy.diff import PolicyDiff, diff_policies
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy

CCL = POLICY_DIR / "consumer-credit-line.yaml"
LOAN = POLICY_DIR / "instalment-loan.yaml"


def edited(tmp_path: Path, source: Path, *edits: tuple[str, str], bump: bool = True) -> Policy:
    """The shipped policy with text edits applied (each must match once), loaded and checked."""
    text = source.read_text(encoding="utf-8")
    if bump:
        edits = (("\nversion: 2\n", "\nversion: 3\n"), *edits)
    for old, new in edits:
        assert text.count(old) == 1, f"edit does not match exactly once: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def only(diff: PolicyDiff, section: str) -> list[str]:
    return [c.text for c in diff.changes if c.section == section]


class TestUnchanged:
    """A policy compared with itself."""

    @pytest.mark.parametrize("path", [CCL, LOAN], ids=lambda p: p.stem)
    def test_no_difference(self, path: Path) -> None:
        """Same content: identical, no change, and the text says so."""
        p = load_policy(path)
        diff = diff_policies(p, p)
        assert diff.identical and diff.changes == []
        assert diff.render().endswith("no difference")

    def test_same_version_different_content_is_pointed_out(self, tmp_path: Path) -> None:
        """An edit that forgot to bump the version is flagged in the text."""
        new = edited(tmp_path, CCL, ("grace_days: 3 ", "grace_days: 4 "), bump=False)
        diff = diff_policies(load_policy(CCL), new)
        assert [c.text for c in diff.changes] == ["grace days: 3 -> 4"]
        assert "version number did not" in diff.render()


class TestStages:
    """Thresholds, contact plans, events and steps inside stages."""

    def test_threshold(self, tmp_path: Path) -> None:
        """An exit threshold reads as the whole condition before and after."""
        new = edited(
            tmp_path,
            CCL,
            (
                'when: {field: days_past_due, op: ">=", value: 31}',
                'when: {field: days_past_due, op: ">=", value: 45}',
            ),
        )
        diff = diff_policies(load_policy(CCL), new)
        (change,) = [c for c in diff.changes if c.section == "stages"]
        assert change.path == "stages.negotiation.exits.to_escalation.when"
        assert change.text == (
            "stage negotiation, exit to_escalation, condition: "
            "days_past_due >= 31 -> days_past_due >= 45"
        )
        assert change.old == {
            "field": "days_past_due",
            "op": ">=",
            "value": 31,
            "all": None,
            "any": None,
        }

    def test_compound_threshold(self, tmp_path: Path) -> None:
        """A threshold inside an all: group is told as the whole group."""
        new = edited(
            tmp_path,
            CCL,
            (
                '- {field: balance, op: ">=", value: 1000}\n        approval',
                '- {field: balance, op: ">=", value: 1500}\n        approval',
            ),
        )
        assert only(diff_policies(load_policy(CCL), new), "stages") == [
            "stage escalation, exit to_legal, condition: days_past_due >= 91 and balance >= 1000 "
            "-> days_past_due >= 91 and balance >= 1500"
        ]

    def test_unnamed_contact_moved_to_another_day(self, tmp_path: Path) -> None:
        """A contact without an id whose day changes is one change, not a removal and an addition."""
        new = edited(
            tmp_path,
            CCL,
            (
                "{day: 9, channel: sms, template: negotiate}",
                "{day: 10, channel: sms, template: negotiate}",
            ),
        )
        diff = diff_policies(load_policy(CCL), new)
        assert only(diff, "stages") == ["stage negotiation, contact day_9.sms, day: 9 -> 10"]

    def test_contact_added_and_removed(self, tmp_path: Path) -> None:
        """A removed push and an added e-mail each read with their day, channel and template."""
        new = edited(
            tmp_path,
            CCL,
            (
                "      - {day: 5, channel: push, template: overdue}\n",
                "      - {day: 6, channel: email, template: overdue, every: 7, times: 2}\n",
            ),
        )
        assert only(diff_policies(load_policy(CCL), new), "stages") == [
            "stage reminder, contact day_5.push removed (was: day 5 push 'overdue')",
            "stage reminder, contact day_6.email added: day 6 email 'overdue', every 7 days, 2 times",
        ]

    def test_repeat_count_and_stage_event(self, tmp_path: Path) -> None:
        """A repeat count and an event rule added to a stage."""
        new = edited(
            tmp_path,
            CCL,
            (
                "template: call_script, every: 2, times: 8}",
                "template: call_script, every: 2, times: 6}",
            ),
            (
                "      plan_missed: {goto: escalation}\n",
                "      plan_missed: {goto: escalation}\n      promise_broken: {pause_days: 3}\n",
            ),
        )
        assert only(diff_policies(load_policy(CCL), new), "stages") == [
            "stage negotiation, contact agent_call, times: 8 -> 6",
            "stage negotiation, event promise_broken added: pauses collection 3 days",
        ]

    def test_on_entry_step(self, tmp_path: Path) -> None:
        """A step taken on entry that now needs approval."""
        new = edited(
            tmp_path,
            CCL,
            (
                "      - kind: agency_placement\n",
                "      - kind: agency_placement\n        requires_approval: true\n",
            ),
        )
        assert only(diff_policies(load_policy(CCL), new), "stages") == [
            "stage escalation, on entry agency_placement, requires approval: false -> true"
        ]


class TestSegmentsGuardrailsTemplates:
    """Classification, champion/challenger, guardrails and message texts."""

    def test_variant_weights_and_range(self, tmp_path: Path) -> None:
        """New split and a moved amount boundary."""
        new = edited(
            tmp_path,
            CCL,
            ("{name: champion, weight: 80}", "{name: champion, weight: 50}"),
            ("{name: challenger, weight: 20}", "{name: challenger, weight: 50}"),
            ("    amount: {min: 2000}\n", "    amount: {min: 3000}\n"),
        )
        assert only(diff_policies(load_policy(CCL), new), "segments") == [
            "segment mild-small, variant champion, weight: 80 -> 50",
            "segment mild-small, variant challenger, weight: 20 -> 50",
            "segment mild-large, amount: amount >= 2000 -> amount >= 3000",
        ]

    def test_segment_order(self, tmp_path: Path) -> None:
        """Moving a segment up changes which matches first: said as such."""
        severe = "  - name: severe\n    attitude: [evasive, hostile]\n"
        text = CCL.read_text(encoding="utf-8")
        assert text.count(severe) == 1
        new = edited(tmp_path, CCL, (severe, ""), ("segments:\n", "segments:\n" + severe))
        assert only(diff_policies(load_policy(CCL), new), "segments") == [
            "segment order (first match wins): mild-small, mild-large, severe -> severe, mild-small, mild-large"
        ]

    def test_guardrails(self, tmp_path: Path) -> None:
        """A tighter cap, a new cap and a later window start."""
        new = edited(
            tmp_path,
            CCL,
            (
                "sms: {max: 3, per_days: 7}",
                "sms: {max: 2, per_days: 7}\n    email: {max: 1, per_days: 7}",
            ),
            ('window_start: "09:00"', 'window_start: "09:30"'),
        )
        assert only(diff_policies(load_policy(CCL), new), "guardrails") == [
            "guardrails, window start: '09:00:00' -> '09:30:00'",
            "guardrails, cap on sms, max: 3 -> 2",
            "guardrails, cap on email added: at most 1 in any 7 days",
        ]

    def test_template_text_and_flag(self, tmp_path: Path) -> None:
        """One locale's text, and a template becoming a legally required notice."""
        new = edited(
            tmp_path,
            CCL,
            ("is due today. Pay: {pay_url}", "is due today. Please pay: {pay_url}"),
            ("  escalated:\n    text:", "  escalated:\n    legally_required: true\n    text:"),
        )
        texts = only(diff_policies(load_policy(CCL), new), "templates")
        assert texts == [
            "template due_today, text in en-US: '{name}, your bill of {amount} {currency} is due today. "
            "Pay: {pay_url}' -> '{name}, your bill of {amount} {currency} is due today. Please pay: {pay_url}'",
            "template escalated, legally required: false -> true",
        ]


class TestWholePolicies:
    """The two shipped policies against each other."""

    def test_every_section_appears_and_json_round_trips(self) -> None:
        """Different policies differ in every section; the JSON document is plain JSON."""
        diff = diff_policies(load_policy(LOAN), load_policy(CCL))
        assert set(diff.sections()) >= {
            "identity",
            "segments",
            "stages",
            "guardrails",
            "templates",
            "promise",
            "plan",
            "hardship",
            "events",
            "fees",
        }
        doc = json.loads(json.dumps(diff.to_json()))
        assert sum(doc["sections"].values()) == len(doc["changes"]) == len(diff.changes)
        assert (
            doc["old"]["name"] == "instalment-loan" and doc["new"]["name"] == "consumer-credit-line"
        )

    def test_symmetric(self) -> None:
        """Swapping old and new swaps added and removed, section by section.

        (Paths of a contact moved to another day name it by its old key, so they differ.)
        """
        a, b = load_policy(CCL), load_policy(LOAN)
        there, back = diff_policies(a, b), diff_policies(b, a)
        flip = {"added": "removed", "removed": "added", "changed": "changed"}
        assert sorted((c.section, flip[c.kind]) for c in there.changes) == sorted(
            (c.section, c.kind) for c in back.changes
        )
        assert {c.path for c in there.changes if ".contacts." not in c.path} == {
            c.path for c in back.changes if ".contacts." not in c.path
        }
