"""`overdue policy rollout|rollout-status|rollback`: a new policy version onto running cases.

The dry run reads the live state of every selected case and drives it forward under the version it
runs now and under the new one (`simulator.live`); nothing changes. Without `--dry-run` the
rollout is a durable workflow (`rollout-<policy>`) that moves the cases in batches.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from engine.errors import OverdueError
from overdue.argtypes import positive_int

__all__ = ["register"]


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 1..100, not {text}")
    return value


def register(ps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the rollout subcommands to `policy`."""
    r = ps.add_parser(
        "rollout",
        help="move running cases onto this version (--dry-run: only show what it would change)",
    )
    r.add_argument(
        "file", metavar="FILE", help="the new version: a policy file or a shipped policy's name"
    )
    r.add_argument("--where", metavar="QUERY", help="a Temporal list filter narrowing the cases")
    r.add_argument(
        "--percent",
        type=_percent,
        default=100,
        metavar="N",
        help="canary: the N %% of cases a stable hash of the case id picks (default 100)",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing; simulate both versions on the live states",
    )
    r.add_argument(
        "--days", type=positive_int, default=90, help="dry-run horizon in days (default 90)"
    )
    r.add_argument(
        "--seed", type=int, default=7, help="dry-run seed of the debtor behaviour (default 7)"
    )
    r.add_argument("--json", action="store_true", help="one JSON document on stdout")
    r.add_argument("--html", metavar="PATH", help="dry run: write the simulator's HTML report")
    r.add_argument(
        "--promote",
        action="store_true",
        help="after a canary: move every case not on this version yet",
    )
    r.add_argument("--batch", type=positive_int, default=25, help="cases per batch (default 25)")
    r.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="pause between batches, the bound on the rate (default 1)",
    )
    r.add_argument("--by", default="", help="who asks (recorded in every moved case's history)")
    r.add_argument("--reason", default="", help="why (recorded in every moved case's history)")
    r.add_argument("--wait", action="store_true", help="wait until every case is handled")
    r.add_argument("--data", help="data folder (default: the running `overdue dev`'s)")
    r.set_defaults(func=_rollout)
    st = ps.add_parser("rollout-status", help="where the policy's latest rollout stands")
    st.add_argument("name", metavar="NAME", help="the policy's name")
    st.add_argument("--json", action="store_true", help="one JSON document on stdout")
    st.add_argument("--data", help="data folder (default: the running `overdue dev`'s)")
    st.set_defaults(func=_status)
    for what, text in (
        ("pause", "pause the running rollout after its current batch"),
        ("resume", "resume a paused rollout"),
        ("abort", "stop the running rollout for good (moved cases stay moved)"),
    ):
        c = ps.add_parser(f"rollout-{what}", help=text)
        c.add_argument("name", metavar="NAME", help="the policy's name")
        c.add_argument("--data", help="data folder (default: the running `overdue dev`'s)")
        c.set_defaults(func=_signal, what=what)
    b = ps.add_parser(
        "rollback", help="every running case of the policy back onto an earlier version"
    )
    b.add_argument("name", metavar="NAME", help="the policy's name")
    b.add_argument(
        "--to",
        type=positive_int,
        required=True,
        metavar="VERSION",
        help="the version to go back to",
    )
    b.add_argument("--batch", type=positive_int, default=25, help="cases per batch (default 25)")
    b.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="pause between batches (default 1)",
    )
    b.add_argument("--by", default="", help="who asks")
    b.add_argument("--reason", default="", help="why")
    b.add_argument("--wait", action="store_true", help="wait until every case is handled")
    b.add_argument("--json", action="store_true", help="one JSON document on stdout")
    b.add_argument("--data", help="data folder (default: the running `overdue dev`'s)")
    b.set_defaults(func=_rollback)


async def _dry_run(args: argparse.Namespace) -> dict[str, Any]:
    from engine.policy import registry
    from overdue.runtime import data_plane, open_session
    from simulator.html import write_html
    from simulator.live import dry_run
    from simulator.report import summary
    from workers.policy_store import PolicyStore
    from workflows.client import Cases
    from workflows.rollout_select import live_states, select_case_ids

    to = registry.load(args.file)
    session = await open_session(args.data)
    # the versions the cases run now, by hash (the dry run writes nothing, not even the new one)
    registry.set_fetcher(PolicyStore(data_plane(session.folder, settings=session.settings)).get)
    cases = Cases(session.client)
    ids = await select_case_ids(cases, to.policy.name, args.where, args.percent)
    states = await live_states(cases, ids)
    now = datetime.now(UTC)
    dr = dry_run(states, to, registry.get, now, days=args.days, seed=args.seed)
    if args.html:
        write_html(dr.result, args.html)
    return {
        "policy": to.policy.name,
        "from_versions": dr.from_versions,
        "to_version": to.policy.version,
        "to_hash": to.hash,
        "selected": dr.selected,
        "movable": dr.movable,
        "refused": [{"case_id": r.case_id, "reason": r.reason} for r in dr.refused],
        "days": args.days,
        "seed": args.seed,
        "percent": args.percent,
        "current": summary(dr.result, dr.current),
        "proposed": summary(dr.result, dr.proposed),
    }


