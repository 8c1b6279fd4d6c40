"""Mutations of the shipped policies, as hypothesis strategies: numbers, templates, keys, values
and YAML syntax, one to three edits each (the kinds of mistake and attack issue 10 tried)."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from engine.policy.files import POLICY_DIR

__all__ = ["SHIPPED", "mutated_policy", "mutated_tree"]

#: The shipped policy texts, by file name.
SHIPPED: dict[str, str] = {
    p.name: p.read_text(encoding="utf-8") for p in sorted(POLICY_DIR.glob("*.yaml"))
}

_NUMBER = re.compile(r"(?<![\w.:-])-?\d+(?:\.\d+)?(?![\w:])")
_KEY = re.compile(r"^(\s*-?\s*)([a-z_]+):", re.M)
_TEMPLATE_TEXT = re.compile(r'^(\s+(?:zh-CN|en-US): ")', re.M)
_WORD_VALUE = re.compile(r"(?<=: )[a-z_]+(?=[\s,}\]])")

EXTREME_NUMBERS = [
    "0",
    "-1",
    "1",
    "-30",
    "3651",
    "365",
    "366",
    "100000000000000",
    "1e14",
    "1e400",
    "-1e400",
    "1e-400",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999999999999",
    "1.005",
    "0.000000001",
    "0x10",
    "0o7",
    "1_000",
    "1:30",
    "2024-13-45",
    "2026-01-01",
    "true",
    "null",
    '"12"',
    "[]",
    "{}",
    "12.3e5",
]
TEMPLATE_INSERTS = [
    "{name:d}",
    "{amount!x}",
    "{name:>999999999}",
    "{name!r}",
    "{",
    "}",
    "{}",
    "{0}",
    "{unknown}",
    "{name.__class__}",
    "{name[0]}",
    "{{",
    "}}",
    "{amount:,.2f}",
    "{pay_url}",
    "{{name}}",
    "\\u0000",
    "%s",
    "${name}",
    "{name!s:10}",
]
VALUE_WORDS = [
    "fax",
    "sms",
    "call",
    "field_visit",
    "letter",
    "resolved",
    "closed",
    "legal_referral",
    "reminder",
    "nowhere",
    "hostile",
    "ZZ",
    "CN",
    "US",
    "yes",
    "no",
    "~",
    "''",
    "agency_recall",
    "bureau_report",
]
KEY_WORDS = [
    "every",
    "times",
    "day",
    "when",
    "to",
    "goto",
    "min_days",
    "enter_at_day",
    "holidays",
    "caps",
    "colour",
    "max",
    "per_days",
    "amount",
    "template",
    "channel",
    "legally_required",
    "skip",
    "approval",
    "<<",
    "bureau_notice_days",
    "limitation_days",
    "third_party",
    "pause_days",
]
YAML_JUNK = [
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "&a ",
    "*a",
    "*zz",
    "!!python/object:os.system ",
    "!foo ",
    "\t",
    "<<: *a\n",
    "\n---\n",
    "%YAML 1.1\n",
    "? ",
    "|\n",
    ">-\n",
    "#",
    "\x00",
    "\ufeff",
    "&a [*a]",
    ",",
    "\n  ",
    "\r",
    "@",
    "`",
    "!!binary aGk=",
    "!!set {a, b}",
]


@st.composite
def _one_edit(draw: st.DrawFn, text: str) -> str:
    kind = draw(
        st.sampled_from(["number", "template", "key", "value", "delete", "duplicate", "junk"])
    )
    if kind == "number":
        spots = list(_NUMBER.finditer(text))
        m = draw(st.sampled_from(spots))
        return text[: m.start()] + draw(st.sampled_from(EXTREME_NUMBERS)) + text[m.end() :]
    if kind == "template":
        spots = list(_TEMPLATE_TEXT.finditer(text))
        m = draw(st.sampled_from(spots))
        return text[: m.end()] + draw(st.sampled_from(TEMPLATE_INSERTS)) + text[m.end() :]
    if kind == "key":
        spots = list(_KEY.finditer(text))
        m = draw(st.sampled_from(spots))
        return text[: m.start(2)] + draw(st.sampled_from(KEY_WORDS)) + text[m.end(2) :]
    if kind == "value":
        spots = list(_WORD_VALUE.finditer(text))
        m = draw(st.sampled_from(spots))
        return text[: m.start()] + draw(st.sampled_from(VALUE_WORDS)) + text[m.end() :]
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete":
        return "".join(lines[:i] + lines[i + 1 :])
    if kind == "duplicate":
        return "".join(lines[: i + 1] + lines[i:])
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(YAML_JUNK)) + text[at:]


@st.composite
def mutated_policy(draw: st.DrawFn) -> str:
    """A shipped policy with one to three random edits."""
    text = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    for _ in range(draw(st.integers(1, 3))):
        text = draw(_one_edit(text))
    return text


_VALUES: list[object] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    14,
    30,
    31,
    60,
    91,
    100,
    365,
    366,
    1000,
    3650,
    3651,
    10**14,
    -(10**14),
    10**30,
    "1e400",
    "0.001",
    "20.005",
    "",
    "x" * 300,
    "{name:d}",
    "{amount!x}",
    "ZZ",
    "CN",
    "US",
    "sms",
    "call",
    "field_visit",
    "escalation",
    "legal_referral",
    "written_off",
    "hostile",
    True,
    False,
    None,
    [],
    {},
    ["CN", "ZZ"],
    "25:00",
    "00:00",
    "23:59",
    "America/New_York",
    "Mars/Olympus",
    "US",
    "America",
]


def _paths(node: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value in a plain YAML tree (mappings and lists)."""
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _yaml(node: object, indent: int = 0) -> str:
    """A plain tree back to YAML (flow style for scalars, quoted strings: enough for fuzzing)."""
    pad = "  " * indent
    if isinstance(node, dict):
        if not node:
            return "{}"
        return "\n" + "".join(
            f"{pad}{json.dumps(str(k))}: {_yaml(v, indent + 1)}\n" for k, v in node.items()
        ).rstrip("\n")
    if isinstance(node, list):
        if not node:
            return "[]"
        return "\n" + "".join(f"{pad}- {_yaml(v, indent + 1).lstrip()}\n" for v in node).rstrip(
            "\n"
        )
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float):
        return str(node)
    if isinstance(node, Decimal):
        return str(node)
    return json.dumps(str(node), ensure_ascii=False)


@st.composite
def mutated_tree(draw: st.DrawFn) -> str:
    """A shipped policy whose values (one to four, anywhere in the tree) are replaced with edge
    values, written back as valid YAML: mistakes the syntax cannot catch, only the model and the
    meaning checks can."""
    from engine.policy.loader import parse_yaml

    name = draw(st.sampled_from(sorted(SHIPPED)))
    tree, _ = parse_yaml(SHIPPED[name], name)
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(tree)))
        parent: Any = tree
        for el in path[:-1]:
            parent = parent[el]
        old = parent[path[-1]]
        alike = [v for v in _VALUES if type(v) is type(old)] if draw(st.integers(0, 3)) else []
        # Mostly the same type (so the model lets it through); a copy: the pool holds lists and dicts.
        parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(alike or _VALUES)))
    return _yaml(tree).lstrip("\n") + "\n"
