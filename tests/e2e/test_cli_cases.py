"""The case commands of CLI.md end to end: `overdue case ...` against a real dev server and a
worker process, exit codes and JSON shapes included."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workers.converter import load_or_create_key
from workers.devserver import DevServer, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A dev server and a worker on a fresh data folder; the environment the CLI needs."""
    folder = tmp_path_factory.mktemp("cli")
    srv = DevServer(folder / "server", port=free_port(), ui_port=free_port(), headless=True)
    asyncio.run(srv.start())
    load_or_create_key(folder)  # as `overdue dev` does; no other command creates one
    environ = {**os.environ, "TEMPORAL_ADDRESS": srv.address, "OVERDUE_DATA_DIR": str(folder)}
    # The schema first, as an operator deploying does: the worker would upgrade it too, but in
    # its own time, and a command run meanwhile is told the schema is behind (a race, not a bug).
    upgraded = overdue(environ, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    with open(folder / "worker.log", "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "overdue.cli", "worker"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield environ
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        asyncio.run(srv.stop())


def overdue(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "overdue.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _aligned(table: str) -> None:
    """Every row of a table under a `WHEN` column starts with a time exactly as wide as the
    column's header, so the columns after it line up (they did not with microseconds)."""
    header, *rows = table.splitlines()
    width = header.index(header.split()[1]) - 2
    assert header.startswith("WHEN ") and width == 25, header
    timed = [row for row in rows if row[:4].isdigit()]
    assert timed, table
    for row in timed:
        assert datetime.fromisoformat(row[:width]).tzinfo is not None, row
        assert row[width : width + 2] == "  " and row[width + 2] != " ", row


def _case(case_id: str, days_overdue: int, **over: object) -> dict[str, object]:
    due = (datetime.now(UTC) - timedelta(days=days_overdue)).date().isoformat()
    case: dict[str, object] = {
        "case_id": case_id,
        "product": "credit_line",
        "amount_due": "1250.00",
        "currency": "CNY",
        "due_date": due,
        "policy": "consumer-credit-line",
        "risk_score": 610,
        "attitude": "neutral",
        "debtor": {
            "id": "D-" + case_id,
            "name": "王芳",
            "phone": "+8613800000000",
            "email": "wf@example.com",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
        },
    }
    case.update(over)
    return case


class TestCaseCommands:
    """open, import, status, history, pay, dispute, list and outbox."""

    def test_open_twice_is_refused(self, env: dict[str, str], tmp_path: Path) -> None:
        """The second open of the same case exits 1 and says so; the first case is untouched."""
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_case("CLI-1", 40)), encoding="utf-8")
        first = overdue(env, "case", "open", str(f))
        assert first.returncode == 0, first.stderr
        again = overdue(env, "case", "open", str(f))
        assert again.returncode == 1
        assert again.stderr.strip() == "error: case CLI-1 is already open"
        st = json.loads(overdue(env, "case", "status", "CLI-1", "--json").stdout)
        assert st["stage"] == "escalation" and st["closed"] is False
        assert st["balance"] == "1270.00" and st["currency"] == "CNY"  # the late fee of day 31
        assert st["policy"]["name"] == "consumer-credit-line" and len(st["policy"]["hash"]) == 64
        assert {"case_id", "days_past_due", "segment", "holds", "next_action"} <= set(st)

    def test_open_from_stdin(self, env: dict[str, str]) -> None:
        """`-` reads the case from standard input."""
        r = overdue(env, "case", "open", "-", stdin=json.dumps(_case("CLI-2", 2)))
        assert r.returncode == 0, r.stderr
        st = json.loads(overdue(env, "case", "status", "CLI-2", "--json").stdout)
        assert st["stage"] == "reminder"

    def test_import_reports_bad_rows_and_goes_on(self, env: dict[str, str], tmp_path: Path) -> None:
        """Bad rows are reported with their line, written to --reject; the rest open once."""
        rows = [
            _case("IMP-1", 10),
            _case("IMP-2", 95),
            _case("IMP-3", 5, amount_due="-3"),
            _case("IMP-1", 10),
            _case("IMP-4", 20, currency="USD"),
        ]
        f = tmp_path / "cases.jsonl"
        f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        rej = tmp_path / "rejects.jsonl"
        r = overdue(env, "case", "import", str(f), "--reject", str(rej))
        assert r.returncode == 1, r.stderr  # rows were rejected; the good ones opened all the same
        assert "opened 2, already open 0, rejected 3" in r.stdout
        err = r.stderr.strip().splitlines()
        assert [e.split(":")[1] for e in err] == ["3", "4", "5"]
        assert "amount_due" in err[0] and "duplicate" in err[1] and "USD" in err[2]
        assert [json.loads(x)["line"] for x in rej.read_text().splitlines()] == [3, 4, 5]
        again = overdue(env, "case", "import", str(f))
        assert "opened 0, already open 2, rejected 3" in again.stdout
        st = json.loads(overdue(env, "case", "status", "IMP-2", "--json").stdout)
        assert st["stage"] == "escalation"  # 95 days: legal referral needs approval first

    def test_bad_input_is_one_line_each(self, env: dict[str, str], tmp_path: Path) -> None:
        """A file that is not UTF-8, and rows out of bounds, are one line each; good rows still open."""
        latin = tmp_path / "latin.csv"
        latin.write_bytes("case_id\nC-é\n".encode("latin-1"))
        r = overdue(env, "case", "import", str(latin))
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not UTF-8" in r.stderr
        rows = [
            _case("BND-1", 3, amount_due="1e400"),
            _case("BND-2", 3, due_date="9999-12-31"),
            _case("BND-3", 3, debtor={**_case("x", 1)["debtor"], "name": "x" * 3_000_000}),  # type: ignore[dict-item]
            _case("BND-4", 3),
        ]
        f = tmp_path / "bounds.jsonl"
        f.write_text("\n".join(json.dumps(x) for x in rows) + "\n", encoding="utf-8")
        r = overdue(env, "case", "import", str(f))
        assert r.returncode == 1 and "opened 1, already open 0, rejected 3" in r.stdout
        assert [line.split(":")[1] for line in r.stderr.strip().splitlines()] == ["1", "2", "3"]
        assert "Traceback" not in r.stderr

    def test_events_and_history(self, env: dict[str, str], tmp_path: Path) -> None:
        """A bad payment is rejected with the validator's message; dispute holds; pay resolves."""
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_case("EV-1", 12)), encoding="utf-8")
        assert overdue(env, "case", "open", str(f)).returncode == 0
        bad = overdue(env, "case", "pay", "EV-1", "-5")
        assert bad.returncode == 1 and "payment must be positive" in bad.stderr
        held = overdue(env, "case", "dispute", "EV-1", "--reason", "not mine")
        assert held.returncode == 0 and "dispute" in held.stdout
        st = json.loads(overdue(env, "case", "status", "EV-1", "--json").stdout)
        assert st["holds"] == ["dispute"] and st["next_action"] is None
        assert (
            overdue(env, "case", "resolve-dispute", "EV-1", "--outcome", "rejected").returncode == 0
        )
        paid = overdue(env, "case", "pay", "EV-1", "1250.00", "--ref", "bank-1")
        assert paid.returncode == 0 and "resolved" in paid.stdout
        _aligned(overdue(env, "case", "history", "EV-1").stdout)
        hist = json.loads(overdue(env, "case", "history", "EV-1", "--json").stdout)
        kinds = [h["kind"] for h in hist]
        assert (
            kinds[0] == "opened" and "hold" in kinds and "release" in kinds and kinds[-1] == "close"
        )
        assert all(h["reason"] for h in hist)
        assert overdue(env, "case", "status", "NOPE-1").returncode == 1

    def test_list_and_outbox(self, env: dict[str, str], tmp_path: Path) -> None:
        """Cases list by stage; the outbox shows each contact once."""
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_case("LST-1", 15)), encoding="utf-8")
        assert overdue(env, "case", "open", str(f)).returncode == 0
        for _ in range(50):  # visibility is eventually consistent
            listed = json.loads(
                overdue(env, "case", "list", "--stage", "negotiation", "--json").stdout
            )
            if any(c["case_id"] == "LST-1" for c in listed):
                break
        assert any(c["case_id"] == "LST-1" and c["stage"] == "negotiation" for c in listed)
        assert [(c["balance"], c["currency"]) for c in listed if c["case_id"] == "LST-1"] == [
            ("1250.00", "CNY")
        ]  # once, a decimal string in its policy's currency
        table = overdue(env, "case", "list", "--stage", "negotiation").stdout.splitlines()
        assert table[0].split() == ["CASE", "STAGE", "SEGMENT", "BALANCE", "CUR", "POLICY"]
        [row] = [line for line in table if line.startswith("LST-1 ")]
        assert " 1250.00 CNY  consumer-credit-line v" in row
        box = json.loads(overdue(env, "outbox", "--json").stdout)
        ids = [row["action_id"] for row in box]
        assert len(ids) == len(set(ids))


