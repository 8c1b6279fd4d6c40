"""Case-file intake: JSON, JSON Lines and CSV into cases, every bad row with its line and reason."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.case.intake import CSV_COLUMNS, detect_format, parse_cases, read_case_file
from engine.errors import OverdueError


def case(case_id: str = "C-1", **overrides: object) -> dict[str, object]:
    """A valid case object (nested, as in a JSON file)."""
    base: dict[str, object] = {
        "case_id": case_id,
        "debtor": {
            "id": "D-1",
            "name": "Lee",
            "phone": "+8613800000000",
            "email": "lee@example.com",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
        },
        "product": "credit_line",
        "amount_due": "1250.00",
        "currency": "CNY",
        "due_date": "2026-03-01",
        "policy": "consumer-credit-line",
    }
    base.update(overrides)
    return base


def jsonl(*objs: dict[str, object]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


HEADER = "case_id,debtor_id,debtor_name,debtor_timezone,debtor_locale,product,amount_due,currency,due_date,policy"


def csv_row(case_id: str = "C-1", amount: str = "10.00", extra: str = "") -> str:
    return f"{case_id},D-1,Lee,UTC,en-US,instalment_loan,{amount},USD,2026-01-01,instalment-loan{extra}\n"


class TestJson:
    """One JSON object, or an array of them, each row at the line its object starts on."""

    def test_one_object(self) -> None:
        r = parse_cases(json.dumps(case(risk_score=300, consent={"sms": False})), "c.json")
        assert r.rejects == []
        [row] = r.rows
        assert row.line == 1
        assert (
            row.case.case_id == "C-1"
            and row.case.risk_score == 300
            and row.case.consent == {"sms": False}
        )

    def test_array_lines(self) -> None:
        text = "[\n  " + json.dumps(case("C-1")) + ",\n\n  " + json.dumps(case("C-2")) + "\n]\n"
        r = parse_cases(text, "c.json")
        assert [(x.line, x.case.case_id) for x in r.rows] == [(2, "C-1"), (4, "C-2")]

    def test_amounts_are_exact_decimals(self) -> None:
        text = '{"amount_due": 1234567890123.45, ' + json.dumps(case())[1:].replace(
            '"amount_due": "1250.00", ', ""
        )
        [row] = parse_cases(text, "c.json").rows
        assert row.case.amount_due == Decimal("1234567890123.45")
        assert isinstance(row.case.amount_due, Decimal)
        assert str(row.case.amount_due) == "1234567890123.45"

    def test_whole_amount_gets_currency_precision(self) -> None:
        [row] = parse_cases(json.dumps(case(amount_due=1250)), "c.json").rows
        assert str(row.case.amount_due) == "1250.00"

    def test_syntax_error_has_line_and_column(self) -> None:
        r = parse_cases('[\n{"case_id": "C-1",\n  "debtor": }\n]', "c.json")
        assert r.rows == []
        [rej] = r.rejects
        assert (
            rej.line == 3 and "column 13" in rej.message and rej.message.startswith("invalid JSON")
        )
        assert str(rej).startswith("line 3: invalid JSON at column 13")

    def test_nan_is_rejected(self) -> None:
        r = parse_cases('{"amount_due": NaN}', "c.json")
        assert [str(x) for x in r.rejects] == ["line 1: invalid JSON: NaN is not a number"]

    def test_non_object_element(self) -> None:
        r = parse_cases("[\n" + json.dumps(case()) + ",\n 42\n]", "c.json")
        assert len(r.rows) == 1
        assert [str(x) for x in r.rejects] == ["line 3: expected a JSON object, found int"]

    def test_text_after_the_object(self) -> None:
        r = parse_cases(json.dumps(case()) + "\n\n" + json.dumps(case("C-2")), "c.json")
        assert len(r.rows) == 1
        assert r.rejects[0].line == 3 and "after the JSON object" in r.rejects[0].message

    def test_flat_names_are_accepted(self) -> None:
        flat = {k: v for k, v in case().items() if k != "debtor"}
        flat.update(
            {
                "debtor_id": "D",
                "debtor_name": "Lee",
                "debtor_timezone": "UTC",
                "debtor_locale": "en-US",
                "consent_sms": False,
            }
        )
        [row] = parse_cases(json.dumps(flat), "c.json").rows
        assert row.case.debtor.timezone == "UTC" and row.case.consent == {"sms": False}


class TestJsonLines:
    """One object per line; blank lines skipped; a bad line does not stop the rest."""

    def test_rows_and_rejects_keep_their_lines(self) -> None:
        text = (
            jsonl(case("C-1"))
            + "\n"
            + '{"case_id": \n'
            + jsonl(case("C-2"), case("C-3", amount_due="0"))
        )
        r = parse_cases(text, "c.jsonl")
        assert [(x.line, x.case.case_id) for x in r.rows] == [(1, "C-1"), (4, "C-2")]
        assert [str(x) for x in r.rejects] == [
            "line 3: invalid JSON at column 13: Expecting value",
            "line 5: amount_due: must be greater than 0",
        ]

    def test_ndjson_extension(self) -> None:
        assert len(parse_cases(jsonl(case("A"), case("B")), "x.ndjson").rows) == 2


class TestCsv:
    """Flat columns into the nested case; a row's line is where its record starts."""

    def test_flat_columns(self) -> None:
        text = (
            HEADER
            + ",consent_sms,consent_email,risk_score,attitude,debtor_phone\n"
            + csv_row(extra=",no,true,300,evasive,+1555")
        )
        [row] = parse_cases(text, "c.csv").rows
        c = row.case
        assert row.line == 2
        assert (
            c.debtor.name == "Lee"
            and c.debtor.phone == "+1555"
            and c.consent == {"sms": False, "email": True}
        )
        assert c.risk_score == 300 and c.attitude == "evasive" and c.amount_due == Decimal("10.00")

    def test_empty_optional_cells_take_defaults(self) -> None:
        [row] = parse_cases(HEADER + ",risk_score,attitude\n" + csv_row(extra=",,"), "c.csv").rows
        assert row.case.risk_score is None and row.case.attitude == "neutral"

    def test_a_quote_never_spans_lines(self) -> None:
        """A quoted cell left open is reported on its own line; the rows after it still open."""
        text = (
            HEADER
            + "\n"
            + csv_row("C-1")
            + 'C-2,D-1,"Lee,UTC,en-US,p,1,USD,2026-01-01,x\n'
            + csv_row("C-3")
        )
        r = parse_cases(text, "c.csv")
        assert [x.case.case_id for x in r.rows] == ["C-1", "C-3"]
        assert [str(x) for x in r.rejects] == [
            "line 3: invalid CSV: a quoted cell is not closed on its line"
        ]

    def test_quoted_cells_with_commas(self) -> None:
        text = HEADER + ",debtor_address\n" + csv_row("C-1", extra=',"1 Main St, Springfield"')
        [row] = parse_cases(text, "c.csv").rows
        assert row.case.debtor.address == "1 Main St, Springfield"

    def test_bad_cells(self) -> None:
        text = HEADER + ",consent_sms\n" + csv_row("C-1", extra=",maybe") + "C-2,D-1,Lee\n"
        r = parse_cases(text, "c.csv")
        assert [str(x) for x in r.rejects] == [
            "line 2: consent_sms: must be true or false, not 'maybe'",
            "line 3: 3 cells, the header has 11",
        ]

    def test_bad_header_stops_the_file(self) -> None:
        r = parse_cases("case_id,colour\nC-1,red\n", "c.csv")
        assert r.rows == []
        [rej] = r.rejects
        assert (
            rej.line == 1
            and "unknown column(s) colour" in rej.message
            and "missing column(s) debtor_id" in rej.message
        )

    def test_every_column_is_known(self) -> None:
        assert "debtor_third_party_phone" in CSV_COLUMNS and "consent_field_visit" in CSV_COLUMNS


