"""Reading case files: JSON (one object or an array), JSON Lines and CSV into `CaseFile`s.

Every row that does not make a valid case is reported with its line and a precise reason and the
rest go on; a duplicate `case_id` is refused. Amounts are parsed from their text as `Decimal`
(never through a float). Pure apart from `read_case_file`, which only reads one file:

    result = parse_cases(text, "cases.csv")
    for row in result.rows: ...       # Row(line, case)
    for reject in result.rejects: ... # Reject(line, message); str(reject) == "line 7: ..."
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from engine.case.bounds import BoundedCase, control_characters
from engine.case.money import CURRENCIES, parse_amount
from engine.case.state import CaseFile
from engine.case.vocabulary import Channel
from engine.errors import OverdueError

__all__ = [
    "CSV_COLUMNS",
    "Format",
    "IntakeResult",
    "Reject",
    "Row",
    "decode_text",
    "detect_format",
    "parse_cases",
    "read_case_file",
]

#: The case-file formats: one JSON document (object or array), JSON Lines, CSV.
Format: TypeAlias = Literal["json", "jsonl", "csv"]

_EXTENSIONS: dict[str, Format] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
_DEBTOR_FIELDS = (
    "id",
    "name",
    "phone",
    "email",
    "address",
    "timezone",
    "locale",
    "third_party_phone",
)
_CASE_FIELDS = (
    "case_id",
    "product",
    "amount_due",
    "currency",
    "due_date",
    "policy",
    "risk_score",
    "attitude",
)
_CHANNELS = tuple(Channel)
#: Every column a CSV case file may have (flat names for the nested JSON fields).
CSV_COLUMNS: tuple[str, ...] = (
    *_CASE_FIELDS[:1],
    *(f"debtor_{f}" for f in _DEBTOR_FIELDS),
    *_CASE_FIELDS[1:],
    *(f"consent_{c}" for c in _CHANNELS),
)
_REQUIRED_COLUMNS = (
    "case_id",
    "debtor_id",
    "debtor_name",
    "debtor_timezone",
    "debtor_locale",
    "product",
    "amount_due",
    "currency",
    "due_date",
    "policy",
)
#: The longest row (one CSV line, one JSON line, one object of a JSON array) read as a case. The
#: fields of a case are bounded (`engine.case.state`), so a longer row is not a case; refusing it
#: before parsing keeps a huge row from costing anything.
MAX_ROW_CHARS = 64 * 1024
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


@dataclass(frozen=True)
class Row:
    """A valid case and the (1-based) line it starts on."""

    line: int
    case: CaseFile


@dataclass(frozen=True)
class Reject:
    """A row that is not a valid case: its line and why (without the line prefix)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class IntakeResult:
    """What a case file held: valid cases and rejected rows, each in file order."""

    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def cases(self) -> list[CaseFile]:
        """The valid cases alone."""
        return [r.case for r in self.rows]


class _RowError(Exception):
    """A problem with one row (raised inside this module, turned into a `Reject`)."""


def detect_format(text: str, source: str = "") -> Format:
    """The format of a case file: by the extension of `source`, else sniffed from `text`."""
    suffix = Path(source).suffix.lower() if source and source not in ("-", "<stdin>") else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1:
            try:
                first = json.loads(lines[0])
            except ValueError:
                return "json"  # an object spread over several lines
            if isinstance(first, dict):
                return "jsonl"
        return "json"
    return "csv"