def _zone_at_noon(now: datetime) -> str:
    """A fixed-offset zone in which it is about noon now (inside every contact window)."""
    offset = 12 - now.hour
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


class TestOnePerson:
    """Two cases of one debtor opened at the same moment, both with an SMS due a few seconds
    later: one goes, the other is deferred by the person's ledger with the rule's name."""

    def test_two_cases_one_contact_one_deferral(self, env: dict[str, str], tmp_path: Path) -> None:
        from zoneinfo import ZoneInfo

        now = datetime.now(UTC)
        tz = _zone_at_noon(now)
        local = now.astimezone(ZoneInfo(tz))
        policy = tmp_path / "person.yaml"
        policy.write_text(
            f"""
name: e2e-person
version: 1
jurisdictions: [CN]
timezone: {tz}
currency: CNY
locales: [en-US]
segments:
  - name: all
stages:
  reminder:
    enter_at_day: -1
    contacts:
      - {{id: hello, day: 0, channel: sms, template: hello, at: "{(local + timedelta(seconds=20)).strftime("%H:%M:%S")}"}}
    exits:
      - {{to: written_off, when: {{field: days_past_due, op: ">=", value: 30}}}}
templates:
  hello:
    text:
      en-US: "{{name}}, {{amount}} {{currency}} is due."
""",
            encoding="utf-8",
        )
        debtor = {
            "id": "D-PERSON",
            "name": "Lee",
            "phone": "+8613800000000",
            "email": "lee@example.com",
            "timezone": tz,
            "locale": "en-US",
        }
        rows = [
            _case(
                f"PER-{k}", 0, due_date=local.date().isoformat(), policy=str(policy), debtor=debtor
            )
            for k in (1, 2)
        ]
        f = tmp_path / "two.jsonl"
        f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        opened = overdue(env, "case", "import", str(f))
        assert opened.returncode == 0, opened.stderr

        deferred: list[dict[str, str]] = []
        for _ in range(120):
            histories = {
                k: json.loads(overdue(env, "case", "history", k, "--json").stdout)
                for k in ("PER-1", "PER-2")
            }
            sent = [h for hs in histories.values() for h in hs if h["kind"] == "contact"]
            deferred = [h for hs in histories.values() for h in hs if h["kind"] == "deferred"]
            if sent and deferred:
                break
            time.sleep(0.5)
        assert len(sent) == 1 and [d["detail"]["guardrail"] for d in deferred] == [
            "person.spacing.sms"
        ]
        box = [
            row
            for row in json.loads(overdue(env, "outbox", "--json").stdout)
            if row["case_id"].startswith("PER-")
        ]
        assert len(box) == 1 and box[0]["channel"] == "sms"

        person = overdue(env, "debtor", "status", "D-PERSON", "--json")
        assert person.returncode == 0, person.stderr
        doc = json.loads(person.stdout)
        assert sorted(c["case_id"] for c in doc["open_cases"]) == ["PER-1", "PER-2"]
        assert [c["case_id"] for c in doc["contacts"]] == [box[0]["case_id"]]
        nxt = datetime.fromisoformat(doc["next_allowed"]["sms"])
        assert nxt == datetime.fromisoformat(box[0]["at"]) + timedelta(hours=1)
        st = json.loads(overdue(env, "case", "status", "PER-1", "--json").stdout)
        assert st["debtor_id"] == "D-PERSON"
        unknown = overdue(env, "debtor", "status", "D-NOBODY")
        assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1

        # An opt-out on one account is the person's: the ledger refuses the channel for both.
        out = overdue(env, "case", "cease", "PER-2", "--channel", "email")
        assert out.returncode == 0, out.stderr
        again = overdue(env, "case", "cease", "PER-2", "--channel", "email")
        assert again.returncode == 1 and again.stderr.strip().endswith(
            "the debtor already refused email"
        )
        doc = json.loads(overdue(env, "debtor", "status", "D-PERSON", "--json").stdout)
        assert doc["refused"] == ["email"] and doc["ended"] is False
        st = json.loads(overdue(env, "case", "status", "PER-2", "--json").stdout)
        assert st["refused_channels"] == ["email"]
        assert "  refused      email" in overdue(env, "case", "status", "PER-2").stdout
        assert doc["next_allowed"]["email"] is None  # never, for every account of the person
        text = overdue(env, "debtor", "status", "D-PERSON").stdout
        assert "(refused: email)" in text.splitlines()[0]

        # A person none of whose cases contacted them yet: their open case is listed (found by
        # the `OverdueDebtor` attribute its start set), there is no ledger and no contact.
        quiet = _case(
            "PER-Q",
            -10,
            policy=str(policy),
            debtor={**debtor, "id": "D-QUIET"},
        )
        f = tmp_path / "quiet.json"
        f.write_text(json.dumps(quiet), encoding="utf-8")
        assert overdue(env, "case", "open", str(f)).returncode == 0
        for _ in range(60):  # visibility is eventually consistent
            shown = overdue(env, "debtor", "status", "D-QUIET", "--json")
            if shown.returncode == 0:
                break
            time.sleep(0.5)
        assert shown.returncode == 0, shown.stderr
        doc = json.loads(shown.stdout)
        assert [c["case_id"] for c in doc["open_cases"]] == ["PER-Q"]
        assert doc["ledger"] is False and doc["contacts"] == [] and doc["next_allowed"] == {}
        text = overdue(env, "debtor", "status", "D-QUIET").stdout
        assert "  open cases   PER-Q (" in text and "no contact yet" in text