def _print_dry_run(doc: dict[str, Any]) -> None:
    cur, new = doc["current"], doc["proposed"]
    froms = ", ".join(f"{k} ({n})" for k, n in doc["from_versions"].items()) or "none"
    print(
        f"dry run: {doc['policy']} v{doc['to_version']} on {doc['selected']} running case(s) "
        f"(now on {froms}); {doc['movable']} movable, {len(doc['refused'])} refused; "
        f"{doc['days']} days, seed {doc['seed']}"
    )
    rows: list[tuple[str, object, object]] = [
        ("recovered", cur["recovered"], new["recovered"]),
        ("recovery rate", cur["recovery_rate"], new["recovery_rate"]),
    ]
    rows += [(f"contacts {ch}", cur["contacts"][ch], new["contacts"][ch]) for ch in cur["contacts"]]
    rows += [
        (f"ends {st}", cur["final_stages"][st], new["final_stages"][st])
        for st in cur["final_stages"]
    ]
    for g in sorted(set(cur["deferred_by_guardrail"]) | set(new["deferred_by_guardrail"])):
        rows.append(
            (
                f"deferred {g}",
                cur["deferred_by_guardrail"].get(g, 0),
                new["deferred_by_guardrail"].get(g, 0),
            )
        )
    print(f"  {'':<28} {'current':>14} {'v' + str(doc['to_version']):>14}")
    for label, a, b in rows:
        mark = "" if a == b else "  *"
        print(f"  {label:<28} {a!s:>14} {b!s:>14}{mark}")
    for r in doc["refused"]:
        print(f"  refused {r['case_id']}: {r['reason']}")


def _progress_doc(p: Any) -> dict[str, Any]:
    return {
        "policy": p.policy,
        "mode": p.mode,
        "state": p.state,
        "to_version": p.to.version,
        "to_hash": p.to.hash,
        "percent": p.percent,
        "where": p.where,
        "from_versions": p.from_versions,
        "selected": p.selected,
        "done": p.done,
        "moved": p.moved,
        "already": p.already,
        "refused_count": p.refused_count,
        "refused": [{"case_id": c, "reason": r} for c, r in p.refused],
        "by": p.by,
        "reason": p.reason,
        "started_at": p.started_at.isoformat() if p.started_at else None,
        "finished_at": p.finished_at.isoformat() if p.finished_at else None,
    }


def _print_progress(doc: dict[str, Any]) -> None:
    print(
        f"rollout of {doc['policy']} to v{doc['to_version']} ({doc['mode']}, {doc['percent']}%): {doc['state']}; "
        f"{doc['done']}/{doc['selected']} handled, {doc['moved']} moved, {doc['already']} already there, "
        f"{doc['refused_count']} refused"
    )
    for r in doc["refused"]:
        print(f"  refused {r['case_id']}: {r['reason']}")


async def _start(
    args: argparse.Namespace, policy: Any, mode: str, percent: int, where: str | None
) -> dict[str, Any]:
    from overdue.runtime import PolicyCache, open_session
    from workflows.rollout_client import Rollouts

    session = await open_session(args.data)
    # the version goes into the store before any case moves, so every worker finds it
    cp = PolicyCache(session.folder).store.put(policy)
    rollouts = Rollouts(session.client)
    handle = await rollouts.start(
        cp.policy.name,
        cp.ref,
        mode,  # type: ignore[arg-type]
        percent=percent,
        where=where,
        by=args.by,
        reason=args.reason,
        batch_size=args.batch,
        pause_seconds=args.interval,
    )
    if args.wait:
        return _progress_doc(await handle.result())
    return _progress_doc(await rollouts.progress(cp.policy.name))


def _started(doc: dict[str, Any], json_out: bool) -> int:
    if json_out:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        _print_progress(doc)
        if doc["state"] not in ("done", "aborted"):
            print(f"follow it with: overdue policy rollout-status {doc['policy']}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from overdue.runtime import data_plane, open_session, run
    from workers.rollout_activities import latest_rollout
    from workflows.rollout_client import Rollouts

    async def go() -> dict[str, Any]:
        session = await open_session(args.data, check_keys=False)
        doc = _progress_doc(await Rollouts(session.client).progress(args.name))
        with data_plane(session.folder, settings=session.settings) as dp:
            row = latest_rollout(dp, args.name)
        if row is not None:
            doc["record"] = {
                k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()
            }
        return doc

    doc = run(go())
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, default=str))
    else:
        _print_progress(doc)
    return 0


def _signal(args: argparse.Namespace) -> int:
    from overdue.runtime import open_session, run
    from workflows.rollout_client import Rollouts

    async def go() -> None:
        session = await open_session(args.data, check_keys=False)
        await Rollouts(session.client).signal(args.name, args.what)

    run(go())
    print(f"rollout of {args.name}: {args.what} sent")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from overdue.runtime import data_plane, run
    from workers.config import data_folder
    from workers.policy_store import PolicyStore
    from workers.settings import load_settings

    settings = load_settings()
    with data_plane(data_folder(settings, args.data), settings=settings) as plane:
        policy = PolicyStore(plane).version(args.name, args.to)
    if policy is None:
        raise OverdueError(
            f"no version {args.to} of {args.name} in the policy store: only a version cases ran "
            "can be rolled back to"
        )
    return _started(run(_start(args, policy, "rollback", 100, None)), args.json)


def _rollout(args: argparse.Namespace) -> int:
    from overdue.runtime import run

    if not args.dry_run:
        from engine.policy import registry

        if args.html is not None:
            raise OverdueError("--html is for --dry-run")
        policy = registry.load(args.file).policy
        if args.promote:
            mode, percent = "promote", 100
        else:
            mode, percent = ("canary" if args.percent < 100 else "rollout"), args.percent
        return _started(run(_start(args, policy, mode, percent, args.where)), args.json)
    if args.html is not None:
        try:
            with open(args.html, "a", encoding="utf-8"):
                pass
        except OSError as e:
            raise OverdueError(f"{args.html}: {e.strerror}") from None
    doc = run(_dry_run(args))
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        _print_dry_run(doc)
        if args.html:
            print(f"report written to {args.html}")
    return 0
