"""The `--html` report: one self-contained page (inline CSS and SVG drawn here, no script, no
network) with cases per stage over time, cumulative recovery, contacts per case by channel,
deferrals by guardrail and the per-variant table; with `--compare`, both policies side by side."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from engine.case.actions import CONTACT_CHANNELS
from engine.errors import OverdueError
from simulator.report import summary, variant_rows
from simulator.run import PolicyRun, SimResult
from simulator.tally import SERIES_STAGES

__all__ = ["CHART_IDS", "render_html", "write_html"]

#: The id of each chart and table on the page.
CHART_IDS = (
    "chart-stages",
    "chart-recovery",
    "chart-contacts",
    "chart-deferrals",
    "table-variants",
    "table-summary",
)

_STAGE_COLOURS = {
    "not_open": "#d9d9d9",
    "reminder": "#9ecae1",
    "negotiation": "#4292c6",
    "escalation": "#fd8d3c",
    "legal_referral": "#d94801",
    "resolved": "#41ab5d",
    "settled": "#a1d99b",
    "written_off": "#969696",
    "closed": "#525252",
}
_POLICY_COLOURS = ("#2b6cb0", "#dd6b20")
_W, _H = 720, 300
_L, _R, _T, _B = 64, 16, 28, 40  # margins

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1a202c;max-width:1500px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sub{color:#4a5568;margin-bottom:16px} .row{display:flex;flex-wrap:wrap;gap:24px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:12px;background:#fff}
table{border-collapse:collapse;font-size:14px} th,td{padding:4px 10px;border-bottom:1px solid #edf2f7}
th{text-align:left;background:#f7fafc} td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#c53030;font-weight:bold} .ok{color:#2f855a;font-weight:bold}
svg text{font-size:11px;fill:#2d3748} .legend{font-size:12px}
"""


def _nice(top: float) -> float:
    """A round axis maximum at or above `top`."""
    if top <= 0:
        return 1.0
    step = float(10 ** (len(str(int(top))) - 1))
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= top:
            return m * step
    return 10.0 * step


def _axes(ymax: float, days: int, label: str) -> list[str]:
    out = [
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#4a5568"/>',
        f'<line x1="{_L}" y1="{_T}" x2="{_L}" y2="{_H - _B}" stroke="#4a5568"/>',
    ]
    for k in range(5):
        v = ymax * k / 4
        y = _H - _B - (_H - _T - _B) * k / 4
        out.append(f'<line x1="{_L}" y1="{y:.1f}" x2="{_W - _R}" y2="{y:.1f}" stroke="#edf2f7"/>')
        out.append(f'<text x="{_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_short(v)}</text>')
    for k in range(7):
        d = round((days - 1) * k / 6)
        x = _x(d, days)
        out.append(f'<text x="{x:.1f}" y="{_H - _B + 16}" text-anchor="middle">{d + 1}</text>')
    out.append(f'<text x="{(_L + _W - _R) / 2}" y="{_H - 6}" text-anchor="middle">day</text>')
    out.append(f'<text x="{_L}" y="{_T - 12}">{escape(label)}</text>')
    return out