class TestMoneyCommands:
    """`case pay --ref` applied once (twice in a row, twenty at once); `case settle`; honest
    `close settled`; an overpayment owed back."""

    def test_one_reference_twice_and_twenty_at_once(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_case("REF-E1", 12)), encoding="utf-8")
        assert overdue(env, "case", "open", str(f)).returncode == 0
        first = overdue(env, "case", "pay", "REF-E1", "100.00", "--ref", "BANK-TX-42")
        again = overdue(env, "case", "pay", "REF-E1", "100.00", "--ref", "BANK-TX-42")
        assert first.returncode == 0 and "already recorded" not in first.stdout
        assert again.returncode == 0 and again.stdout.startswith(
            "case REF-E1: payment ref BANK-TX-42 already recorded, not applied again (balance 1150.00 CNY)"
        )
        clash = overdue(env, "case", "pay", "REF-E1", "50.00", "--ref", "BANK-TX-42")
        assert clash.returncode == 1 and clash.stderr.strip().endswith(
            "was recorded for 100.00, not 50.00"
        )

        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "overdue.cli",
                    "case",
                    "pay",
                    "REF-E1",
                    "1.00",
                    "--ref",
                    "R",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(20)
        ]
        outs = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0] * 20, [err for _, err in outs]
        assert sum("already recorded" in out for out, _ in outs) == 19
        st = json.loads(overdue(env, "case", "status", "REF-E1", "--json").stdout)
        assert (st["balance"], st["paid"]) == ("1149.00", "101.00")

    def test_settle_then_pay_closes_settled(self, env: dict[str, str], tmp_path: Path) -> None:
        f = tmp_path / "c.json"
        f.write_text(json.dumps(_case("SET-E1", 12)), encoding="utf-8")
        assert overdue(env, "case", "open", str(f)).returncode == 0
        refused = overdue(env, "case", "close", "SET-E1", "--reason", "settled")
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert "no settlement is agreed" in refused.stderr
        low = overdue(env, "case", "settle", "SET-E1", "700.00")
        assert low.returncode == 1 and "at least 60% of the balance (750.00)" in low.stderr
        agreed = overdue(env, "case", "settle", "SET-E1", "800.00")
        assert agreed.returncode == 0 and "settlement" in agreed.stdout
        st = json.loads(overdue(env, "case", "status", "SET-E1", "--json").stdout)
        assert st["holds"] == ["settlement"] and st["settlement"]["amount"] == "800.00"
        paid = overdue(env, "case", "pay", "SET-E1", "900.00", "--ref", "bank-9")
        assert paid.returncode == 0 and "settled" in paid.stdout
        st = json.loads(overdue(env, "case", "status", "SET-E1", "--json").stdout)
        assert (st["stage"], st["closed"], st["balance"], st["refund_due"]) == (
            "settled",
            True,
            "0.00",
            "100.00",
        )
        retry = overdue(env, "case", "pay", "SET-E1", "900.00", "--ref", "bank-9")
        assert retry.returncode == 0 and "already recorded" in retry.stdout