def parse_cases(text: str, source: str = "<input>", fmt: Format | None = None) -> IntakeResult:
    """Parse a case file.

    Args:
        text: the whole file.
        source: its name (used to pick the format by extension).
        fmt: force a format instead of detecting it.

    Returns:
        The valid cases with their lines and the rejects with their lines and reasons.
    """
    text = text.removeprefix("\ufeff")
    fmt = fmt or detect_format(text, source)
    result = IntakeResult()
    first_seen: dict[str, int] = {}
    raw = {"json": _json_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[fmt](text)
    for line, data in raw:
        if isinstance(data, Reject):
            result.rejects.append(data)
            continue
        try:
            case = _to_case(data)
        except _RowError as e:
            result.rejects.append(Reject(line, str(e)))
            continue
        seen = first_seen.get(case.case_id)
        if seen is not None:
            result.rejects.append(
                Reject(line, f"duplicate case_id {case.case_id} (first on line {seen})")
            )
            continue
        first_seen[case.case_id] = line
        result.rows.append(Row(line, case))
    return result


def decode_text(data: bytes, source: str) -> str:
    """A case file's bytes as text: UTF-8 only (a UTF-8 byte-order mark is allowed).

    Raises:
        OverdueError: one line naming the line and byte where the text stops being UTF-8 (or
            saying it looks like UTF-16).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise OverdueError(f"{source}: the file is UTF-16; case files must be UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise OverdueError(
            f"{source}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "case files must be UTF-8"
        ) from None


def read_case_file(path: str | Path) -> IntakeResult:
    """Read and parse a case file (UTF-8); the format comes from its extension or its content.

    Raises:
        OverdueError: the file cannot be read or is not UTF-8.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise OverdueError(f"{path}: {e.strerror}") from None
    return parse_cases(decode_text(data, str(path)), str(path))


# -- the three formats: (line, raw object | Reject) ----------------------------------------

_RawRows: TypeAlias = Iterator[tuple[int, "dict[str, Any] | Reject"]]


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a number")


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def _json_error(e: json.JSONDecodeError, line_offset: int = 0) -> Reject:
    return Reject(e.lineno + line_offset, f"invalid JSON at column {e.colno}: {e.msg}")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _json_rows(text: str) -> _RawRows:
    decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)
    ws = " \t\r\n"
    pos = len(text) - len(text.lstrip(ws))
    if pos == len(text):
        return
    try:
        if text[pos] != "[":
            obj, end = decoder.raw_decode(text, pos)
            line = _line_of(text, pos)
            yield line, _too_long(end - pos, line) or _object(obj, line)
            rest = text[end:].lstrip(ws)
            if rest:
                line = _line_of(text, len(text) - len(rest))
                yield (
                    line,
                    Reject(
                        line,
                        "unexpected text after the JSON object (use JSON Lines or an "
                        "array for several cases)",
                    ),
                )
            return
        pos += 1
        while True:
            while pos < len(text) and text[pos] in ws:
                pos += 1
            if pos < len(text) and text[pos] == "]":
                return
            line = _line_of(text, pos)
            start = pos
            obj, pos = decoder.raw_decode(text, pos)
            yield line, _too_long(pos - start, line) or _object(obj, line)
            while pos < len(text) and text[pos] in ws:
                pos += 1
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos < len(text) and text[pos] == "]":
                return
            else:
                raise json.JSONDecodeError("expected ',' or ']'", text, pos)
    except json.JSONDecodeError as e:
        yield e.lineno, _json_error(e)
    except ValueError as e:  # NaN / Infinity
        yield _line_of(text, pos), Reject(_line_of(text, pos), str(e))


def _too_long(size: int, line: int) -> Reject | None:
    if size <= MAX_ROW_CHARS:
        return None
    return Reject(line, f"the row is {size} characters long; a case may be at most {MAX_ROW_CHARS}")


def _object(obj: Any, line: int) -> dict[str, Any] | Reject:
    if isinstance(obj, dict):
        return obj
    return Reject(line, f"expected a JSON object, found {type(obj).__name__}")


def _jsonl_rows(text: str) -> _RawRows:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        too_long = _too_long(len(line), n)
        if too_long is not None:
            yield n, too_long
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as e:
            yield n, Reject(n, f"invalid JSON at column {e.colno}: {e.msg}")
            continue
        except ValueError as e:
            yield n, Reject(n, str(e))
            continue
        yield n, _object(obj, n)


def _csv_line(line: str) -> list[str]:
    """The cells of one physical CSV line (a quoted cell may not span lines: no case field holds a
    line break, and a stray quote must not swallow the rows after it)."""
    if len(line) > MAX_ROW_CHARS:
        raise csv.Error(
            f"the row is {len(line)} characters long; a case may be at most {MAX_ROW_CHARS}"
        )
    rows = list(csv.reader([line], strict=True))
    if len(rows) != 1:  # pragma: no cover - one line without a line break is one row
        raise csv.Error("expected one row")
    return rows[0]


def _csv_rows(text: str) -> _RawRows:
    lines = iter(enumerate(text.splitlines(), start=1))
    found = next(((n, line) for n, line in lines if line.strip()), None)
    if found is None:
        return
    n, first = found
    try:
        header = _csv_line(first)
    except csv.Error as e:
        yield n, Reject(n, f"invalid CSV header: {_csv_message(e)} (the file is not read)")
        return
    names = [h.strip() for h in header]
    unknown = [c for c in names if c not in CSV_COLUMNS]
    missing = [c for c in _REQUIRED_COLUMNS if c not in names]
    dup = sorted({c for c in names if names.count(c) > 1})
    problems = (
        ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
        + ([f"missing column(s) {', '.join(missing)}"] if missing else [])
        + ([f"repeated column(s) {', '.join(dup)}"] if dup else [])
    )
    if problems:
        yield n, Reject(n, "; ".join(problems) + " (the file is not read)")
        return
    for n, line in lines:
        if not line.strip():
            continue
        try:
            cells = _csv_line(line)
        except csv.Error as e:
            yield n, Reject(n, f"invalid CSV: {_csv_message(e)}")
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            yield n, Reject(n, f"{len(cells)} cells, the header has {len(names)}")
            continue
        try:
            yield n, _unflatten(dict(zip(names, cells, strict=True)))
        except _RowError as e:
            yield n, Reject(n, str(e))


