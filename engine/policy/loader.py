"""YAML -> pydantic loading that reports every problem at its exact `file:line:col`.

Generic over any pydantic model: the text is parsed with ruamel.yaml in round-trip mode (which
keeps each key's and value's position), turned into plain Python (floats become exact `Decimal`s
built from their source text), validated by the model, then handed to optional meaning checks.
Every syntax, validation or meaning error becomes a `PolicyError`; all of them are raised at once
as `PolicyErrors`. Pure: the only I/O is `load_model_file` reading its file.

A policy file is written by people but may come from anywhere, so the YAML it may use is bounded
before anything is built from it: a size (`MAX_FILE_BYTES`), a nesting depth (`MAX_DEPTH`), no
explicit tags (`!!python/...` and friends), a few aliases and a bounded expansion (a 342-byte
"billion laughs" document used to grow to 448 MB). Each limit is one `file:line:col` error,
found within a second.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from engine.errors import PolicyError, PolicyErrors

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "Loc",
    "Positions",
    "Problem",
    "load_model",
    "load_model_file",
    "parse_yaml",
]

#: The largest policy file read: the shipped ones are under 8 KB; a 10 MB file used to hang, and
#: ruamel needs up to two seconds for 64 KB of nested YAML on a busy machine; 32 KB keeps every
#: error within a second with four times the room the shipped policies take.
MAX_FILE_BYTES = 32 * 1024
#: How deep mappings and sequences may nest (a shipped policy nests about ten levels).
MAX_DEPTH = 32
#: How many aliases (`*name`) a document may use.
MAX_ALIASES = 64
#: How many keys and values the document may hold once its aliases are expanded.
MAX_VALUES = 50_000

#: A path into a YAML document: mapping keys and sequence indexes.
Loc = tuple[str | int, ...]
_Pos = tuple[int, int]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """A meaning error found after the model validated, at a path into the document."""

    loc: Loc
    message: str
    on_key: bool = False


class Positions:
    """Where every key and value of a parsed document sits (1-based line and column)."""

    def __init__(self) -> None:
        self._at: dict[Loc, tuple[_Pos, _Pos]] = {(): ((1, 1), (1, 1))}

    def add(self, loc: Loc, key: _Pos, value: _Pos) -> None:
        """Record the position of the key and of the value found at `loc`."""
        self._at[loc] = (key, value)

    def find(self, loc: Loc, on_key: bool = False) -> _Pos:
        """The position of the key (or value) at `loc`.

        A path that does not exist falls back to the key of its nearest existing ancestor (where
        that mapping is introduced); the document root is 1:1. A sequence item's key is the item.
        """
        if loc in self._at:
            key, value = self._at[loc]
            return key if on_key else value
        for n in range(len(loc) - 1, -1, -1):
            if loc[:n] in self._at:
                return self._at[loc[:n]][0]
        return (1, 1)  # pragma: no cover - the root is always recorded


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that reads floats as exact `Decimal`s from their source text."""

    def construct_yaml_float(self, node: Any) -> Any:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign, body = (text[0], text[1:]) if text.startswith(("+", "-")) else ("", text)
        try:
            return Decimal(sign + {".inf": "Infinity", ".nan": "NaN"}.get(body.lower(), body))
        except InvalidOperation:  # e.g. a YAML 1.1 sexagesimal 1:30.5
            raise ConstructorError(
                None, None, f"cannot read {text!r} as an exact decimal number", node.start_mark
            ) from None

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError as exc:  # e.g. 2024-13-45: well-formed, but no such date
            raise ConstructorError(
                None, None, f"not a valid date: {exc}", node.start_mark
            ) from None


def _short_tag(tag: object) -> str:
    return str(tag).replace("tag:yaml.org,2002:", "!!")


