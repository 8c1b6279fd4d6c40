"""`overdue debtor status DEBTOR_ID [--json]`: one person, their open cases and the contact ledger
all of their cases share (CLI.md, Cases)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from engine.errors import OverdueError
from overdue.runtime import open_session, run

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `debtor status`."""
    debtor = sub.add_parser("debtor", help="one person across their cases")
    debtor.add_argument("--data", help="data folder (codec key)")
    ds = debtor.add_subparsers(dest="debtor_command", required=True, metavar="DEBTOR_COMMAND")
    p = ds.add_parser("status", help="open cases and the shared contact ledger of one debtor")
    p.add_argument("debtor_id", metavar="DEBTOR_ID")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda a: run(_status(a)))


async def _status(args: argparse.Namespace) -> int:
    from workflows.client import Cases, NoLedger
    from workflows.debtor_types import DebtorStatus

    cases = Cases((await open_session(getattr(args, "data", None))).client)
    # The person's open cases come from visibility (`OverdueDebtor`) and from the ledger (which
    # knows the cases that asked it for a contact, including any started before the attribute);
    # a person none of whose cases contacted them yet has cases but no ledger.
    running = await cases.running_cases_of(args.debtor_id)
    try:
        st: DebtorStatus | None = await cases.debtor(args.debtor_id)
    except NoLedger:  # a ledger that exists but cannot answer is an error, not "no contact yet"
        if not running:
            raise OverdueError(
                f"unknown debtor {args.debtor_id}: no open case and no contact ledger"
            ) from None
        st = None
    open_cases: list[dict[str, Any]] = []
    for case_id in sorted({*running, *(st.cases if st else ())}):
        try:
            c = await cases.status(case_id)
        except OverdueError:
            continue
        if not c.closed:
            open_cases.append(
                {
                    "case_id": c.case_id,
                    "stage": c.stage,
                    "balance": c.balance,
                    "currency": c.currency,
                    "policy": c.policy.name,
                }
            )
    contacts = [
        {
            "at": c.at.isoformat(),
            "channel": c.channel,
            "case_id": c.case_id,
            "action_id": c.action_id,
            "outcome": c.outcome,
        }
        for c in (st.contacts if st else [])
    ]
    allowed = (
        {ch: (t.isoformat() if t else None) for ch, t in st.next_allowed.items()} if st else {}
    )
    last = st.last_conversation_at if st else None
    doc = {
        "debtor_id": args.debtor_id,
        "open_cases": open_cases,
        "ledger": st is not None,
        "ceased": st.ceased if st else False,
        "refused": st.refused if st else [],
        "ended": st.ended if st else False,
        "last_conversation_at": last.isoformat() if last else None,
        "contacts": contacts,
        "next_allowed": allowed,
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    listed = ", ".join(
        f"{c['case_id']} ({c['stage']}, {c['balance']} {c['currency']})" for c in open_cases
    )
    lines = [
        f"debtor {args.debtor_id}"
        + ("  (ceased: only legally required notices)" if doc["ceased"] else "")
        + (f"  (refused: {', '.join(doc['refused'])})" if doc["refused"] else "")
        + ("  (ledger ended, idle: the next contact starts a new one)" if doc["ended"] else ""),
        f"  open cases   {listed or 'none'}",
        "  recent contacts",
    ]
    lines += [
        f"    {_seconds(str(c['at']))}  {c['channel']:<11} {c['case_id']}  {c['outcome'] or 'awaiting outcome'}"
        for c in contacts[-10:]
    ] or ["    none"]
    lines.append("  next allowed")
    lines += [f"    {ch:<11} {_seconds(t) if t else 'never'}" for ch, t in allowed.items()] or [
        "    no contact yet: as each case's own rules allow"
    ]
    print("\n".join(lines))
    return 0


def _seconds(iso: str) -> str:
    """A moment to the second, as the other commands' tables show it (the JSON keeps it whole)."""
    return datetime.fromisoformat(iso).isoformat(timespec="seconds")