def _csv_message(e: csv.Error) -> str:
    msg = str(e)
    if "unexpected end of data" in msg or "EOF" in msg:
        return "a quoted cell is not closed on its line"
    return msg


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """CSV cells to the nested shape; empty cells are absent (optional fields take defaults)."""
    out: dict[str, Any] = {}
    debtor: dict[str, Any] = {}
    consent: dict[str, bool] = {}
    for key, raw in flat.items():
        value = raw.strip()
        if value == "":
            continue
        if key.startswith("debtor_"):
            debtor[key.removeprefix("debtor_")] = value
        elif key.startswith("consent_"):
            low = value.lower()
            if low not in _TRUE | _FALSE:
                raise _RowError(f"{key}: must be true or false, not {value!r}")
            consent[key.removeprefix("consent_")] = low in _TRUE
        else:
            out[key] = value
    if debtor:
        out["debtor"] = debtor
    if consent:
        out["consent"] = consent
    return out


# -- one object to a case ------------------------------------------------------------------


def _fold_flat(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the CSV's flat names in JSON too (`debtor_name`, `consent_sms`)."""
    if not any(k.startswith(("debtor_", "consent_")) for k in data):
        return data
    out = {k: v for k, v in data.items() if not k.startswith(("debtor_", "consent_"))}
    if not isinstance(out.get("debtor", {}), dict) or not isinstance(out.get("consent", {}), dict):
        return data  # mixed and malformed: let validation name the problem
    debtor = dict(out.get("debtor") or {})
    consent = dict(out.get("consent") or {})
    for k, v in data.items():
        if k.startswith("debtor_"):
            debtor[k.removeprefix("debtor_")] = v
        elif k.startswith("consent_"):
            consent[k.removeprefix("consent_")] = v
    if debtor:
        out["debtor"] = debtor
    if consent:
        out["consent"] = consent
    return out


def _to_case(data: dict[str, Any]) -> CaseFile:
    data = _fold_flat(data)
    problems: list[str] = []
    amount = data.get("amount_due")
    currency = data.get("currency")
    if isinstance(amount, float):
        problems.append("amount_due: must be a decimal, not a float")
    if isinstance(currency, str) and currency not in CURRENCIES:
        problems.append(f"currency: unknown currency {currency!r}")
    try:
        case = BoundedCase.model_validate(data).plain()
    except ValidationError as e:
        problems.extend(_describe(err) for err in e.errors())
        raise _RowError("; ".join(dict.fromkeys(problems))) from None
    problems += [
        f"{name}: control characters (such as line breaks) are not allowed"
        for name in control_characters(case)
    ]
    if problems:
        raise _RowError("; ".join(problems))
    try:
        ZoneInfo(case.debtor.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "US" is a folder of zones
        raise _RowError(f"debtor.timezone: unknown time zone {case.debtor.timezone!r}") from None
    try:
        exact = parse_amount(str(case.amount_due), case.currency)
    except OverdueError as e:
        raise _RowError(f"amount_due: {e}") from None
    return (
        case.model_copy(update={"amount_due": exact})
        if exact.as_tuple() != case.amount_due.as_tuple()
        else case
    )


def _describe(err: Any) -> str:
    """One pydantic error as `dotted.path: plain message`."""
    where = ".".join(str(p) for p in err["loc"]) or "case"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return f"{where}: is required"
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        limit = next(iter(ctx.values())) if ctx else "?"
        return f"{where}: must be {words} {limit}"
    if kind.startswith(("date_", "datetime_")):
        return f"{where}: not a date (YYYY-MM-DD): {value!r}"
    if kind.startswith("decimal_") or kind in ("int_parsing", "int_from_float"):
        return f"{where}: not a number: {value!r}"
    if kind in ("literal_error", "enum"):  # a word of the vocabulary: same message either way
        return f"{where}: must be {ctx.get('expected', 'one of the allowed values')}, not {value!r}"
    if kind == "string_pattern_mismatch":
        return f"{where}: {value!r} may only hold letters, digits and _ . : -"
    if kind == "too_long":
        return f"{where}: has too many entries (at most {ctx.get('max_length', '?')})"
    if kind in ("string_too_short", "string_too_long"):
        return f"{where}: {err['msg'][0].lower()}{err['msg'][1:]}"
    msg: str = err["msg"]
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{where}: {msg[0].lower()}{msg[1:]}" if msg else where
