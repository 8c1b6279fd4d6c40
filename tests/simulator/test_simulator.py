"""The policy simulator: deterministic, lawful on every shipped policy, and its outputs keep the
shapes CLI.md fixes (JSON summary, trace lines) plus a self-contained HTML page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine.case.actions import CONTACT_CHANNELS
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES
from overdue.cli import main
from simulator.html import CHART_IDS, render_html
from simulator.portfolio import synthetic_case
from simulator.report import summary_json
from simulator.run import CHUNK, SimConfig, SimResult, simulate
from tests.conftest import SHIPPED, load_shipped

TIMING_KEYS = ("elapsed_seconds", "lifecycles_per_minute", "workers")
TRACE_KEYS = [
    "case_id",
    "debtor_id",
    "at",
    "local_at",
    "kind",
    "channel",
    "stage",
    "outcome",
    "reason",
]
#: CLI.md's kinds: every record of a trace has one of them.
TRACE_KINDS = {
    "contact",
    "deferred",
    "skipped",
    "stage",
    "hold",
    "release",
    "payment",
    "promise",
    "plan",
    "settlement",
    "fee",
    "placement",
    "recall",
    "bureau_report",
    "bureau_update",
    "approval",
    "legal_referral",
    "complaint",
    "close",
}


def stable(result: SimResult) -> str:
    """The JSON summary without the figures that vary run to run."""
    doc = summary_json(result)
    for key in TIMING_KEYS:
        doc.pop(key)
    return json.dumps(doc, sort_keys=True)


def _row(case_id: str, debtor: str, policy: str, amount: str) -> dict[str, object]:
    return {
        "case_id": case_id,
        "debtor": {
            "id": debtor,
            "name": "Lee",
            "phone": "+1",
            "email": "a@b.c",
            "address": "x",
            "timezone": "America/Chicago",
            "locale": "en-US",
        },
        "product": "instalment_loan",
        "amount_due": amount,
        "currency": "USD",
        "due_date": "2026-03-10",
        "policy": policy,
    }


class TestDeterminism:
    """Same seed, same everything: portfolio, trace bytes, and summary whatever the process count."""

    def test_portfolio_is_a_function_of_seed_and_index(self) -> None:
        cp = load_shipped("consumer-credit-line")
        from datetime import UTC, datetime

        start = datetime(2026, 3, 2, tzinfo=UTC)
        a = [synthetic_case(cp, 7, i, start, 180) for i in range(30)]
        b = [synthetic_case(cp, 7, i, start, 180) for i in range(30)]
        c = [synthetic_case(cp, 8, i, start, 180) for i in range(30)]
        assert a == b and a != c
        zones = {x.case.debtor.timezone for x in a}
        assert "Asia/Shanghai" in zones and len(zones) > 2

    def test_same_seed_same_trace(self, tmp_path: Path) -> None:
        paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
        for p in paths:
            simulate(
                SimConfig(
                    policy="instalment-loan", cases=40, days=90, seed=3, trace=str(p), workers=1
                )
            )
        first = paths[0].read_bytes()
        assert first and first == paths[1].read_bytes()

    def test_one_or_two_processes(self, tmp_path: Path) -> None:
        n = CHUNK * 2 + 17  # three chunks, split unevenly over two processes
        one = simulate(
            SimConfig(
                policy="consumer-credit-line",
                cases=n,
                days=45,
                seed=11,
                workers=1,
                trace=str(tmp_path / "1.jsonl"),
            )
        )
        two = simulate(
            SimConfig(
                policy="consumer-credit-line",
                cases=n,
                days=45,
                seed=11,
                workers=2,
                trace=str(tmp_path / "2.jsonl"),
            )
        )
        assert two.workers == 2
        assert stable(one) == stable(two)
        assert (tmp_path / "1.jsonl").read_bytes() == (tmp_path / "2.jsonl").read_bytes()


class TestLawful:
    """Every shipped policy, several seeds: no guardrail violation, no invalid event sent."""

    @pytest.mark.parametrize("policy", SHIPPED)
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_no_violations(self, policy: str, seed: int) -> None:
        result = simulate(SimConfig(policy=policy, cases=60, days=150, seed=seed, workers=1))
        t = result.runs[0].tally
        assert t.violations == 0, t.violation_samples
        assert t.rejected_events == 0, t.rejected_samples
        assert sum(t.contacts.values()) > 0 and t.recovered > 0


class TestOutputs:
    """The JSON summary, the trace and the HTML page."""

    def test_daily_series_add_up(self) -> None:
        t = (
            simulate(SimConfig(policy="instalment-loan", cases=50, days=70, workers=1))
            .runs[0]
            .tally
        )
        series = t.stage_series()
        assert all(sum(col) == 50 for col in zip(*series.values(), strict=True))
        assert {s: v[-1] for s, v in series.items() if v[-1]} == {
            s: n for s, n in t.final_stages.items() if n
        }
        assert t.recovery_series()[-1] == t.recovered

    def test_json_has_the_cli_keys(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert (
            main(
                [
                    "simulate",
                    "consumer-credit-line",
                    "--cases",
                    "30",
                    "--days",
                    "60",
                    "--json",
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert list(doc)[:9] == [
            "policy",
            "cases",
            "days",
            "seed",
            "final_stages",
            "recovered",
            "contacts",
            "deferred",
            "violations",
        ]
        assert (doc["policy"], doc["cases"], doc["days"], doc["seed"]) == (
            "consumer-credit-line",
            30,
            60,
            7,
        )
        assert set(doc["final_stages"]) == set(ACTIVE_STAGES + TERMINAL_STAGES)
        assert sum(doc["final_stages"].values()) == 30
        assert re.fullmatch(r"\d+\.\d\d", doc["recovered"])
        assert set(doc["contacts"]) == set(CONTACT_CHANNELS)
        assert isinstance(doc["deferred"], int) and doc["violations"] == 0
        assert doc["lifecycles_per_minute"] > 0 and doc["variants"]
        assert err == ""

    def test_compare(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert (
            main(
                [
                    "simulate",
                    "consumer-credit-line",
                    "--compare",
                    "instalment-loan",
                    "--cases",
                    "20",
                    "--days",
                    "40",
                    "--json",
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
        doc = json.loads(capsys.readouterr().out)
        assert doc["compare"]["policy"] == "instalment-loan" and doc["compare"]["cases"] == 20
        assert doc["compare"]["amount_due"] == doc["amount_due"]  # the same portfolio

    def test_trace_lines(self, tmp_path: Path) -> None:
        path = tmp_path / "t.jsonl"
        simulate(
            SimConfig(policy="consumer-credit-line", cases=25, days=60, trace=str(path), workers=1)
        )
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        assert lines and all(list(x)[: len(TRACE_KEYS)] == TRACE_KEYS for x in lines)
        assert all(set(x) - set(TRACE_KEYS) <= {"guardrail"} for x in lines)
        assert all(x["guardrail"] for x in lines if x["kind"] in ("deferred", "skipped"))
        assert {x["kind"] for x in lines} <= TRACE_KINDS
        calls = [x for x in lines if x["kind"] == "contact" and x["channel"] == "call"]
        assert calls and {x["outcome"] for x in calls} <= {"connected", "unanswered"}
        assert all(x["at"].endswith("+00:00") and x["reason"] for x in lines)
        first = lines[0]
        assert first["local_at"][:19] != first["at"][:19] or first["local_at"].endswith("+00:00")

    def test_html_is_self_contained(self, tmp_path: Path) -> None:
        result = simulate(
            SimConfig(
                policy="consumer-credit-line",
                compare="instalment-loan",
                cases=30,
                days=50,
                workers=1,
            )
        )
        page = render_html(result)
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
        assert "<script" not in page.lower() and "<link" not in page.lower()

        class Ids(HTMLParser):
            def __init__(self) -> None:
                super().__init__()
                self.ids: dict[str, str] = {}

            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                for k, v in attrs:
                    if k == "id" and v:
                        self.ids[v] = tag

        parser = Ids()
        parser.feed(page)
        parser.close()
        for chart in CHART_IDS:
            assert parser.ids.get(chart) == ("table" if chart.startswith("table") else "svg"), chart
        assert parser.ids.get("chart-stages-2") == "svg"  # the compared policy's stages

    def test_html_file_through_the_cli(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        page = tmp_path / "r.html"
        assert (
            main(
                [
                    "simulate",
                    "instalment-loan",
                    "--cases",
                    "10",
                    "--days",
                    "30",
                    "--html",
                    str(page),
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
        assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert "violations" in capsys.readouterr().out

    def test_portfolio_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        rows = [_row(f"P-{i}", "D", "instalment-loan", f"{1000 + i}.50") for i in range(3)]
        path = tmp_path / "cases.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        assert (
            main(
                [
                    "simulate",
                    "instalment-loan",
                    "--portfolio",
                    str(path),
                    "--days",
                    "30",
                    "--json",
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
        doc = json.loads(capsys.readouterr().out)
        assert doc["cases"] == 3 and doc["amount_due"] == "3004.50" and doc["start"] == "2026-03-05"


class TestErrors:
    """User mistakes: one line on stderr, exit 1."""

    def test_missing_policy(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["simulate", "no-such-policy.yaml", "--cases", "5"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "no-such-policy" in err

    def test_bad_portfolio_rows(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "bad.jsonl"
        path.write_text('{"case_id": "X"}\n', encoding="utf-8")
        assert main(["simulate", "instalment-loan", "--portfolio", str(path)]) == 1
        assert f"{path}:1: " in capsys.readouterr().err

    def test_bad_count_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as e:
            main(["simulate", "instalment-loan", "--cases", "0"])
        assert e.value.code == 2


#: A small USD policy, stricter on SMS than instalment-loan (one a week).
STRICT = Path(__file__).parent.parent / "fixtures" / "policies" / "sms-strict-usd.yaml"


class TestMixedPolicies:
    """A person's accounts on different policies: each runs under its own, sharing the person's
    ledger; the figures are the simulated policy's, the violations everyone's."""

    def _portfolio(self, tmp_path: Path) -> Path:
        (tmp_path / STRICT.name).write_bytes(STRICT.read_bytes())
        rows = [
            _row("P-1", "D", "instalment-loan", "1000.00"),
            _row("P-2", "D", STRICT.name, "2000.00"),  # relative to the case file
            _row("P-3", "E", "instalment-loan", "300.00"),
            _row("P-4", "E", "no-such-policy", "400.00"),  # not found: the simulated policy
        ]
        path = tmp_path / "cases.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    def test_a_row_on_another_policy_runs_under_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        trace = tmp_path / "trace.jsonl"
        argv = ["simulate", "instalment-loan", "--portfolio", str(self._portfolio(tmp_path))]
        argv += ["--days", "40", "--json", "--workers", "1", "--trace", str(trace)]
        assert main([*argv, "--html", str(tmp_path / "page.html")]) == 0
        doc = json.loads(capsys.readouterr().out)
        page = (tmp_path / "page.html").read_text(encoding="utf-8")
        assert '<th>other-policy accounts (not counted)</th><td class="n">1</td>' in page
        assert doc["cases"] == 3 and doc["amount_due"] == "1700.00"
        assert sum(doc["final_stages"].values()) == 3
        assert doc["violations"] == 0, doc.get("violation_examples")
        assert doc["other_policy_cases"] == {"sms-strict-usd": 1}
        assert doc["other_policy_refused"] == 0
        lines = [json.loads(x) for x in trace.read_text(encoding="utf-8").splitlines()]
        labels = {(x["case_id"], x.get("policy")) for x in lines}
        assert {c for c, _ in labels} == {"P-1", "P-2", "P-3", "P-4"}
        assert {p for c, p in labels if c == "P-2"} == {"sms-strict-usd"}
        assert {p for c, p in labels if c != "P-2"} == {None}
        own = [x for x in lines if x["case_id"] == "P-2"]
        # The strict policy's weekly SMS cap counts the person's SMS on the other account.
        assert any(x.get("guardrail") == "person.cap.sms.1_per_7d" for x in own)
        sms = sum(1 for x in lines if x["kind"] == "contact" and x["channel"] == "sms")
        counted = sum(
            1
            for x in lines
            if x["kind"] == "contact" and x["channel"] == "sms" and x["case_id"] != "P-2"
        )
        assert doc["contacts"]["sms"] == counted < sms

    def test_compared_the_other_account_keeps_its_policy(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        trace = tmp_path / "trace.jsonl"
        argv = ["simulate", "instalment-loan", "--compare", "consumer-credit-line"]
        argv += ["--portfolio", str(self._portfolio(tmp_path)), "--days", "30", "--json"]
        argv += ["--workers", "1", "--trace", str(trace)]
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        for run in (doc, doc["compare"]):
            assert run["cases"] == 3 and run["violations"] == 0
            assert run["other_policy_cases"] == {"sms-strict-usd": 1}
        lines = [json.loads(x) for x in trace.read_text(encoding="utf-8").splitlines()]
        labels = {(x["case_id"], x["policy"]) for x in lines}
        assert {p for c, p in labels if c == "P-2"} == {"sms-strict-usd"}
        assert {p for c, p in labels if c != "P-2"} == {"instalment-loan", "consumer-credit-line"}

    def test_synthetic_accounts_on_another_policy(self, capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["simulate", "instalment-loan", "--cases", "120", "--days", "45", "--json"]
        argv += ["--workers", "1", "--shared-debtors", "0.6"]
        assert main(argv) == 0
        alone = json.loads(capsys.readouterr().out)
        assert main([*argv, "--other-policy", str(STRICT)]) == 0
        mixed = json.loads(capsys.readouterr().out)
        assert alone["cases"] == 120 and "other_policy_cases" not in alone
        others = mixed["other_policy_cases"]["sms-strict-usd"]
        assert 0 < others < 120 and mixed["cases"] + others == 120
        assert mixed["violations"] == 0, mixed.get("violation_examples")

    def test_other_policy_in_another_currency_is_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["simulate", "consumer-credit-line", "--other-policy", "instalment-loan"]
        assert main([*argv, "--cases", "5"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "USD" in err and "CNY" in err

    def test_other_policy_is_for_synthetic_portfolios(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["simulate", "instalment-loan", "--other-policy", str(STRICT)]
        assert main([*argv, "--portfolio", str(self._portfolio(tmp_path))]) == 1
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "synthetic" in err

    def test_a_row_naming_a_policy_file_that_does_not_load_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "broken.yaml").write_text("name: broken\n", encoding="utf-8")
        path = tmp_path / "cases.jsonl"
        path.write_text(json.dumps(_row("P-1", "D", "broken.yaml", "10.00")) + "\n", "utf-8")
        assert main(["simulate", "instalment-loan", "--portfolio", str(path)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and "broken.yaml" in err and "Traceback" not in err