class _Composer(Composer):
    """A composer that refuses explicit tags, deep nesting and many aliases, at their position."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(
                    None,
                    None,
                    f"more than {MAX_ALIASES} aliases (*name) in one file",
                    event.start_mark,
                )
        else:
            if getattr(event, "tag", None) is not None:
                raise ComposerError(
                    None,
                    None,
                    f"tags such as {_short_tag(event.tag)} are not allowed in a policy",
                    event.start_mark,
                )
            if self.depth >= MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
        return super().compose_node(parent, index)


_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _error(file: str, pos: _Pos, message: str) -> PolicyErrors:
    return PolicyErrors([PolicyError(file, pos[0], pos[1], message)])


def _syntax_error(file: str, exc: YAMLError, text: str = "") -> PolicyErrors:
    if isinstance(exc, ReaderError) and isinstance(exc.position, int):  # e.g. a NUL character
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        shown = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        return _error(file, (line, col), f"character {shown} is not allowed in a policy")
    if not isinstance(exc, MarkedYAMLError):
        return _error(file, (1, 1), " ".join(str(exc).split()))
    mark, ctx = exc.problem_mark or exc.context_mark, exc.context_mark
    pos = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    if isinstance(exc, DuplicateKeyError):  # drop the values and "while constructing a mapping"
        message = re.sub(r'^(found duplicate key ".*?") with value .*$', r"\1", message)
    elif (
        exc.problem and exc.context and ctx and mark and ctx.line != mark.line
    ):  # say where it began
        message += f" ({' '.join(str(exc.context).split())} at line {ctx.line + 1})"
    return _error(file, pos, message)


def _key_text(key: object) -> str:
    if isinstance(key, bool | ScalarBoolean):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _lc(node: CommentedMap | CommentedSeq, key: object) -> tuple[_Pos, _Pos]:
    data = node.lc.data.get(key)
    if data is None:  # a key brought in by a merge (<<): point at the mapping itself
        here = (int(node.lc.line) + 1, int(node.lc.col) + 1)
        return here, here
    key_pos = (int(data[0]) + 1, int(data[1]) + 1)
    return key_pos, ((int(data[2]) + 1, int(data[3]) + 1) if len(data) > 2 else key_pos)


class _Budget:
    """How many more values `_plain` may produce (aliases can make a small file expand hugely)."""

    def __init__(self, file: str) -> None:
        self.left = MAX_VALUES
        self.file = file

    def spend(self, at: _Pos) -> None:
        self.left -= 1
        if self.left < 0:
            raise _error(
                self.file,
                at,
                f"the document expands to more than {MAX_VALUES} values "
                "(aliases repeating aliases?)",
            )


def _plain(
    node: object, loc: Loc, pos: Positions, file: str, budget: _Budget | None = None
) -> object:
    """Turn a round-trip tree into plain Python, recording every position on the way."""
    budget = budget or _Budget(file)
    if isinstance(node, CommentedMap | CommentedSeq):
        budget.spend((int(node.lc.line) + 1, int(node.lc.col) + 1))
    if isinstance(node, CommentedMap):
        out: dict[str, object] = {}
        for k, v in node.items():
            key = _key_text(k)
            key_pos, value_pos = _lc(node, k)
            if key in out:
                raise _error(file, key_pos, f'found duplicate key "{key}"')
            pos.add((*loc, key), key_pos, value_pos)
            budget.spend(key_pos)
            out[key] = _plain(v, (*loc, key), pos, file, budget)
        return out
    if isinstance(node, CommentedSeq):
        items: list[object] = []
        for i, v in enumerate(node):
            item_pos = _lc(node, i)[0]
            pos.add((*loc, i), item_pos, item_pos)
            budget.spend(item_pos)
            items.append(_plain(v, (*loc, i), pos, file, budget))
        return items
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, datetime):
        return datetime(
            node.year,
            node.month,
            node.day,
            node.hour,
            node.minute,
            node.second,
            node.microsecond,
            tzinfo=node.tzinfo,
            fold=node.fold,
        )
    if isinstance(node, date):
        return date(node.year, node.month, node.day)
    if node is None or isinstance(node, Decimal):  # floats: see _Constructor
        return node
    return str(node)  # strings, and the scalar of an unknown tag (`!foo bar`)


def parse_yaml(text: str, file: str) -> tuple[object, Positions]:
    """Parse one YAML document into plain Python and the positions of its keys and values.

    Args:
        text: The YAML source.
        file: The file name to put in errors.

    Returns:
        The document (str keys; floats as `Decimal`) and its `Positions`.

    Raises:
        PolicyErrors: a syntax error, a duplicate key, or an empty document.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise _error(
            file, (1, 1), f"the file is {size} bytes; a policy may be at most {MAX_FILE_BYTES}"
        )
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.Composer = _Composer
    try:
        tree = yaml.load(text)
    except YAMLError as exc:
        raise _syntax_error(file, exc, text) from None
    if tree is None:
        raise _error(file, (1, 1), "the file is empty")
    pos = Positions()
    return _plain(tree, (), pos, file), pos


def _dotted(loc: Loc) -> str:
    out = ""
    for el in loc:
        out += f"[{el}]" if isinstance(el, int) else (f".{el}" if out else el)
    return out


def _walk(data: object, loc: Sequence[str | int]) -> tuple[Loc, bool]:
    """The document path a pydantic `loc` names, skipping its non-path parts; and whether it
    names a mapping key (`[key]`) rather than a value."""
    path: list[str | int] = []
    on_key = False
    for el in loc:
        if isinstance(data, dict) and isinstance(el, str) and el in data:
            data = data[el]
        elif isinstance(data, list) and type(el) is int and 0 <= el < len(data):
            data = data[el]
        else:
            on_key = on_key or el == "[key]"
            continue
        path.append(el)
    return tuple(path), on_key


def _leaves(tp: object) -> Iterable[object]:
    origin = get_origin(tp)
    if origin is Annotated:
        yield from _leaves(get_args(tp)[0])
    elif origin is Union or origin is UnionType:
        for arg in get_args(tp):
            yield from _leaves(arg)
    else:
        yield tp


