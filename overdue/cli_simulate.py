"""`overdue simulate`: run a policy's own core over a portfolio for D days, without Temporal (CLI.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import OverdueError
from overdue.argtypes import iso_date, positive_int

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `simulate`."""
    p = sub.add_parser(
        "simulate",
        help="run a policy over a synthetic portfolio or a case file, without Temporal",
        description="Run the policy's own core over a portfolio (synthetic from the seed, or a case "
        "file) for D days, with a debtor model, and count what it does.",
    )
    p.add_argument("policy", metavar="POLICY", help="a policy file or the name of one in policies/")
    p.add_argument(
        "--compare", metavar="POLICY2", help="a second policy, on the same portfolio and seed"
    )
    p.add_argument(
        "--cases", type=positive_int, default=1000, help="synthetic cases (default 1000)"
    )
    p.add_argument("--days", type=positive_int, default=180, help="days simulated (default 180)")
    p.add_argument(
        "--seed", type=int, default=7, help="seed of the portfolio and the debtors (default 7)"
    )
    p.add_argument(
        "--portfolio",
        metavar="FILE",
        help="simulate the cases of this file (JSON, JSON Lines, CSV)",
    )
    p.add_argument(
        "--start",
        type=iso_date,
        help="first simulated day (default 2026-03-02, or the "
        "first reminder day of the portfolio file)",
    )
    p.add_argument(
        "--approve-delay",
        type=float,
        default=0.0,
        metavar="DAYS",
        help="days a human takes to approve what the policy waits for (default 0)",
    )
    p.add_argument(
        "--shared-debtors",
        type=_share,
        default=0.25,
        metavar="F",
        help="share of synthetic debtors holding more than one account (default 0.25)",
    )
    p.add_argument(
        "--other-policy",
        metavar="P",
        help="synthetic: the policy (same currency) of the further accounts of about half of the "
        "shared debtors, run alongside but counted only for violations",
    )
    p.add_argument("--trace", metavar="PATH", help="write every decision as JSON Lines")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--workers", type=positive_int, help="processes (default: one per CPU)")
    p.set_defaults(func=run)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _writable(path: str | None) -> None:
    if path is None:
        return
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise OverdueError(f"{path}: {e.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Simulate; print the summary (or the JSON) and write the trace and the page if asked."""
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from simulator.behaviour import BehaviourSpec
    from simulator.html import write_html
    from simulator.portfolio import PortfolioSpec, load_portfolio
    from simulator.report import print_summary, summary_json
    from simulator.run import SimConfig, simulate

    if args.portfolio and not Path(args.portfolio).is_file():
        raise OverdueError(f"{args.portfolio}: no such file")
    _writable(args.trace)
    _writable(args.html)
    cases = load_portfolio(args.portfolio) if args.portfolio else None
    cfg = SimConfig(
        policy=args.policy,
        compare=args.compare,
        cases=len(cases) if cases else args.cases,
        days=args.days,
        seed=args.seed,
        start=args.start,
        portfolio=args.portfolio,
        other_policy=args.other_policy,
        trace=args.trace,
        workers=args.workers,
        behaviour=replace(BehaviourSpec(), approve_delay_days=args.approve_delay),
        portfolio_spec=PortfolioSpec(shared_debtors=args.shared_debtors),
    )
    err = Console(stderr=True)
    show = not args.json and sys.stderr.isatty()
    total = cfg.cases * (2 if cfg.compare else 1)
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cases"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not show,
        auto_refresh=False,
    ) as bar:
        # Refreshed by hand: no display thread may be running when the worker processes fork.
        task = bar.add_task("simulate", total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)
            bar.refresh()

        result = simulate(cfg, progress=advance, cases=cases)
    if args.html:
        write_html(result, args.html)
    if args.json:
        print(json.dumps(summary_json(result), ensure_ascii=False))
    else:
        print_summary(result, Console())
        for path, what in ((args.trace, "trace"), (args.html, "report")):
            if path:
                print(f"{what} written to {path}")
    return 0