class TestRejects:
    """Each kind of bad row says what is wrong with which field, on its line."""

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"amount_due": "-5"}, "amount_due: must be greater than 0"),
            (
                {"amount_due": "12.345"},
                "amount_due: amount '12.345' has more decimals than CNY allows",
            ),
            ({"amount_due": "lots"}, "amount_due: not a number: 'lots'"),
            ({"due_date": "2026-02-30"}, "due_date: not a date (YYYY-MM-DD): '2026-02-30'"),
            ({"currency": "XXX"}, "currency: unknown currency 'XXX'"),
            ({"risk_score": 1001}, "risk_score: must be at most 1000"),
            (
                {"attitude": "rude"},
                "attitude: must be 'cooperative', 'neutral', 'evasive' or 'hostile', not 'rude'",
            ),
            ({"case_id": "C 1"}, "case_id: 'C 1' may only hold letters, digits and _ . : -"),
            ({"colour": "red"}, "colour: unknown field"),
            ({"amount_due": "1e400"}, "amount_due: must be less than 1000000000000000"),
            ({"amount_due": "1" * 30}, "amount_due: must be less than 1000000000000000"),
            ({"amount_due": "9" * 28}, "amount_due: must be less than 1000000000000000"),
            ({"amount_due": "NaN"}, "amount_due: input should be a finite number"),
            ({"due_date": "9999-12-31"}, "due_date: must be at most 2100-12-31"),
            ({"due_date": "0001-01-01"}, "due_date: must be at least 1970-01-01"),
            ({"product": "p" * 65}, "product: string should have at most 64 characters"),
            ({"policy": ""}, "policy: string should have at least 1 character"),
            (
                {"consent": {f"c{i}": True for i in range(17)}},
                "consent: has too many entries (at most 16)",
            ),
        ],
    )
    def test_field_problems(self, overrides: dict[str, object], message: str) -> None:
        r = parse_cases(jsonl(case("OK")) + jsonl(case(**overrides)), "c.jsonl")
        assert [str(x) for x in r.rejects] == [f"line 2: {message}"]
        assert [x.case.case_id for x in r.rows] == ["OK"]

    @pytest.mark.parametrize(
        ("debtor", "message"),
        [
            ({"name": "x" * 3_000}, "debtor.name: string should have at most 200 characters"),
            ({"name": ""}, "debtor.name: string should have at least 1 character"),
            (
                {"email": "lee@example.com\r\nBcc: x@y"},
                "debtor.email: control characters (such as line breaks) are not allowed",
            ),
            ({"address": "a" * 501}, "debtor.address: string should have at most 500 characters"),
            ({"phone": "1" * 33}, "debtor.phone: string should have at most 32 characters"),
        ],
    )
    def test_debtor_fields_are_bounded(self, debtor: dict[str, str], message: str) -> None:
        data = case()
        data["debtor"] = {**data["debtor"], **debtor}  # type: ignore[dict-item]
        [rej] = parse_cases(json.dumps(data), "c.json").rejects
        assert rej.message == message

    @pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
    def test_a_huge_row_is_refused_unread(self, fmt: str) -> None:
        """A 3 MB name is refused by its size alone, in every format; the next row still opens."""
        big = "x" * 3_000_000
        if fmt == "csv":
            text = HEADER + "\n" + csv_row("C-1").replace("Lee", big) + csv_row("C-2")
            bad_line = 2
        elif fmt == "jsonl":
            text = jsonl(case("C-1", product=big), case("C-2"))
            bad_line = 1
        else:
            text = (
                "[\n"
                + json.dumps(case("C-1", product=big))
                + ",\n"
                + json.dumps(case("C-2"))
                + "\n]"
            )
            bad_line = 2
        r = parse_cases(text, f"c.{fmt}")
        assert [x.case.case_id for x in r.rows] == ["C-2"]
        [rej] = r.rejects
        assert rej.line == bad_line and "a case may be at most 65536" in rej.message

    def test_missing_fields_are_all_named(self) -> None:
        data = case()
        del data["policy"]
        del data["debtor"]["timezone"]  # type: ignore[attr-defined]
        [rej] = parse_cases(json.dumps(data), "c.json").rejects
        assert rej.message == "debtor.timezone: is required; policy: is required"

    @pytest.mark.parametrize("zone", ["Mars/Olympus", "US", "America", "../etc", "/etc/passwd"])
    def test_unknown_time_zone(self, zone: str) -> None:
        """A name that is no zone, a folder of zones (found by tests/fuzz), a path: all one reason."""
        data = case()
        data["debtor"]["timezone"] = zone  # type: ignore[index]
        [rej] = parse_cases(json.dumps(data), "c.json").rejects
        assert rej.message == f"debtor.timezone: unknown time zone {zone!r}"

    def test_short_decimal_is_padded(self) -> None:
        r = parse_cases(jsonl(case(amount_due="0.1")), "c.jsonl")
        assert r.rows[0].case.amount_due == Decimal("0.10")

    def test_duplicates_name_the_first_line(self) -> None:
        r = parse_cases(
            jsonl(case("C-1"), case("C-2"), case("C-3"), case("C-1"), case("C-3")), "c.jsonl"
        )
        assert [x.case.case_id for x in r.rows] == ["C-1", "C-2", "C-3"]
        assert [str(x) for x in r.rejects] == [
            "line 4: duplicate case_id C-1 (first on line 1)",
            "line 5: duplicate case_id C-3 (first on line 3)",
        ]

    def test_duplicates_in_csv(self) -> None:
        r = parse_cases(HEADER + "\n" + csv_row("C-3") + csv_row("C-4") + csv_row("C-3"), "c.csv")
        assert [str(x) for x in r.rejects] == ["line 4: duplicate case_id C-3 (first on line 2)"]