def _field_names(model: type[BaseModel], path: Loc) -> set[str]:
    """The keys the model accepts at `path` (for 'did you mean')."""
    level: list[object] = [model]
    for el in path:
        below: list[object] = []
        for tp in (leaf for t in level for leaf in _leaves(t)):
            origin, args = get_origin(tp), get_args(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(el, str):
                below += [f.annotation for n, f in tp.model_fields.items() if el in (n, f.alias)]
            elif isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
                below.append(args[1])
            elif isinstance(origin, type) and issubclass(origin, Sequence | AbstractSet) and args:
                below.append(args[0])
        level = below
    models = [
        m for t in level for m in _leaves(t) if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    return {f.alias or n for m in models for n, f in m.model_fields.items()}


def _show(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = repr(value)
    elif isinstance(value, int | Decimal | date):
        shown = str(value)
    else:
        return None
    return shown if len(shown) <= 40 else None


def _at(data: object, path: Loc) -> object:
    for el in path:
        data = data.get(str(el)) if isinstance(data, dict) else None
    return data


def _validation_errors(
    exc: ValidationError, data: object, pos: Positions, model: type[BaseModel], file: str
) -> list[PolicyError]:
    found: dict[tuple[Loc, _Pos], list[str]] = {}
    choices: dict[tuple[Loc, _Pos], tuple[list[str], str]] = {}  # literals of a union, merged
    for err in exc.errors(include_url=False):
        loc, kind = err["loc"], err["type"]
        if kind == "missing" and loc:
            path, _ = _walk(data, loc[:-1])
            at, message = pos.find(path, on_key=True), f"missing required key '{loc[-1]}'"
        elif kind == "extra_forbidden" and loc:
            path, _ = _walk(data, loc[:-1])
            key = str(loc[-1])
            at, message = pos.find((*path, key), on_key=True), f"unknown key '{key}'"
            here = _at(data, path)
            known = _field_names(model, path) - set(here if isinstance(here, dict) else ()) - {key}
            close = difflib.get_close_matches(key, sorted(known), n=1)
            message += f"; did you mean '{close[0]}'?" if close else ""
        else:
            path, on_key = _walk(data, loc)
            at, message = pos.find(path, on_key=on_key), str(err["msg"])
            shown = (
                _show(err.get("input")) if kind not in {"value_error", "assertion_error"} else None
            )
            got = f" (got {shown})" if shown is not None else ""
            if kind in ("literal_error", "enum") and "expected" in err.get("ctx", {}):
                choices.setdefault((path, at), ([], got))[0].append(
                    str(err.get("ctx", {})["expected"])
                )
                continue
            message += got
        found.setdefault((path, at), []).append(message)
    for where, (expected, got) in choices.items():
        head, _, last = ", ".join(expected).replace(" or ", ", ").rpartition(", ")
        found.setdefault(where, []).append(
            f"Input should be {f'{head} or ' if head else ''}{last}{got}"
        )
    return [
        PolicyError(file, at[0], at[1], f"{_dotted(path)}: {m}" if path else m)
        for (path, at), messages in found.items()
        for m in dict.fromkeys(messages)
    ]


def load_model(
    text: str, file: str, model: type[M], checks: Callable[[M], Iterable[Problem]] | None = None
) -> M:
    """Parse YAML text, validate it as `model`, then run the meaning `checks` on the result.

    Args:
        text: The YAML source.
        file: The file name to put in errors.
        model: The pydantic model the document's root mapping must validate as.
        checks: Meaning checks run once the model validates; each `Problem` becomes an error.

    Returns:
        The validated model.

    Raises:
        PolicyErrors: every syntax, validation or meaning problem, each at its position.
    """
    data, pos = parse_yaml(text, file)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({_show(data) or '...'})"
        raise _error(file, (1, 1), f"the document must be a mapping of keys to values, not {kind}")
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        raise PolicyErrors(_validation_errors(exc, data, pos, model, file)) from None
    problems = [
        PolicyError(file, *pos.find(p.loc, on_key=p.on_key), p.message)
        for p in (checks(result) if checks is not None else ())
    ]
    if problems:
        raise PolicyErrors(problems)
    return result


def load_model_file(
    path: str | Path, model: type[M], checks: Callable[[M], Iterable[Problem]] | None = None
) -> M:
    """Read a UTF-8 YAML file and load it as `model` (see `load_model`); errors name `path` as given.

    Raises:
        PolicyErrors: every problem in the file, each at its position.
        OSError: the file cannot be read.
    """
    file = str(path)
    with Path(path).open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)  # never more: a huge file is refused without reading it
    if len(data) > MAX_FILE_BYTES:  # st_size of a device or a pipe says 0: say "more than"
        size = Path(path).stat().st_size
        shown = f"{size} bytes" if size > MAX_FILE_BYTES else f"more than {MAX_FILE_BYTES} bytes"
        raise _error(file, (1, 1), f"the file is {shown}; a policy may be at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _error(file, (line, col), f"the file is not valid UTF-8 ({exc.reason})") from None
    return load_model(text, file, model, checks)
