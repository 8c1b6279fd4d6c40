"""A policy in plain language: stages, when each contact goes out, what moves a case on.

What `overdue policy explain` prints, for operations staff reviewing a change.
"""

from __future__ import annotations

from engine.policy.compiled import CompiledPolicy
from engine.policy.conditions import describe
from engine.policy.model import ACTIVE_STAGES, ContactItem, EventEffect, Range

__all__ = ["explain"]


def _when(day: int) -> str:
    if day < 0:
        return f"{-day} day{'s' if day != -1 else ''} before the due date"
    if day == 0:
        return "on the due date"
    return f"day {day} past due"


def _contact(item: ContactItem, default_time: str) -> str:
    at = item.at.strftime("%H:%M") if item.at else default_time
    text = f"{_when(item.day)} at {at}: {item.channel} '{item.template}'"
    if item.every and item.times > 1:
        text += f", then every {item.every} days, {item.times} times in all"
    if item.third_party:
        text += " (to the debtor's contact person, only if the debtor is unreachable)"
    if item.channel == "field_visit":
        text += " (needs approval; two collectors)"
    if item.when is not None:
        text += f" — only if {describe(item.when)}"
    return text


def _range(field: str, r: Range) -> str:
    if r.min is not None and r.max is not None:
        return f"{r.min} <= {field} < {r.max}"
    if r.min is not None:
        return f"{field} >= {r.min}"
    return f"{field} < {r.max}" if r.max is not None else f"any {field}"


def _effect(name: str, eff: EventEffect) -> str:
    parts = []
    if eff.goto:
        parts.append(f"moves the case to {eff.goto}")
    if eff.pause_days:
        parts.append(f"pauses collection {eff.pause_days} days")
    parts += [f"takes step {a.kind}" for a in eff.actions]
    return f"{name.replace('_', ' ')}: " + (", ".join(parts) or "noted, nothing else")


def _guardrails(cp: CompiledPolicy) -> list[str]:
    r = cp.rules
    out = [
        f"  contacts only {r.window_start:%H:%M}-{r.window_end:%H:%M} in the debtor's local time"
        + (f", never on {', '.join(r.holidays)} public holidays" if r.holidays else "")
        + "; a contact due outside is deferred, never dropped"
    ]
    for ch, (mx, per) in sorted(r.caps.items()):
        out.append(f"  {ch}: at most {mx} in any {per} days")
    if r.overall:
        out.append(f"  all channels: at most {r.overall[0]} in any {r.overall[1]} days")
    if r.call_cooldown_days:
        out.append(
            f"  no call for {r.call_cooldown_days} days after a conversation with the debtor"
        )
    if r.calls_connected_per_day is not None:
        n = r.calls_connected_per_day
        out.append(f"  at most {n} connected call{'' if n == 1 else 's'} a day")
    if r.calls_unanswered_per_day is not None:
        n = r.calls_unanswered_per_day
        out.append(f"  at most {n} unanswered call attempt{'' if n == 1 else 's'} a day")
    out.append(
        "  credit-bureau report only after the debtor was told"
        + (f", and {r.bureau_notice_days} days later" if r.bureau_notice_days else "")
    )
    out.append(
        f"  time-barred {r.limitation_days} calendar days after the due date"
        + (" or the last payment" if r.limitation_restarts_on_payment else "")
        + ": then no fee, agency placement, demand letter or legal referral, only required notices"
    )
    out.append(
        "  third parties: "
        + (
            f"only after {r.third_party_after_failed} failed attempts to reach the debtor"
            if r.third_party_allowed
            else "never"
        )
    )
    out.append(
        "  disputes stop collection until resolved; hardship pauses it; a cease request stops all but "
        "legally required notices; bankruptcy and death close the case"
    )
    return out


def explain(cp: CompiledPolicy) -> str:
    """The whole policy, in words."""
    p = cp.policy
    out = [
        f"{p.name} v{p.version} ({cp.hash[:12]}): {p.description}".rstrip(": "),
        f"Jurisdictions {', '.join(p.jurisdictions)}; currency {p.currency}; default time zone {p.timezone}; "
        f"locales {', '.join(p.locales)}; grace {p.grace_days} days.",
        "",
        "Guardrails (jurisdiction floor tightened by this policy):",
        *_guardrails(cp),
    ]
    out += ["", "Segments (first match wins; re-evaluated as the case evolves):"]
    for s in p.segments:
        conds = [
            _range(f, getattr(s, f))
            for f in ("days_past_due", "amount", "risk_score")
            if getattr(s, f) is not None
        ]
        conds += [
            f"{f} is one of {', '.join(getattr(s, f))}"
            for f in ("attitude", "product")
            if getattr(s, f)
        ]
        line = f"  {s.name}: " + ("; ".join(conds) or "every case")
        if s.variants:
            line += (
                " — split " + ", ".join(f"{v.name} {v.weight}%" for v in s.variants) + " by case id"
            )
        out.append(line)
    send = p.send_time.strftime("%H:%M")
    for stage in ACTIVE_STAGES:
        spec = p.stages.get(stage)
        if spec is None:
            continue
        out += [
            "",
            f"Stage {stage}" + (f" — {spec.description}" if spec.description else ""),
            f"  a case opened late starts here from {_when(spec.enter_at_day)}; stays at least {spec.min_days} day(s)",
        ]
        for a in spec.on_enter:
            out.append(
                f"  on entry: {a.kind}"
                + (" (needs approval)" if a.requires_approval else "")
                + (f" — only if {describe(a.when)}" if a.when else "")
            )
        for item in spec.contacts:
            out.append("  contact " + _contact(item, send))
        for i, ex in enumerate(spec.exits):
            out.append(
                f"  -> {ex.to} when {describe(ex.when)}"
                + (f" (after approval of {ex.approval})" if ex.approval else "")
                + (" (may skip stages)" if ex.skip else "")
                + f"  [{stage}.{ex.id or f'exit{i}'}]"
            )
        for name, eff in spec.on.model_dump(exclude_none=True).items():
            out.append("  event " + _effect(name, EventEffect.model_validate(eff)))
    events = p.events.model_dump(exclude_none=True)
    if events:
        out += ["", "Events in every stage (unless the stage says otherwise):"]
        out += ["  " + _effect(n, EventEffect.model_validate(e)) for n, e in events.items()]
    out += [
        "",
        f"Promises: at most {p.promise.max_days} days ahead, at least {p.promise.min_ratio:%} of the balance; "
        f"broken {p.promise.grace_days} day(s) after the date if unpaid; contacts pause meanwhile.",
        f"Repayment plans: up to {p.plan.max_instalments} instalments; an instalment is missed "
        f"{p.plan.grace_days} day(s) after its date.",
        f"Hardship: pauses collection up to {p.hardship.max_days} days.",
    ]
    for fee in p.fees:
        out.append(f"Fee {fee.name}: {fee.amount} {p.currency} on day {fee.day} past due.")
    return "\n".join(out)
