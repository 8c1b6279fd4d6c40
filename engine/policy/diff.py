"""What changed between two versions of a policy, in plain language (`overdue policy diff`).

Reviewers of a policy change need to see its meaning, not a YAML text diff: "exit to_escalation
of stage negotiation: days past due >= 31 -> days past due >= 45". The walk is generic over the
policy model's JSON form, so sections added to the language later (settlement, complaints) are
compared too; what is specific is only how list items are matched (a contact by its key, a
segment by its name, an exit by its id) and how a few values are put in words (conditions,
ranges, contact items). Pure: two `Policy` objects in, a `PolicyDiff` out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.policy.compiled import policy_hash
from engine.policy.conditions import Condition, describe
from engine.policy.model import Policy

__all__ = ["Change", "ChangeKind", "PolicyDiff", "diff_policies"]

ChangeKind = Literal["added", "removed", "changed"]

#: Top-level fields that say what the policy is rather than what it does.
_IDENTITY = frozenset(
    {
        "name",
        "version",
        "description",
        "jurisdictions",
        "timezone",
        "currency",
        "locales",
        "grace_days",
        "send_time",
        "pay_url",
        "dispute_url",
    }
)

#: Keys whose value is a condition: compared and told as one sentence, not field by field.
_CONDITION_KEYS = frozenset({"when"})

#: Keys whose value is a range `{min, max}` (segment classification thresholds).
_RANGE_KEYS = frozenset({"days_past_due", "amount", "risk_score"})

#: Lists of scalars where order means nothing (told as "added X, removed Y").
_SET_KEYS = frozenset({"jurisdictions", "locales", "holidays", "attitude", "product"})

#: How the words of a path read: `stages.negotiation.exits.to_escalation` -> "stage negotiation,
#: exit to_escalation". A container key followed by an item's key reads as "<noun> <item>".
_NOUNS = {
    "stages": "stage",
    "segments": "segment",
    "variants": "variant",
    "contacts": "contact",
    "exits": "exit",
    "templates": "template",
    "caps": "cap on",
    "on": "event",
    "events": "event",
    "on_enter": "on entry",
    "actions": "step",
    "fees": "fee",
    "text": "text in",
}

JSON = Any


@dataclass(frozen=True)
class Change:
    """One difference: where (a dotted path into the policy), what kind, before/after, in words."""

    section: str
    path: str
    kind: ChangeKind
    old: JSON
    new: JSON
    text: str

    def to_json(self) -> dict[str, JSON]:
        """The change as a JSON-ready dict."""
        return {
            "section": self.section,
            "path": self.path,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "text": self.text,
        }


@dataclass(frozen=True)
class PolicyDiff:
    """Every difference between two policies, in the order the policy file reads."""

    old: dict[str, JSON]
    new: dict[str, JSON]
    changes: list[Change] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Whether the two have the same content (same hash)."""
        return bool(self.old["hash"] == self.new["hash"])

    def sections(self) -> dict[str, int]:
        """How many changes each section has, in order of first appearance."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.section] = out.get(c.section, 0) + 1
        return out

    def to_json(self) -> dict[str, JSON]:
        """The diff as one JSON document (what `overdue policy diff --json` prints)."""
        return {
            "old": self.old,
            "new": self.new,
            "identical": self.identical,
            "sections": self.sections(),
            "changes": [c.to_json() for c in self.changes],
        }

    def render(self) -> str:
        """The diff as text for people, grouped by section."""
        head = (
            f"{self.old['name']} v{self.old['version']} ({self.old['hash'][:12]}) -> "
            f"{self.new['name']} v{self.new['version']} ({self.new['hash'][:12]})"
        )
        if self.identical:
            return head + "\nno difference"
        lines = [head]
        if self.old["name"] == self.new["name"] and self.old["version"] == self.new["version"]:
            lines.append("note: the content changed but the version number did not")
        current = None
        for c in self.changes:
            if c.section != current:
                current = c.section
                lines += ["", f"{current.replace('_', ' ').capitalize()}:"]
            lines.append(f"  {c.text}")
        return "\n".join(lines)


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """The difference between two policies.

    Args:
        old: The version in force.
        new: The proposed version.

    Returns:
        Every change, each with its path, its values before and after, and a sentence.
    """
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes = list(_walk((), a, b))
    return PolicyDiff(old=_ident(old), new=_ident(new), changes=changes)


def _ident(p: Policy) -> dict[str, JSON]:
    return {"name": p.name, "version": p.version, "hash": policy_hash(p)}


# ---------------------------------------------------------------------------------------- walk

Path = tuple[str, ...]


def _walk(path: Path, a: JSON, b: JSON) -> Iterator[Change]:
    if a == b:
        return
    last = path[-1] if path else ""
    if a is None or b is None:
        yield _change(path, "added" if a is None else "removed", a, b)
    elif last in _CONDITION_KEYS or (last in _RANGE_KEYS and _is_range(a) and _is_range(b)):
        yield _change(path, "changed", a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = (*path, str(key))
            if key not in b:
                yield _change(sub, "removed", a[key], None)
            elif key not in a:
                yield _change(sub, "added", None, b[key])
            else:
                yield from _walk(sub, a[key], b[key])
    elif isinstance(a, list) and isinstance(b, list):
        yield from _walk_list(path, a, b)
    else:
        yield _change(path, "changed", a, b)


def _walk_list(path: Path, a: list[JSON], b: list[JSON]) -> Iterator[Change]:
    last = path[-1] if path else ""
    if last in _SET_KEYS or not all(isinstance(x, dict) for x in [*a, *b]):
        if last in _SET_KEYS:
            gone, came = [x for x in a if x not in b], [x for x in b if x not in a]
            if gone or came:
                yield _change(path, "changed", a, b)
        else:
            yield _change(path, "changed", a, b)
        return
    key_of = _KEYS.get(last, _by_index)
    old, new = _keyed(a, key_of), _keyed(b, key_of)
    gone = [k for k in old if k not in new]
    came = [k for k in new if k not in old]
    # An unnamed item whose day changed gets a new key; pair such items up so the change reads
    # as "day 5 -> 6" rather than one contact removed and another added.
    pairs = _pair(gone, came, old, new) if last == "contacts" else {}
    for k in old:
        if k in new:
            yield from _walk((*path, k), old[k], new[k])
        elif k in pairs:
            yield from _walk((*path, k), old[k], new[pairs[k]])
        else:
            yield _change((*path, k), "removed", old[k], None)
    paired = set(pairs.values())
    for k in came:
        if k not in paired:
            yield _change((*path, k), "added", None, new[k])
    common_old = [k for k in old if k in new]
    common_new = [k for k in new if k in old]
    if last == "segments" and common_old != common_new:
        yield Change(
            section="segments",
            path="segments",
            kind="changed",
            old=common_old,
            new=common_new,
            text="segment order (first match wins): "
            f"{', '.join(common_old)} -> {', '.join(common_new)}",
        )


def _keyed(items: list[JSON], key_of: Callable[[dict[str, JSON], int], str]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for i, item in enumerate(items):
        key = base = key_of(item, i)
        n = 2
        while key in out:
            key, n = f"{base}#{n}", n + 1
        out[key] = item
    return out


def _pair(
    gone: list[str], came: list[str], old: dict[str, JSON], new: dict[str, JSON]
) -> dict[str, str]:
    out: dict[str, str] = {}
    free = list(came)
    for k in gone:
        sig = (old[k].get("channel"), old[k].get("template"))
        for j in free:
            if (new[j].get("channel"), new[j].get("template")) == sig:
                out[k] = j
                free.remove(j)
                break
    return out


def _by_index(item: dict[str, JSON], i: int) -> str:
    return str(item.get("name") or item.get("id") or item.get("kind") or i + 1)


def _contact_key(item: dict[str, JSON], i: int) -> str:
    return str(item.get("id") or f"day_{item['day']}.{item['channel']}")


def _exit_key(item: dict[str, JSON], i: int) -> str:
    return str(item.get("id") or f"to_{item['to']}")


_KEYS: dict[str, Callable[[dict[str, JSON], int], str]] = {
    "segments": _by_index,
    "variants": _by_index,
    "fees": _by_index,
    "contacts": _contact_key,
    "exits": _exit_key,
    "on_enter": _by_index,
    "actions": _by_index,
}


# ------------------------------------------------------------------------------------ in words


def _section(path: Path) -> str:
    return "identity" if not path or path[0] in _IDENTITY else path[0]


def _label(path: Path) -> str:
    words: list[str] = []
    i = 0
    while i < len(path):
        part = path[i]
        noun = _NOUNS.get(part)
        if noun is not None and i + 1 < len(path):
            words.append(f"{noun} {path[i + 1]}")
            i += 2
            continue
        words.append("condition" if part in _CONDITION_KEYS else part.replace("_", " "))
        i += 1
    return ", ".join(words) or "policy"


def _change(path: Path, kind: ChangeKind, old: JSON, new: JSON) -> Change:
    last = path[-1] if path else ""
    label = _label(path)
    if kind == "added":
        text = f"{label} added: {_words(last, new, path)}"
    elif kind == "removed":
        text = f"{label} removed (was: {_words(last, old, path)})"
    elif last in _SET_KEYS:
        gone, came = [x for x in old if x not in new], [x for x in new if x not in old]
        text = f"{label}: " + "; ".join(
            part
            for part in (
                f"added {', '.join(map(str, came))}" if came else "",
                f"removed {', '.join(map(str, gone))}" if gone else "",
            )
            if part
        )
    else:
        text = f"{label}: {_words(last, old, path)} -> {_words(last, new, path)}"
    return Change(
        section=_section(path), path=".".join(path), kind=kind, old=old, new=new, text=text
    )


def _is_range(v: JSON) -> bool:
    return isinstance(v, dict) and set(v) <= {"min", "max"}


def _range(name: str, r: dict[str, JSON]) -> str:
    name = name.replace("_", " ")
    lo, hi = r.get("min"), r.get("max")
    if lo is not None and hi is not None:
        return f"{lo} <= {name} < {hi}"
    if lo is not None:
        return f"{name} >= {lo}"
    return f"{name} < {hi}" if hi is not None else f"any {name}"


def _contact(c: dict[str, JSON]) -> str:
    text = f"day {c['day']} {c['channel']} '{c['template']}'"
    if c.get("every") and (c.get("times") or 1) > 1:
        text += f", every {c['every']} days, {c['times']} times"
    if c.get("at"):
        text += f" at {c['at']}"
    if c.get("when"):
        text += f", only if {_condition(c['when'])}"
    return text


def _effect(v: dict[str, JSON]) -> str:
    parts = [f"moves the case to {v['goto']}"] if v.get("goto") else []
    if v.get("pause_days"):
        parts.append(f"pauses collection {v['pause_days']} days")
    parts += [f"takes step {a['kind']}" for a in v.get("actions") or []]
    return ", ".join(parts) or "noted, nothing else"


def _condition(v: JSON) -> str:
    try:
        return describe(Condition.model_validate(v))
    except ValueError:
        return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _words(last: str, v: JSON, path: Path) -> str:
    """A value in words; the container the value sits in decides how."""
    if v is None:
        return "not set"
    if last in _CONDITION_KEYS:
        return _condition(v)
    if last in _RANGE_KEYS and _is_range(v):
        return _range(last, v)
    if isinstance(v, dict):
        return _item(path[-2] if len(path) >= 2 else "", v)
    if isinstance(v, list):
        return ", ".join(_words("", x, path) for x in v) or "none"
    if isinstance(v, str):
        return _quote(v)
    return str(v).lower() if isinstance(v, bool) else str(v)


def _item(container: str, v: dict[str, JSON]) -> str:
    """A whole list item or section (added or removed) in words, by what holds it."""
    if container == "contacts":
        return _contact(v)
    if container == "exits":
        return f"to {v['to']} when {_condition(v['when']) if v.get('when') else 'always'}" + (
            f" (after approval of {v['approval']})" if v.get("approval") else ""
        )
    if container == "segments":
        conds = [_range(k, v[k]) for k in sorted(_RANGE_KEYS) if v.get(k)]
        conds += [f"{k} one of {', '.join(v[k])}" for k in ("attitude", "product") if v.get(k)]
        return "; ".join(conds) or "every case"
    if container in ("on", "events") and {"goto", "pause_days"} <= set(v):
        return _effect(v)
    if container in ("on_enter", "actions") and "kind" in v:
        return (
            f"step {v['kind']}"
            + (" (needs approval)" if v.get("requires_approval") else "")
            + (f", only if {_condition(v['when'])}" if v.get("when") else "")
        )
    if container == "fees" and {"amount", "day"} <= set(v):
        return f"{v['amount']} on day {v['day']} past due"
    if container == "variants":
        return f"{v['weight']}%"
    if set(v) == {"max", "per_days"}:
        return f"at most {v['max']} in any {v['per_days']} days"
    if container == "templates" and isinstance(v.get("text"), dict):
        return "; ".join(f"{loc}: {_quote(t)}" for loc, t in v["text"].items())
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _quote(s: str) -> str:
    return f"'{s}'"
