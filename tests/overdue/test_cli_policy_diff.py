"""`overdue policy diff OLD NEW [--json]` on shipped names and edited files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.policy.files import POLICY_DIR
from overdue.cli import main


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """consumer-credit-line v3: one threshold and one message changed."""
    text = (POLICY_DIR / "consumer-credit-line.yaml").read_text(encoding="utf-8")
    text = text.replace("\nversion: 2\n", "\nversion: 3\n")
    text = text.replace(
        'when: {field: days_past_due, op: ">=", value: 31}',
        'when: {field: days_past_due, op: ">=", value: 40}',
    )
    text = text.replace("is due today. Pay:", "is due today, please pay:")
    path = tmp_path / "ccl-v2.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestPolicyDiff:
    """The command prints the core's diff; names of shipped policies work as FILE."""

    def test_text(self, edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Plain language, grouped by section."""
        assert main(["policy", "diff", "consumer-credit-line", str(edited)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("consumer-credit-line v2 (")
        assert (
            "Stages:\n  stage negotiation, exit to_escalation, condition: days_past_due >= 31 -> days_past_due >= 40"
            in out
        )
        assert "Templates:\n  template due_today, text in en-US:" in out

    def test_json(self, edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One JSON document with both versions and every change."""
        assert main(["policy", "diff", "consumer-credit-line", str(edited), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["old"]["version"] == 2 and doc["new"]["version"] == 3
        assert doc["sections"] == {"identity": 1, "stages": 1, "templates": 1}
        assert [c["path"] for c in doc["changes"]] == [
            "version",
            "stages.negotiation.exits.to_escalation.when",
            "templates.due_today.text.en-US",
        ]

    def test_same_policy(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A shipped name against its own file: no difference."""
        assert (
            main(["policy", "diff", "instalment-loan", str(POLICY_DIR / "instalment-loan.yaml")])
            == 0
        )
        assert capsys.readouterr().out.strip().endswith("no difference")

    def test_unknown_policy_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown name is a user error: exit 1, one line on stderr."""
        assert main(["policy", "diff", "consumer-credit-line", "no-such-policy"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no-such-policy" in err

    def test_invalid_new_version_reports_its_errors(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A NEW that does not load gets the loader's file:line:col errors, exit 1."""
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            (POLICY_DIR / "consumer-credit-line.yaml")
            .read_text(encoding="utf-8")
            .replace("grace_days: 3 ", "grace_days: -3 "),
            encoding="utf-8",
        )
        assert main(["policy", "diff", "consumer-credit-line", str(bad)]) == 1
        assert f"{bad}:" in capsys.readouterr().err
