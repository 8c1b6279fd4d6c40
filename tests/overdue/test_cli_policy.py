"""`overdue policy check|schema|explain`, and every shipped policy loading cleanly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.policy.files import POLICY_DIR, load_policy
from overdue.cli import main
from overdue.cli_policy import schema_json

SHIPPED = sorted(POLICY_DIR.glob("*.yaml"))

GOOD_TAIL = """
templates:
  hello:
    text: {en-US: "Hi {name}, {amount} {currency} is due. {pay_url}"}
"""

FIVE_STRUCTURAL = (
    """\
name: Bad Name
version: 1
jurisdictions: [CN, FR]
timezone: Asia/Shanghai
currency: CNY
locales: [en-US]
segments:
  - name: all
stages:
  reminder:
    colour: red
    contacts:
      - {day: one, channel: sms, template: hello}
      - {day: 2, channel: fax, template: hello}
    exits:
      - {to: written_off, when: {field: days_past_due, op: ">=", value: 30}}
"""
    + GOOD_TAIL
)

FIVE_MEANING = """\
name: meaning
version: 1
jurisdictions: [US]
timezone: America/New_York
currency: USD
locales: [en-US]
segments:
  - name: small
    amount: {max: 1000}
  - name: large
    amount: {min: 500}
stages:
  reminder:
    contacts:
      - {day: 1, channel: sms, template: nope}
    exits:
      - {to: written_off, when: {field: days_past_due, op: ">=", value: 30}}
  escalation:
    enter_at_day: 45
    exits:
      - {to: written_off, when: {field: days_past_due, op: ">=", value: 90}}
guardrails:
  window_end: "22:00"
templates:
  hello:
    text: {en-US: "Hi {nam}"}
"""


class TestShippedPolicies:
    """The policies we ship load, check and explain cleanly."""

    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
    def test_loads_and_starts_with_schema_line(self, path: Path) -> None:
        """Each file loads through the checking loader and names the schema for editors."""
        policy = load_policy(path)
        assert policy.name == path.stem
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=./policy.schema.json"

    def test_check_all_exit_zero(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`policy check policies/*.yaml` passes."""
        assert main(["policy", "check", *map(str, SHIPPED)]) == 0
        assert "OK" in capsys.readouterr().out

    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
    def test_explain_names_every_stage(
        self, path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`policy explain` describes every stage, contact and exit."""
        assert main(["policy", "explain", str(path)]) == 0
        out = capsys.readouterr().out
        for stage in load_policy(path).stages:
            assert f"Stage {stage}" in out
        assert "contacts only" in out and "->" in out
        # Counts read as English: "1 connected call", "6 unanswered call attempts".
        assert not re.search(r"\b1 (connected calls|unanswered call attempts)\b", out)


class TestSchema:
    """The committed JSON Schema is the one the models generate."""

    def test_committed_schema_in_sync(self) -> None:
        """Regenerate with `overdue policy schema > policies/policy.schema.json`."""
        committed = (POLICY_DIR / "policy.schema.json").read_text(encoding="utf-8")
        assert committed == schema_json()
        assert json.loads(committed)["title"] == "Policy"

    def test_schema_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`policy schema` prints it."""
        assert main(["policy", "schema"]) == 0
        assert json.loads(capsys.readouterr().out)["additionalProperties"] is False


class TestCheckErrors:
    """Every problem at once, each as FILE:LINE:COL: message, exit 1."""

    def _check(self, tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
        f = tmp_path / "p.yaml"
        f.write_text(text, encoding="utf-8")
        assert main(["policy", "check", str(f)]) == 1
        return capsys.readouterr().err.strip().splitlines()

    def test_five_structural_mistakes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad name pattern, unknown jurisdiction, unknown key, wrong type, unknown channel."""
        lines = self._check(tmp_path, FIVE_STRUCTURAL, capsys)
        f = tmp_path / "p.yaml"
        assert len(lines) == 5, lines
        assert lines[0].startswith(f"{f}:1:7: name:")
        assert lines[1].startswith(f"{f}:3:21: jurisdictions[1]: ") and "'FR'" in lines[1]
        assert lines[2].startswith(f"{f}:11:5: ") and "unknown key 'colour'" in lines[2]
        assert lines[3].startswith(f"{f}:13:15: ") and "integer" in lines[3]
        assert lines[4].startswith(f"{f}:14:27: ") and "'sms'" in lines[4]

    def test_five_meaning_mistakes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Overlapping segments, unknown template, unreachable stage, looser window, bad placeholder."""
        lines = self._check(tmp_path, FIVE_MEANING, capsys)
        f = tmp_path / "p.yaml"
        text = "\n".join(lines)
        assert len(lines) == 5, lines
        assert f"{f}:10:5: segment 'large' overlaps segment 'small'" in text
        assert f"{f}:15:42: unknown template 'nope'" in text
        assert f"{f}:18:3: stage 'escalation' is never reached" in text
        assert f"{f}:23:15: contact window may not close after 21:00 under US" in text
        assert f"{f}:26:19: placeholder {{nam}} cannot be filled" in text

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that does not exist is one line on stderr, exit 1."""
        assert main(["policy", "check", str(tmp_path / "nope.yaml")]) == 1
        assert "nope.yaml" in capsys.readouterr().err
