"""The fuzz suite's figures: tried, clear errors, crashes, hangs and stuck cases per target.

    .venv/bin/python -m tests.fuzz.report            # 300 inputs per target
    .venv/bin/python -m tests.fuzz.report 2000       # a deeper run

Runs the same generators and targets as the tests in this folder, but counts every outcome
instead of stopping at the first failure; prints one line per target, then the first crash of
each kind. Exit 1 if anything crashed, hung or got stuck. "case files" counts files (a whole file
ends ok unless it crashes), "case rows" the rows in them (opened, or rejected with a reason),
"events" each event fed (applied, or rejected) and each case's final four months.
"""

from __future__ import annotations

import sys
import time

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from engine.case.intake import decode_text
from tests.fuzz.harness import FUZZ, Tally, judge
from tests.fuzz.policy_mutations import mutated_policy, mutated_tree
from tests.fuzz.test_case_rows import ANY_BYTES, FILE_NAMES, case_file, import_and_run
from tests.fuzz.test_events import play
from tests.fuzz.test_policies import load_and_run

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run every target `argv[0]` times (default 300) and print the figures."""
    n = int(argv[0]) if argv else 300
    quiet = settings(FUZZ, max_examples=n, phases=[Phase.generate])
    tallies = [
        Tally("policy files"),
        Tally("policy values"),
        Tally("case files"),
        Tally("case rows"),
        Tally("case bytes"),
        Tally("events"),
    ]
    pol, values, files, rows, raw, events = tallies

    def count_rows(name: str, text: str) -> None:
        opened, rejected = import_and_run(name, text)
        rows.counts["ok"] += opened
        rows.counts["clear"] += rejected

    @quiet
    @given(mutated_policy())
    def policies(text: str) -> None:
        judge(lambda: load_and_run(text), pol)

    @quiet
    @given(mutated_tree())
    def policy_values(text: str) -> None:
        judge(lambda: load_and_run(text), values)

    @quiet
    @given(case_file())
    def case_files(file: tuple[str, str]) -> None:
        outcome, _ = judge(lambda: count_rows(*file), files)
        if outcome not in ("ok", "clear"):
            rows.counts[outcome] += 1

    @quiet
    @given(ANY_BYTES, FILE_NAMES)
    def case_bytes(data: bytes, name: str) -> None:
        judge(lambda: import_and_run(name, decode_text(data, name)), raw)

    @quiet
    @given(st.data())
    def event_runs(data: st.DataObject) -> None:
        try:
            play(data, events)
        except AssertionError:
            pass  # already counted by the tally; the report goes on

    for target, shown in (
        (policies, [pol]),
        (policy_values, [values]),
        (case_files, [files, rows]),
        (case_bytes, [raw]),
        (event_runs, [events]),
    ):
        started = time.perf_counter()
        target()
        took = f"  ({time.perf_counter() - started:.1f} s)"
        for t in shown:
            print(t.line() + took)
            took = ""
    bad = 0
    for t in tallies:
        bad += t.counts["crash"] + t.counts["hang"] + t.counts["stuck"]
        for first, detail in t.crashes.items():
            print(f"\n--- {t.name}: {first}\n{detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