def _short(v: float) -> str:
    """An axis label: 950, 12.5k, 1.2M."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def _x(day: float, days: int) -> float:
    return _L + (_W - _L - _R) * (day / max(1, days - 1))


def _y(v: float, ymax: float) -> float:
    return _H - _B - (_H - _T - _B) * (v / ymax if ymax else 0)


def _svg(id_: str, body: list[str], title: str, height: int = _H) -> str:
    return (
        f'<svg id="{id_}" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _stages_chart(id_: str, run: PolicyRun) -> str:
    series = run.tally.stage_series()
    days = run.tally.days
    ymax = _nice(max(1, run.tally.cases))
    body = _axes(ymax, days, "cases")
    base = [0] * days
    for stage in SERIES_STAGES:
        values = series[stage]
        if not any(values):
            continue
        top = [b + v for b, v in zip(base, values, strict=True)]
        pts = [f"{_x(d, days):.1f},{_y(top[d], ymax):.1f}" for d in range(days)]
        pts += [f"{_x(d, days):.1f},{_y(base[d], ymax):.1f}" for d in reversed(range(days))]
        body.append(
            f'<polygon points="{" ".join(pts)}" fill="{_STAGE_COLOURS[stage]}" stroke="none">'
            f"<title>{stage}: {values[-1]} cases at the end</title></polygon>"
        )
        base = top
    legend = [s for s in SERIES_STAGES if any(series[s])]
    for i, stage in enumerate(legend):
        x = _L + 8 + (i % 5) * 128
        y = _H + 4 + (i // 5) * 16
        body.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{_STAGE_COLOURS[stage]}"/>'
            f'<text class="legend" x="{x + 14}" y="{y + 9}">{stage} ({series[stage][-1]})</text>'
        )
    return _svg(id_, body, f"{run.name}: cases per stage at the end of each day", _H + 40)


def _recovery_chart(runs: list[PolicyRun]) -> str:
    days = runs[0].tally.days
    curves = [[float(v) for v in r.tally.recovery_series()] for r in runs]
    ymax = _nice(max(max(c) for c in curves))
    body = _axes(ymax, days, f"recovered ({runs[0].currency})")
    for i, (r, c) in enumerate(zip(runs, curves, strict=True)):
        pts = " ".join(f"{_x(d, days):.1f},{_y(v, ymax):.1f}" for d, v in enumerate(c))
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{_POLICY_COLOURS[i]}" stroke-width="2">'
            f"<title>{escape(r.name)}: {c[-1]:,.2f} {r.currency}</title></polyline>"
        )
        x = _L + 8 + 330 * i
        body.append(
            f'<rect x="{x}" y="{_H + 4}" width="10" height="10" fill="{_POLICY_COLOURS[i]}"/>'
            f'<text class="legend" x="{x + 14}" y="{_H + 13}">{escape(r.name)}: '
            f"{c[-1]:,.2f} {r.currency}</text>"
        )
    return _svg("chart-recovery", body, "cumulative recovery", _H + 24)


def _bars(
    id_: str,
    title: str,
    labels: Sequence[str],
    values: list[list[float]],
    names: list[str],
    fmt: str = "{:.2f}",
) -> str:
    """Horizontal grouped bars: one group per label, one bar per policy."""
    n = max(1, len(values))
    band = 14 * n + 10
    height = _T + band * max(1, len(labels)) + 30
    vmax = _nice(max([v for vs in values for v in vs] + [0.0]))
    left = 250
    body = []
    for j, label in enumerate(labels):
        y0 = _T + j * band
        body.append(
            f'<text x="{left - 6}" y="{y0 + 7 * n + 4}" text-anchor="end">{escape(label)}</text>'
        )
        for i in range(n):
            v = values[i][j]
            w = (_W - left - 80) * (v / vmax if vmax else 0)
            body.append(
                f'<rect x="{left}" y="{y0 + 14 * i}" width="{w:.1f}" height="12" fill="{_POLICY_COLOURS[i]}">'
                f"<title>{escape(names[i])}: {fmt.format(v)}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y0 + 14 * i + 10}">{fmt.format(v)}</text>'
            )
    if not labels:
        body.append(f'<text x="{left}" y="{_T + 12}">none</text>')
    for i, name in enumerate(names):
        body.append(
            f'<rect x="{left + 170 * i}" y="{height - 16}" width="10" height="10" fill="{_POLICY_COLOURS[i]}"/>'
            f'<text class="legend" x="{left + 14 + 170 * i}" y="{height - 7}">{escape(name)}</text>'
        )
    return _svg(id_, body, title, height)


def _summary_table(result: SimResult) -> str:
    sums = [summary(result, r) for r in result.runs]
    head = "".join(f"<th>{escape(s['policy'])}</th>" for s in sums)
    rows = [
        ("cases", [str(s["cases"]) for s in sums]),
        ("owed", [f"{s['amount_due']} {s['currency']}" for s in sums]),
        ("recovered", [f"{s['recovered']} {s['currency']}" for s in sums]),
        ("recovery rate", [f"{s['recovery_rate']:.1%}" for s in sums]),
        ("resolved", [str(s["final_stages"]["resolved"]) for s in sums]),
        ("contacts", [str(sum(s["contacts"].values())) for s in sums]),
        ("deferred", [str(s["deferred"]) for s in sums]),
        (
            "promises made / kept / broken",
            ["/".join(str(s["promises"][k]) for k in ("made", "kept", "broken")) for s in sums],
        ),
    ]
    if any("other_policy_cases" in s for s in sums):
        # The person's accounts on other policies ran alongside: say how many, apart.
        rows.append(
            (
                "other-policy accounts (not counted)",
                [str(sum(s.get("other_policy_cases", {}).values())) for s in sums],
            )
        )
    body = "".join(
        f"<tr><th>{escape(k)}</th>"
        + "".join(f'<td class="n">{escape(v)}</td>' for v in vs)
        + "</tr>"
        for k, vs in rows
    )
    body += (
        "<tr><th>violations</th>"
        + "".join(
            f'<td class="n {"bad" if s["violations"] else "ok"}">{s["violations"]}</td>'
            for s in sums
        )
        + "</tr>"
    )
    return f'<table id="table-summary"><tr><th></th>{head}</tr>{body}</table>'


def _variant_table(result: SimResult) -> str:
    cols = (
        "policy",
        "segment",
        "variant",
        "cases",
        "owed",
        "recovered",
        "rate",
        "resolved",
        "contacts/case",
    )
    rows = []
    for r in result.runs:
        for v in variant_rows(r):
            cells = [
                r.name,
                v["segment"],
                v["variant"] or "-",
                str(v["cases"]),
                v["amount_due"],
                v["recovered"],
                f"{v['recovery_rate']:.1%}",
                str(v["resolved"]),
                f"{v['contacts_per_case']:.2f}",
            ]
            rows.append(
                "<tr>"
                + "".join(
                    f"<td{' class=n' if i >= 3 else ''}>{escape(c)}</td>"
                    for i, c in enumerate(cells)
                )
                + "</tr>"
            )
    return (
        '<table id="table-variants"><tr>'
        + "".join(f"<th>{c}</th>" for c in cols)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def render_html(result: SimResult) -> str:
    """The whole page."""
    runs = result.runs
    cfg = result.config
    names = [r.name for r in runs]
    title = " vs ".join(names)
    stage_charts = "".join(
        f'<div class="card">{_stages_chart("chart-stages" if i == 0 else f"chart-stages-{i + 1}", r)}</div>'
        for i, r in enumerate(runs)
    )
    channels = [ch for ch in CONTACT_CHANNELS if any(r.tally.contacts.get(ch) for r in runs)]
    contacts = _bars(
        "chart-contacts",
        "contacts per case by channel",
        channels,
        [[r.tally.mean_contacts()[ch] for ch in channels] for r in runs],
        names,
    )
    guards = sorted(
        {g for r in runs for g in r.tally.deferred_by_guardrail},
        key=lambda g: -sum(r.tally.deferred_by_guardrail.get(g, 0) for r in runs),
    )
    deferrals = _bars(
        "chart-deferrals",
        "deferrals by guardrail",
        guards,
        [[float(r.tally.deferred_by_guardrail.get(g, 0)) for g in guards] for r in runs],
        names,
        "{:,.0f}",
    )
    source = (
        f"portfolio {escape(cfg.portfolio)}"
        if cfg.portfolio
        else f"{runs[0].tally.cases} synthetic cases"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Overdue simulation: {escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>Overdue simulation: {escape(title)}</h1>
<div class="sub">{source}, {cfg.days} days from {result.start.date()}, seed {cfg.seed};
{result.workers} process(es), {result.elapsed:.1f} s.</div>
<h2>Summary</h2><div class="card">{_summary_table(result)}</div>
<h2>Cases per stage over time</h2><div class="row">{stage_charts}</div>
<h2>Cumulative recovery</h2><div class="card">{_recovery_chart(runs)}</div>
<div class="row"><div><h2>Contacts per case by channel</h2><div class="card">{contacts}</div></div>
<div><h2>Deferrals by guardrail</h2><div class="card">{deferrals}</div></div></div>
<h2>Segments and variants</h2><div class="card">{_variant_table(result)}</div>
</body></html>
"""


def write_html(result: SimResult, path: str) -> None:
    """Write the page to `path`.

    Raises:
        OverdueError: the file cannot be written.
    """
    try:
        Path(path).write_text(render_html(result), encoding="utf-8")
    except OSError as e:
        raise OverdueError(f"{path}: {e.strerror}") from None