class TestFormat:
    """The format comes from the extension, else from the content."""

    @pytest.mark.parametrize(
        ("source", "text", "fmt"),
        [
            ("a.json", "", "json"),
            ("a.JSONL", "", "jsonl"),
            ("a.ndjson", "", "jsonl"),
            ("a.csv", "", "csv"),
            ("-", "[{}]", "json"),
            ("<stdin>", '{\n "a": 1\n}', "json"),
            ("x", '{"a": 1}\n{"a": 2}\n', "jsonl"),
            ("x", HEADER + "\n", "csv"),
        ],
    )
    def test_detect(self, source: str, text: str, fmt: str) -> None:
        assert detect_format(text, source) == fmt

    def test_forced_format_and_bom(self) -> None:
        r = parse_cases("\ufeff" + json.dumps(case()), "cases.txt", fmt="json")
        assert len(r.rows) == 1

    def test_read_case_file(self, tmp_path: Path) -> None:
        p = tmp_path / "cases.csv"
        p.write_text(HEADER + "\n" + csv_row(), encoding="utf-8")
        assert [c.case_id for c in read_case_file(p).cases] == ["C-1"]

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                "case_id\nC-é".encode("latin-1"),
                r"c.csv:2: not UTF-8 text \(byte 0xe9 at offset 10\)",
            ),
            ("case_id\n".encode("utf-16"), "c.csv: the file is UTF-16; case files must be UTF-8"),
            (bytes(range(256)), r"c.csv:2: not UTF-8 text \(byte 0x80 at offset 128\)"),
        ],
    )
    def test_not_utf8_is_one_clear_error(self, tmp_path: Path, data: bytes, message: str) -> None:
        p = tmp_path / "c.csv"
        p.write_bytes(data)
        with pytest.raises(OverdueError, match=message):
            read_case_file(p)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(OverdueError, match="No such file"):
            read_case_file(tmp_path / "missing.json")
