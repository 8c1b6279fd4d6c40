"""`overdue policy check|schema|explain|diff|versions`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from engine.errors import PolicyErrors
from overdue import cli_rollout

__all__ = ["register", "schema_json"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `policy` and its subcommands."""
    pol = sub.add_parser("policy", help="check, describe and explain policy files")
    ps = pol.add_subparsers(dest="policy_command", required=True, metavar="POLICY_COMMAND")
    c = ps.add_parser("check", help="validate; every problem as FILE:LINE:COL: message")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.set_defaults(func=_check)
    s = ps.add_parser("schema", help="the JSON Schema of a policy file")
    s.set_defaults(func=_schema)
    e = ps.add_parser("explain", help="the policy in plain language")
    e.add_argument("file", metavar="FILE")
    e.set_defaults(func=_explain)
    d = ps.add_parser("diff", help="what changed between two versions, in plain language")
    d.add_argument("old", metavar="OLD", help="a policy file or the name of a shipped policy")
    d.add_argument("new", metavar="NEW", help="a policy file or the name of a shipped policy")
    d.add_argument("--json", action="store_true", help="one JSON document on stdout")
    d.set_defaults(func=_diff)
    v = ps.add_parser("versions", help="every version ever used: hash, first use, open cases on it")
    v.add_argument("name", metavar="NAME", help="the policy's name")
    v.add_argument(
        "--data",
        help="data folder holding the default data plane (default: the running `overdue dev`'s)",
    )
    v.add_argument("--json", action="store_true", help="one JSON document on stdout")
    v.set_defaults(func=_versions)
    cli_rollout.register(ps)


def schema_json() -> str:
    """The JSON Schema of policy files, as committed in `policies/policy.schema.json`."""
    from engine.policy.model import Policy

    schema = Policy.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://overdue.dev/policy.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _check(args: argparse.Namespace) -> int:
    from engine.policy.files import load_policy, resolve_policy

    errors: list[str] = []
    for f in args.files:
        try:
            load_policy(resolve_policy(f))
        except PolicyErrors as e:
            errors.extend(str(err) for err in e.errors)
        except OSError as e:
            errors.append(f"{f}:1:1: cannot read: {e.strerror or e}")
    for line in errors:
        print(line, file=sys.stderr)
    if not errors:
        print(f"{len(args.files)} polic{'y' if len(args.files) == 1 else 'ies'} OK")
    return 1 if errors else 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_json())
    return 0


def _explain(args: argparse.Namespace) -> int:
    from engine.policy import registry
    from engine.policy.explain import explain

    print(explain(registry.load(args.file)))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from engine.policy.diff import diff_policies
    from engine.policy.files import load_policy, resolve_policy

    old = load_policy(resolve_policy(args.old))
    new = load_policy(resolve_policy(args.new))
    diff = diff_policies(old, new)
    if args.json:
        print(json.dumps(diff.to_json(), indent=2, ensure_ascii=False))
    else:
        print(diff.render())
    return 0


def _versions(args: argparse.Namespace) -> int:
    from overdue.runtime import run

    return run(_versions_main(args))


async def _versions_main(args: argparse.Namespace) -> int:
    from engine.errors import OverdueError
    from overdue.runtime import data_plane, open_session
    from workers.config import data_folder
    from workers.policy_store import PolicyStore
    from workers.settings import load_settings
    from workflows.client import Cases

    settings = load_settings()
    folder = data_folder(settings, args.data)
    with data_plane(folder, settings=settings) as plane:
        stored = PolicyStore(plane).versions(args.name)
        where = plane.url
    if not stored:
        raise OverdueError(f"no version of policy {args.name!r} was ever used (data plane {where})")
    cases = Cases((await open_session(args.data, check_keys=False)).client)
    rows: list[dict[str, Any]] = [
        {
            "version": v.version,
            "hash": v.hash,
            "first_used": v.first_used.isoformat(),
            "open_cases": await cases.count_open(v.name, v.version),
        }
        for v in stored
    ]
    if args.json:
        print(json.dumps({"policy": args.name, "versions": rows}, indent=2))
        return 0
    print(f"{args.name}: {len(rows)} version{'s' if len(rows) != 1 else ''}")
    print(f"  {'version':>7}  {'hash':<12}  {'first used':<25}  {'open cases':>10}")
    for r in rows:
        # To the second, as wide as the column (the JSON keeps the microseconds).
        first_used = datetime.fromisoformat(str(r["first_used"])).isoformat(timespec="seconds")
        print(f"  {r['version']:>7}  {r['hash'][:12]:<12}  {first_used:<25}  {r['open_cases']:>10}")
    return 0