class TestPolicyVersions:
    """`overdue policy versions NAME`: every version used, its hash, first use and open cases."""

    def test_versions_with_their_open_cases(self, env: dict[str, str], tmp_path: Path) -> None:
        """Three cases on v1 (one then paid off), two on v2: the counts come from visibility."""
        from engine.policy.compiled import policy_hash
        from engine.policy.files import POLICY_DIR, load_policy

        text = (POLICY_DIR / "consumer-credit-line.yaml").read_text(encoding="utf-8")
        text = text.replace("name: consumer-credit-line", "name: versions-demo")
        v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
        v1.write_text(text, encoding="utf-8")
        n = int(re.search(r"\nversion: (\d+)\n", text).group(1))  # type: ignore[union-attr]
        v2.write_text(
            text.replace(f"\nversion: {n}\n", f"\nversion: {n + 1}\n").replace(
                "grace_days: 3 ", "grace_days: 5 "
            ),
            encoding="utf-8",
        )
        for i, path in enumerate((v1, v1, v1, v2, v2), start=1):
            f = tmp_path / f"ver-{i}.json"
            f.write_text(json.dumps(_case(f"VER-{i}", 2, policy=str(path))), encoding="utf-8")
            opened = overdue(env, "case", "open", str(f))
            assert opened.returncode == 0, opened.stderr
        paid = overdue(env, "case", "pay", "VER-1", "1250.00")
        assert paid.returncode == 0, paid.stderr

        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while True:  # visibility is eventually consistent: the paid-off case leaves the count
            r = overdue(env, "policy", "versions", "versions-demo", "--json")
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            if [v["open_cases"] for v in doc["versions"]] == [2, 2] or datetime.now(UTC) > deadline:
                break
        assert doc["policy"] == "versions-demo"
        assert [(v["version"], v["hash"], v["open_cases"]) for v in doc["versions"]] == [
            (n, policy_hash(load_policy(v1)), 2),
            (n + 1, policy_hash(load_policy(v2)), 2),
        ]
        first, second = (datetime.fromisoformat(v["first_used"]) for v in doc["versions"])
        assert first.tzinfo is not None and first <= second

        table = overdue(env, "policy", "versions", "versions-demo")
        assert table.returncode == 0 and table.stdout.splitlines()[0] == "versions-demo: 2 versions"
        assert policy_hash(load_policy(v2))[:12] in table.stdout
        lines = table.stdout.splitlines()[1:]
        header = lines[0]
        for row in lines[1:]:  # the time fills its column exactly; open cases end where it ends
            first_used = row[header.index("first used") :][:25]
            assert datetime.fromisoformat(first_used).tzinfo is not None, row
            assert len(row) == len(header), (row, header)

    def test_a_policy_never_used(self, env: dict[str, str]) -> None:
        """Exit 1, one line."""
        r = overdue(env, "policy", "versions", "never-used")
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "never-used" in r.stderr
