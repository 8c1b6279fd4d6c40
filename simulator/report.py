"""What a simulation shows: the `--json` summary (CLI.md), the terminal summary, and the figures
the HTML page draws. The trace is written while simulating (`simulator.run`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.case.actions import CONTACT_CHANNELS
from engine.case.money import format_amount
from simulator.run import PolicyRun, SimResult
from simulator.tally import STAGES

__all__ = ["print_summary", "rate", "summary", "summary_json", "variant_rows"]


def rate(part: Decimal | int, whole: Decimal | int) -> float:
    """`part / whole` rounded to 4 places (0 when there is no whole)."""
    return round(float(Decimal(part) / Decimal(whole)), 4) if whole else 0.0


def variant_rows(run: PolicyRun) -> list[dict[str, Any]]:
    """Per segment/variant figures, sorted by name."""
    rows = []
    for key in sorted(run.tally.variants):
        v = run.tally.variants[key]
        segment, variant = key.split("/", 1)
        rows.append(
            {
                "segment": segment,
                "variant": None if variant == "-" else variant,
                "cases": v.cases,
                "amount_due": format_amount(v.amount_due, run.currency),
                "recovered": format_amount(v.recovered, run.currency),
                "recovery_rate": rate(v.recovered, v.amount_due),
                "resolved": v.resolved,
                "contacts_per_case": round(v.contacts / v.cases, 2) if v.cases else 0.0,
                "violations": v.violations,
            }
        )
    return rows


def summary(result: SimResult, run: PolicyRun) -> dict[str, Any]:
    """One policy's figures: CLI.md's keys first, then the extras."""
    t, cfg = run.tally, result.config
    out: dict[str, Any] = {
        "policy": run.name,
        "cases": t.cases,
        "days": cfg.days,
        "seed": cfg.seed,
        "final_stages": {s: t.final_stages.get(s, 0) for s in STAGES},
        "recovered": format_amount(t.recovered, run.currency),
        "contacts": {ch: t.contacts.get(ch, 0) for ch in CONTACT_CHANNELS},
        "deferred": t.deferred,
        "violations": t.violations,
        "currency": run.currency,
        "start": result.start.date().isoformat(),
        "amount_due": format_amount(t.amount_due, run.currency),
        "recovery_rate": rate(t.recovered, t.amount_due),
        "refused_cases": t.refused_cases,
        "deferred_by_guardrail": dict(sorted(t.deferred_by_guardrail.items())),
        "suppressed_by_guardrail": dict(sorted(t.suppressed_by_guardrail.items())),
        "promises": {k: t.promises.get(k, 0) for k in ("made", "kept", "broken")},
        "calls": {k: t.calls.get(k, 0) for k in ("connected", "unanswered")},
        "events": dict(sorted(t.events.items())),
        "steps": dict(sorted(t.actions.items())),
        "rejected_events": t.rejected_events,
        "decisions": t.decisions,
        "variants": variant_rows(run),
    }
    if t.other_cases:
        # The person's accounts on other policies: run alongside, judged, not in the figures.
        out["other_policy_cases"] = dict(sorted(t.other_cases.items()))
        out["other_policy_refused"] = t.other_refused
    if t.violation_samples:
        out["violation_examples"] = list(t.violation_samples)
    if t.rejected_samples:
        out["rejected_examples"] = list(t.rejected_samples)
    return out


def summary_json(result: SimResult) -> dict[str, Any]:
    """The `--json` document: the policy's summary, the compared one under `compare`, and the
    run's speed (`elapsed_seconds`, `lifecycles_per_minute`, `workers`: these vary run to run)."""
    out = summary(result, result.runs[0])
    if len(result.runs) > 1:
        out["compare"] = summary(result, result.runs[1])
    out["elapsed_seconds"] = round(result.elapsed, 3)
    out["lifecycles_per_minute"] = round(result.lifecycles_per_minute)
    out["workers"] = result.workers
    return out


def print_summary(result: SimResult, console: Console) -> None:
    """The readable summary: one column per policy, then the variants."""
    runs = result.runs
    sums = [summary(result, r) for r in runs]
    table = Table(
        title=f"{result.config.days} days from {result.start.date()}, seed {result.config.seed}"
    )
    table.add_column("")
    for r in runs:
        table.add_column(r.name, justify="right")

    def row(label: str, *values: object, style: str | None = None) -> None:
        table.add_row(label, *(str(v) for v in values), style=style)

    row("cases", *(s["cases"] for s in sums))
    for stage in STAGES:
        if any(s["final_stages"][stage] for s in sums):
            row(f"  {stage}", *(s["final_stages"][stage] for s in sums))
    row("owed", *(f"{s['amount_due']} {s['currency']}" for s in sums))
    row("recovered", *(f"{s['recovered']} {s['currency']}" for s in sums), style="bold")
    row("recovery rate", *(f"{s['recovery_rate']:.1%}" for s in sums))
    row(
        "promises made/kept/broken",
        *("/".join(str(s["promises"][k]) for k in ("made", "kept", "broken")) for s in sums),
    )
    for ch in CONTACT_CHANNELS:
        if any(s["contacts"][ch] for s in sums):
            row(
                f"contacts {ch}",
                *(
                    f"{s['contacts'][ch]} ({s['contacts'][ch] / max(1, s['cases']):.2f}/case)"
                    for s in sums
                ),
            )
    row("deferred", *(s["deferred"] for s in sums))
    guards = sorted({g for s in sums for g in s["deferred_by_guardrail"]})
    for g in guards:
        row(f"  {g}", *(s["deferred_by_guardrail"].get(g, 0) for s in sums))
    row(
        "violations",
        *(s["violations"] for s in sums),
        style="bold red" if any(s["violations"] for s in sums) else "green",
    )
    if any("other_policy_cases" in s for s in sums):
        row(
            "other-policy accounts (not counted)",
            *(sum(s.get("other_policy_cases", {}).values()) for s in sums),
        )
    if any(s["rejected_events"] for s in sums):
        row("rejected events", *(s["rejected_events"] for s in sums), style="yellow")
    console.print(table)
    for r, s in zip(runs, sums, strict=True):
        vt = Table(title=f"{r.name}: segments and variants")
        for col in (
            "segment",
            "variant",
            "cases",
            "recovered",
            "rate",
            "resolved",
            "contacts/case",
        ):
            vt.add_column(col, justify="left" if col in ("segment", "variant") else "right")
        for v in s["variants"]:
            vt.add_row(
                v["segment"],
                v["variant"] or "-",
                str(v["cases"]),
                v["recovered"],
                f"{v['recovery_rate']:.1%}",
                str(v["resolved"]),
                f"{v['contacts_per_case']:.2f}",
            )
        console.print(vt)
        for example in s.get("violation_examples", [])[:5]:
            console.print(f"[red]violation[/red] {example}", highlight=False)
    n = sum(s["cases"] for s in sums)
    console.print(
        f"{n} case lifecycles in {result.elapsed:.2f} s: "
        f"{result.lifecycles_per_minute:,.0f} per minute on {result.workers} process(es)",
        highlight=False,
    )
