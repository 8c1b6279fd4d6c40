"""Meaning checks: a policy that parses but would misbehave is rejected, each problem at its line.

Run by the loader after the models validate. Every check returns `Problem`s with a path into the
document, so the error points at the exact key or value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

import holidays

from engine.case.money import check_amount
from engine.case.vocabulary import ActiveStage, Stage
from engine.errors import OverdueError
from engine.policy.conditions import BOOL_FIELDS, FIELDS, TIME_FIELDS, Condition
from engine.policy.guardrails import looser_than_floor
from engine.policy.jurisdictions import strictest
from engine.policy.loader import Problem
from engine.policy.model import ACTIVE_STAGES, Policy, Range, Segment
from engine.policy.templates import PLACEHOLDERS, placeholders

__all__ = ["check_policy"]

_TEXT_FIELDS = frozenset({"attitude", "product", "segment", "variant"})
_NUMERIC_FIELDS = frozenset(FIELDS) - _TEXT_FIELDS - BOOL_FIELDS
_EVENTS = (
    "partial_payment",
    "promise_kept",
    "promise_broken",
    "plan_missed",
    "dispute_rejected",
    "hostile",
)


def check_policy(p: Policy) -> list[Problem]:
    """Every meaning error of a validated policy."""
    return [
        *_stages(p),
        *_segments(p),
        *_templates(p),
        *_guardrails(p),
        *_fees(p),
        *_conditions(p),
        *_migrate(p),
    ]


def _gotos(p: Policy, stage: ActiveStage) -> Iterator[tuple[tuple[str | int, ...], Stage]]:
    spec = p.stages[stage]
    for i, ex in enumerate(spec.exits):
        yield ("stages", stage, "exits", i, "to"), ex.to
    for name in _EVENTS:
        eff = getattr(spec.on, name) or getattr(p.events, name)
        if eff is not None and eff.goto:
            where: tuple[str | int, ...] = (
                ("stages", stage, "on", name, "goto")
                if getattr(spec.on, name)
                else ("events", name, "goto")
            )
            yield where, eff.goto


def _reached(p: Policy) -> set[ActiveStage]:
    reached = {ActiveStage.REMINDER}
    frontier = [ActiveStage.REMINDER]
    while frontier:
        stage = frontier.pop()
        for _, to in _gotos(p, stage):
            if isinstance(to, ActiveStage) and to in p.stages and to not in reached:
                reached.add(to)
                frontier.append(to)
    return reached


def _stages(p: Policy) -> Iterator[Problem]:
    if "reminder" not in p.stages:
        yield Problem(
            ("stages",), "the policy needs a 'reminder' stage: every case starts there", on_key=True
        )
        return
    reached = _reached(p)
    last_enter = None
    for stage in ACTIVE_STAGES:
        if stage not in p.stages:
            continue
        spec = p.stages[stage]
        if stage not in reached:
            yield Problem(
                ("stages", stage),
                f"stage '{stage}' is never reached: no exit or event leads to it",
                on_key=True,
            )
        if last_enter is not None and spec.enter_at_day <= last_enter:
            yield Problem(
                ("stages", stage, "enter_at_day"),
                f"enter_at_day must be later than the previous stage's ({last_enter})",
            )
        last_enter = spec.enter_at_day
        yield from _ways_out(p, stage)
        yield from _contact_items(p, stage)
    # Every way into a report passes a notice because the engine sends one (a contact of the plan
    # with a bureau_notice template) when the report finds none sent: the policy must name one.
    effects = [
        getattr(rules, n)
        for rules in (p.events, *(s.on for s in p.stages.values()))
        for n in _EVENTS
    ]
    uses_bureau = any(
        a.kind == "bureau_report" for s in p.stages.values() for a in s.on_enter
    ) or any(a.kind == "bureau_report" for e in effects if e is not None for a in e.actions)
    notices = any(
        p.templates.get(c.template) is not None and p.templates[c.template].bureau_notice
        for s in p.stages.values()
        for c in s.contacts
    )
    if uses_bureau and not notices:
        yield Problem(
            ("templates",),
            "a bureau_report needs a contact whose template has bureau_notice: true "
            "(the engine sends it before any report that finds no notice sent)",
            on_key=True,
        )


def _ways_out(p: Policy, stage: ActiveStage) -> Iterator[Problem]:
    spec = p.stages[stage]
    if not spec.exits:
        yield Problem(
            ("stages", stage),
            f"stage '{stage}' has no exits: a case could stay here forever",
            on_key=True,
        )
    elif not any(ex.when is None or _timed(ex.when) for ex in spec.exits):
        yield Problem(
            ("stages", stage, "exits"),
            f"no exit of '{stage}' can fire with time alone (days_past_due or days_in_stage): "
            "a case with no news would stay here forever",
            on_key=True,
        )
    for where, to in _gotos(p, stage):
        if to in ACTIVE_STAGES and to not in p.stages:
            yield Problem(where, f"stage '{to}' is not defined in this policy")
        if to == stage and where[0] == "stages":  # a policy-wide goto is a no-op in its own target
            yield Problem(where, f"a stage cannot move to itself ('{stage}')")
    for i, ex in enumerate(spec.exits):
        if (
            ex.to in ACTIVE_STAGES
            and ACTIVE_STAGES.index(ex.to) > ACTIVE_STAGES.index(stage) + 1
            and not ex.skip
        ):
            yield Problem(
                ("stages", stage, "exits", i, "to"),
                f"'{stage}' -> '{ex.to}' skips a stage: set skip: true if that is meant",
            )


def _contact_items(p: Policy, stage: ActiveStage) -> Iterator[Problem]:
    spec = p.stages[stage]
    seen: dict[str, int] = {}
    third_party_floor = strictest(tuple(p.jurisdictions)).third_party_allowed
    for i, item in enumerate(spec.contacts):
        where = ("stages", stage, "contacts", i)
        if item.key in seen:
            yield Problem(
                where,
                f"contact '{item.key}' appears twice in '{stage}' (give one an id)",
                on_key=True,
            )
        seen[item.key] = i
        if item.channel == "field_visit" and stage != "escalation":
            yield Problem((*where, "channel"), "a field visit is only allowed in escalation")
        if item.times > 1 and not item.every:
            yield Problem((*where, "times"), "times > 1 needs every: N days")
        if item.third_party and not third_party_floor:
            yield Problem(
                (*where, "third_party"),
                f"third-party contact is not allowed under {'+'.join(p.jurisdictions)}",
            )
        elif item.third_party and not p.guardrails.third_party_contact:
            yield Problem(
                (*where, "third_party"),
                "third-party contact needs guardrails.third_party_contact: true",
            )


def _timed(c: Condition) -> bool:
    if c.field in TIME_FIELDS and c.op in (">", ">="):
        return True
    if c.field == "time_barred" and c.op == "==" and c.value is True:
        return True
    if c.all is not None:
        return any(_timed(x) for x in c.all)
    if c.any is not None:
        return any(_timed(x) for x in c.any)
    return False


def _ranges_meet(a: Range | None, b: Range | None) -> bool:
    return a is None or b is None or a.overlaps(b)


def _lists_meet(a: Sequence[str] | None, b: Sequence[str] | None) -> bool:
    return a is None or b is None or bool(set(a) & set(b))


def _overlap(a: Segment, b: Segment) -> bool:
    return (
        _ranges_meet(a.days_past_due, b.days_past_due)
        and _ranges_meet(a.amount, b.amount)
        and _ranges_meet(a.risk_score, b.risk_score)
        and _lists_meet(a.attitude, b.attitude)
        and _lists_meet(a.product, b.product)
    )


def _segments(p: Policy) -> Iterator[Problem]:
    names: set[str] = set()
    for i, seg in enumerate(p.segments):
        if seg.name in names:
            yield Problem(("segments", i, "name"), f"segment '{seg.name}' is defined twice")
        names.add(seg.name)
        for j in range(i):
            if _overlap(p.segments[j], seg):
                yield Problem(
                    ("segments", i),
                    f"segment '{seg.name}' overlaps segment '{p.segments[j].name}': "
                    "a case could fall in both",
                    on_key=True,
                )
        for field in ("days_past_due", "amount", "risk_score"):
            r = getattr(seg, field)
            if r is not None and r.min is not None and r.max is not None and r.min >= r.max:
                yield Problem(("segments", i, field), "range is empty: min must be below max")
        if seg.variants and sum(v.weight for v in seg.variants) != 100:
            yield Problem(
                ("segments", i, "variants"), "variant weights must add up to 100", on_key=True
            )


def _templates(p: Policy) -> Iterator[Problem]:
    for name, t in p.templates.items():
        for locale in p.locales:
            if locale not in t.text:
                yield Problem(
                    ("templates", name, "text"),
                    f"template '{name}' has no '{locale}' text",
                    on_key=True,
                )
        for locale, text in t.text.items():
            try:
                fields = list(placeholders(text))
            except ValueError as e:
                yield Problem(("templates", name, "text", locale), f"malformed template: {e}")
                continue
            for f in fields:
                if f not in PLACEHOLDERS:
                    yield Problem(
                        ("templates", name, "text", locale),
                        f"placeholder {{{f}}} cannot be filled from a case "
                        f"(known: {', '.join(sorted(PLACEHOLDERS))})",
                    )
    for stage, spec in p.stages.items():
        for i, item in enumerate(spec.contacts):
            if item.template not in p.templates:
                yield Problem(
                    ("stages", stage, "contacts", i, "template"),
                    f"unknown template '{item.template}'",
                )


def _guardrails(p: Policy) -> Iterator[Problem]:
    for path, message in looser_than_floor(p):
        yield Problem(path, message)
    known = holidays.list_supported_countries()
    for i, code in enumerate(p.guardrails.holidays):
        if code not in known:
            yield Problem(
                ("guardrails", "holidays", i),
                f"unknown holiday calendar '{code}' (a country code such as CN or US)",
            )


def _fees(p: Policy) -> Iterator[Problem]:
    for i, fee in enumerate(p.fees):
        try:
            check_amount(fee.amount, p.currency)
        except OverdueError as e:
            yield Problem(("fees", i, "amount"), str(e))


def _migrate(p: Policy) -> Iterator[Problem]:
    if p.migrate is None:
        return
    for old, new in p.migrate.stages.items():
        if new not in p.stages:
            yield Problem(
                ("migrate", "stages", old),
                f"cases in {old} would move to {new}, which this policy does not describe",
            )


def _walk(
    c: Condition | None, path: tuple[str | int, ...]
) -> Iterator[tuple[Condition, tuple[str | int, ...]]]:
    if c is None:
        return
    yield c, path
    for key in ("all", "any"):
        for i, sub in enumerate(getattr(c, key) or []):
            yield from _walk(sub, (*path, key, i))


def _conditions(p: Policy) -> Iterator[Problem]:
    segments = {s.name for s in p.segments}
    variants = {v.name for s in p.segments for v in s.variants}
    places: list[tuple[Condition | None, tuple[str | int, ...]]] = []
    for stage, spec in p.stages.items():
        places += [
            (ex.when, ("stages", stage, "exits", i, "when")) for i, ex in enumerate(spec.exits)
        ]
        places += [
            (c.when, ("stages", stage, "contacts", i, "when")) for i, c in enumerate(spec.contacts)
        ]
        places += [
            (a.when, ("stages", stage, "on_enter", i, "when")) for i, a in enumerate(spec.on_enter)
        ]
    for cond, path in places:
        for c, where in _walk(cond, path):
            if c.field is None:
                continue
            values = c.value if isinstance(c.value, list) else [c.value]
            if c.field in BOOL_FIELDS:
                if c.op not in ("==", "!=") or any(not isinstance(v, bool) for v in values):
                    yield Problem(
                        (*where, "value"),
                        f"{c.field} is true or false: use == or != with true/false",
                    )
            elif c.field in _NUMERIC_FIELDS:
                if any(isinstance(v, str | bool) for v in values):
                    yield Problem(
                        (*where, "value"), f"{c.field} is a number; compare it with a number"
                    )
            else:
                if c.op not in ("==", "!=", "in", "not_in"):
                    yield Problem((*where, "op"), f"{c.field} is text: use ==, !=, in or not_in")
                if any(not isinstance(v, str) for v in values):
                    yield Problem((*where, "value"), f"{c.field} is text; compare it with text")
                known = (
                    segments if c.field == "segment" else variants if c.field == "variant" else None
                )
                for v in values:
                    if known is not None and v not in known:
                        yield Problem((*where, "value"), f"unknown {c.field} '{v}'")
            if c.field in ("balance", "amount_due", "paid_ratio") and any(
                isinstance(v, Decimal | int) and not isinstance(v, bool) and v < 0 for v in values
            ):
                yield Problem((*where, "value"), f"{c.field} is never negative")
