"""Fuzz: case files (JSON, JSON Lines, CSV, and bytes that may not be text at all) end in opened
cases or rejected rows with a reason, never a crash; every case that opens runs without one."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.case.intake import CSV_COLUMNS, decode_text, parse_cases
from engine.decision.decide import check_case, open_case
from engine.errors import OverdueError
from engine.policy import registry
from tests.fuzz.drive import NOW, run_for
from tests.fuzz.harness import FUZZ, examples, judge

BASE: dict[str, Any] = {
    "case_id": "C-1",
    "product": "credit_line",
    "amount_due": "1250.00",
    "currency": "CNY",
    "due_date": "2026-01-20",
    "policy": "consumer-credit-line",
    "risk_score": 610,
    "attitude": "neutral",
    "debtor": {
        "id": "D-1",
        "name": "王芳",
        "phone": "+8613800000000",
        "email": "wf@example.com",
        "address": "1 Main St",
        "timezone": "Asia/Shanghai",
        "locale": "zh-CN",
    },
    "consent": {"sms": True},
}
AMOUNTS = [
    "1e400",
    "1" * 30,
    "9" * 28,
    "999999999999999.99",
    "1000000000000000",
    "0",
    "-5",
    "0.001",
    "12.345",
    "NaN",
    "Infinity",
    "-0",
    "1E+999999999",
    "1e-999999999",
    " 12 ",
    "12,00",
    "0x10",
    "1_000",
    "١٢٣",
]
DATES = [
    "9999-12-31",
    "0001-01-01",
    "1969-12-31",
    "1970-01-01",
    "2100-12-31",
    "2101-01-01",
    "2026-02-30",
    "2026-1-1",
    "20260101",
    "2026-01-01T00:00:00",
    "",
    "yesterday",
]
TEXTS = [
    "",
    "x" * 201,
    "x" * 3_000_000,
    "a\r\nBcc: x@y",
    "\x00",
    "\u202e",
    "名" * 200,
    "'; DROP TABLE cases; --",
    "{name}",
    "%s%s%s",
    "🙂",
    "Asia/Shanghai",
    "Mars/Olympus",
    "US",
    "Etc",
    "../../etc/passwd",
    "zh-CN",
]
ODD = [None, True, 12, 1.5, -1, 10**400, [], {}, ["x"], {"a": 1}, float("nan"), float("inf")]


def _value(kind: str) -> st.SearchStrategy[Any]:
    pool = {"amount": AMOUNTS, "date": DATES}.get(kind, [])
    return st.one_of(
        st.sampled_from(pool + TEXTS + ODD),
        st.text(max_size=40),
        st.integers(-(10**30), 10**30),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
    )


@st.composite
def case_object(draw: st.DrawFn) -> dict[str, Any]:
    """The base case with one to four fields (or nested debtor fields) replaced or removed."""
    case = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        nested = isinstance(case.get("debtor"), dict) and draw(st.booleans())
        target = case["debtor"] if nested else case
        key = draw(st.sampled_from([*sorted(target), "extra_field"]))
        if draw(st.integers(0, 9)) == 0:
            target.pop(key, None)
            continue
        kind = "amount" if key == "amount_due" else "date" if key == "due_date" else "text"
        target[key] = copy.deepcopy(draw(_value(kind)))  # the pools hold mutable values
    return case


def _csv(cases: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    columns = [c for c in CSV_COLUMNS if not c.startswith("consent_")] + ["consent_sms"]
    w.writerow(columns)
    for c in cases:
        debtor = c.get("debtor") if isinstance(c.get("debtor"), dict) else {}
        flat = {
            **{k: v for k, v in c.items() if k not in ("debtor", "consent")},
            **{f"debtor_{k}": v for k, v in debtor.items()},
            "consent_sms": "true",
        }
        w.writerow(["" if flat.get(col) is None else str(flat.get(col)) for col in columns])
    return out.getvalue()


@st.composite
def case_file(draw: st.DrawFn) -> tuple[str, str]:
    """A case file: a name (its extension picks the format) and its text, perhaps broken."""
    cases = draw(st.lists(case_object(), min_size=1, max_size=4))
    for i, c in enumerate(cases):
        if "case_id" in c and draw(st.integers(0, 5)) > 0:
            c["case_id"] = f"C-{i}"
    fmt = draw(st.sampled_from(["json", "jsonl", "csv"]))
    if fmt == "json":
        text = json.dumps(
            cases if len(cases) > 1 else cases[0], ensure_ascii=draw(st.booleans()), default=str
        )
    elif fmt == "jsonl":
        text = "".join(json.dumps(c, ensure_ascii=False, default=str) + "\n" for c in cases)
    else:
        text = _csv(cases)
    if text and draw(st.integers(0, 3)) == 0:  # break the syntax somewhere
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(['"', "\n", ",", "{", "]", "\r", "\x00", '"\n"']))
            + text[at:]
        )
    return f"cases.{fmt}", text


def import_and_run(name: str, text: str) -> tuple[int, int]:
    """What `case import` does with a file, then each opened case's first two months; returns
    how many rows opened and how many were rejected."""
    result = parse_cases(text, name)
    opened, rejected = 0, len(result.rejects)
    for row in result.rows:
        try:
            cp = registry.load(row.case.policy)
            check_case(cp, row.case)
        except (OverdueError, FileNotFoundError):
            rejected += 1  # the import rejects the row with this message
            continue
        run_for(cp, open_case(cp, row.case, NOW), NOW, 60)
        opened += 1
    for reject in result.rejects:
        assert str(reject).startswith(f"line {reject.line}: ") and "\n" not in reject.message
    return opened, rejected


@settings(FUZZ, max_examples=examples(150))
@given(case_file())
def test_case_files(file: tuple[str, str]) -> None:
    """Every row ends opened or rejected with its line and reason."""
    outcome, detail = judge(lambda: import_and_run(*file))
    assert outcome in ("ok", "clear"), detail


#: Bytes that may not be text: random, UTF-16, or UTF-8 of any text.
ANY_BYTES = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
)
FILE_NAMES = st.sampled_from(["x.json", "x.jsonl", "x.csv", "-"])


@settings(FUZZ, max_examples=examples(200))
@given(ANY_BYTES, FILE_NAMES)
def test_any_bytes(data: bytes, name: str) -> None:
    """Bytes that may not be UTF-8, or any format at all: one clear error or rows and rejects."""
    outcome, detail = judge(lambda: import_and_run(name, decode_text(data, name)))
    assert outcome in ("ok", "clear"), detail
