"""`overdue case ...` and `overdue outbox`: open, import, inspect and drive cases (CLI.md)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from engine.case import events as ev
from engine.case.vocabulary import (
    ActiveStage,
    Channel,
    CloseReason,
    DisputeOutcome,
    TerminalStage,
)
from engine.errors import OverdueError
from overdue.argtypes import amount, iso_date, positive_int
from overdue.runtime import PolicyCache, Session, data_plane, open_session, run
from workers.config import codec_keys, data_folder
from workers.converter import KEY_FILE_NAME
from workers.dataplane import DataPlane
from workers.settings import Settings, load_settings

if TYPE_CHECKING:
    from workflows.types import EventResult

__all__ = ["EVENT_COMMANDS", "EventCommand", "register"]


@dataclass(frozen=True)
class EventCommand:
    """A `case` command that sends one of the core's events: its arguments and its event."""

    help: str
    #: The arguments after the case id, as (flags, options) of `add_argument`.
    args: tuple[tuple[tuple[str, ...], dict[str, Any]], ...]
    #: The event made of the parsed arguments (`case_currency` is set when `needs_currency`).
    make: Callable[[argparse.Namespace], ev.Event]
    needs_currency: bool = False

    def event(self, args: argparse.Namespace) -> ev.Event:
        """The event, naming who recorded it: `--by`, else the login name of whoever runs the
        command (the case history says who did what, from the console or the command line)."""
        e = self.make(args)
        by = _who(args)
        return e.model_copy(update={"by": by}) if by else e


def _who(args: argparse.Namespace) -> str:
    """Who records the event: `--by`, else the login name of whoever runs the command."""
    return str(args.by) if args.by is not None else login_name()


def login_name() -> str:
    """The operating-system login name of whoever runs the command ("" when there is none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _words(vocabulary: type[StrEnum]) -> list[str]:
    """The words of a vocabulary as argparse choices (plain strings, so usage errors show them bare)."""
    return [str(w) for w in vocabulary]


def _arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, options


#: Every command that sends an event, and the event it sends: the one place a command becomes
#: an event. A new event of the core needs a line here and nothing in the workflow.
EVENT_COMMANDS: dict[str, EventCommand] = {
    "pay": EventCommand(
        "record a payment",
        (_arg("amount", type=amount), _arg("--ref", default="")),
        lambda a: ev.Payment(amount=a.amount, currency=a.case_currency, ref=a.ref),
        needs_currency=True,
    ),
    "settle": EventCommand(
        "agree a settlement for less, within the policy's bounds; once paid the case closes settled",
        (
            _arg("amount", type=amount),
            _arg("--until", type=iso_date, help="to be paid by (default: the latest allowed)"),
        ),
        lambda a: ev.Settle(amount=a.amount, until=a.until),
    ),
    "promise": EventCommand(
        "record a promise to pay",
        (_arg("amount", type=amount), _arg("date", type=iso_date)),
        lambda a: ev.Promise(amount=a.amount, due_date=a.date),
    ),
    "dispute": EventCommand(
        "hold collection for a dispute",
        (_arg("--reason", default=""),),
        lambda a: ev.Dispute(reason=a.reason),
    ),
    "resolve-dispute": EventCommand(
        "resolve a dispute",
        (_arg("--outcome", required=True, choices=_words(DisputeOutcome)),),
        lambda a: ev.DisputeResolved(outcome=a.outcome),
    ),
    "hardship": EventCommand(
        "pause collection for N days",
        (_arg("--days", type=int, required=True),),
        lambda a: ev.Hardship(days=a.days),
    ),
    "cease": EventCommand(
        "the debtor asked to stop communications: only legally required notices go out, on every "
        "account of theirs; with --channel, only that channel (an opt-out)",
        (
            _arg(
                "--channel",
                choices=_words(Channel),
                help="only this channel: the debtor withdrew consent to it (an opt-out)",
            ),
        ),
        lambda a: ev.Cease(channel=a.channel),
    ),
    "close": EventCommand(
        "end the case",
        (_arg("--reason", required=True, choices=_words(CloseReason)),),
        lambda a: ev.Close(reason=a.reason),
    ),
    "approve": EventCommand(
        "approve a step the policy waits for",
        (
            _arg(
                "--action",
                required=True,
                help="legal_referral, field_visit, agency_placement or settlement",
            ),
        ),
        lambda a: ev.Approve(action=a.action),
    ),
    "deny": EventCommand(
        "refuse a step the policy waits for (not asked again in this stage)",
        (
            _arg("--action", required=True, help="legal_referral, field_visit or agency_placement"),
            _arg("--reason", required=True),
        ),
        lambda a: ev.Deny(action=a.action, reason=a.reason),
    ),
    "complain": EventCommand(
        "record a complaint (answered within the policy's complaints.respond_within_days)",
        (
            _arg(
                "--category",
                required=True,
                help="what about: collector, agency, contact, amount...",
            ),
            _arg("--text", required=True, help="the complaint in the debtor's words"),
            _arg("--channel", default="phone", choices=list(get_args(ev.ComplaintChannel))),
        ),
        lambda a: ev.Complaint(category=a.category, text=a.text, channel=a.channel),
    ),
    "resolve-complaint": EventCommand(
        "answer the oldest open complaint",
        (_arg("--outcome", required=True, choices=["upheld", "rejected"]),),
        lambda a: ev.ComplaintResolved(outcome=a.outcome),
    ),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `case` (with its subcommands) and `outbox`."""
    case = sub.add_parser("case", help="open, import, inspect and drive cases")
    case.add_argument("--data", help="data folder (policy store, codec key)")
    cs = case.add_subparsers(dest="case_command", required=True, metavar="CASE_COMMAND")

    def add(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        # The one-line help is the command's description too: `case X --help` says what X does.
        p = cs.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
        p.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=lambda a: run(func(a)))
        return p

    p = add("open", "open one case from a JSON file (- for stdin)", _open)
    p.add_argument("file")
    p = add("import", "open many cases (JSON, JSON Lines or CSV)", _import)
    p.add_argument("file")
    p.add_argument("--reject", help="write rejected rows here (JSON Lines)")
    for name, help in (
        ("status", "where the case stands"),
        ("history", "every decision with its reason"),
    ):
        p = add(name, help, _status if name == "status" else _history)
        p.add_argument("case_id")
        p.add_argument("--json", action="store_true")
    p = add("list", "cases by stage or any Temporal list filter", _list)
    p.add_argument("--stage", choices=[*_words(ActiveStage), *_words(TerminalStage)])
    p.add_argument("--query", help='a Temporal list filter, e.g. "OverdueAmountDue > 5000"')
    p.add_argument("--limit", type=positive_int, default=1000)
    p.add_argument("--json", action="store_true")
    p = add(
        "outcome", "what happened on a call: result, attitude, a promise, in one step", _outcome
    )
    p.add_argument("case_id")
    p.add_argument("--action-id", required=True, help="the call's action id (case history, outbox)")
    p.add_argument("--result", required=True, choices=list(get_args(ev.CallResult)))
    p.add_argument("--attitude", choices=["cooperative", "neutral", "evasive", "hostile"])
    p.add_argument(
        "--promise", nargs=2, metavar=("AMOUNT", "DATE"), help="a promise agreed on the call"
    )
    p.add_argument("--by", default=None, help="who took the call (default: your login name)")
    for name, command in EVENT_COMMANDS.items():
        p = add(name, command.help, _event)
        p.add_argument("case_id")
        for flags, options in command.args:
            p.add_argument(*flags, **options)
        p.add_argument("--by", default=None, help="who records this (default: your login name)")
    o = sub.add_parser("outbox", help="contacts that left through the embedded outbox")
    o.add_argument(
        "--data", help="data folder (default: OVERDUE_DATA_DIR, else the running `overdue dev`'s)"
    )
    o.add_argument("--case")
    o.add_argument("--json", action="store_true")
    o.set_defaults(func=_outbox)


async def _session(args: argparse.Namespace) -> Session:
    return await open_session(getattr(args, "data", None))


async def _cases(args: argparse.Namespace) -> Any:
    from workflows.client import Cases

    return Cases((await _session(args)).client)


def _read(path: str) -> tuple[str, str, Path | None]:
    """A case file's text (UTF-8 only, whatever the terminal's encoding), its name and folder."""
    from engine.case.intake import decode_text

    if path == "-":
        return decode_text(sys.stdin.buffer.read(), "<stdin>"), "<stdin>", None
    p = Path(path)
    try:
        return decode_text(p.read_bytes(), path), path, p.parent
    except OSError as e:
        raise OverdueError(f"{path}: {e.strerror}") from None


async def _open(args: argparse.Namespace) -> int:
    from engine.case.intake import parse_cases
    from workflows.client import Cases

    text, source, base = _read(args.file)
    result = parse_cases(text, source, fmt="json" if args.file == "-" else None)
    if result.rejects:
        for r in result.rejects:
            print(f"{source}:{r.line}: {r.message}", file=sys.stderr)
        return 1
    if len(result.rows) != 1:
        raise OverdueError(
            f"{source}: expected one case, found {len(result.rows)} (use case import)"
        )
    case = result.rows[0].case
    folder = data_folder(load_settings(), getattr(args, "data", None))
    cp = PolicyCache(folder, base).get(case.policy)  # before connecting
    session = await _session(args)
    await Cases(session.client).open(case, cp)
    print(f"opened case {case.case_id} (workflow case-{case.case_id})")
    return 0


async def _import(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from engine.case.intake import parse_cases
    from engine.decision.decide import check_case
    from workflows.client import Cases

    text, source, base = _read(args.file)
    result = parse_cases(text, source)
    rejects: list[tuple[int, str]] = [(r.line, r.message) for r in result.rejects]
    session = await _session(args)
    policies = PolicyCache(session.folder, base)
    items = []
    for row in result.rows:
        try:
            cp = policies.get(row.case.policy)
        except (OverdueError, FileNotFoundError) as e:
            rejects.append((row.line, f"policy {row.case.policy!r}: {e}".splitlines()[0]))
            continue
        try:
            check_case(cp, row.case)
        except OverdueError as e:
            rejects.append((row.line, str(e)))
            continue
        items.append((row.case, cp))
    cases = Cases(session.client)
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("opening cases", total=len(items))
        counts = await cases.open_many(items, on_done=lambda _c, _o: bar.advance(task))
    for line, message in sorted(rejects):
        print(f"{source}:{line}: {message}", file=sys.stderr)
    if args.reject:
        # One command, one coroutine: nothing else waits on the loop while this small file is written.
        Path(args.reject).write_text(  # noqa: ASYNC240
            "".join(
                json.dumps({"line": line, "reason": message}, ensure_ascii=False) + "\n"
                for line, message in sorted(rejects)
            ),
            encoding="utf-8",
        )
    print(
        f"opened {counts['opened']}, already open {counts['already_open']}, rejected {len(rejects)}"
    )
    return 1 if rejects else 0  # the good rows opened all the same


async def _status(args: argparse.Namespace) -> int:
    cases = await _cases(args)
    st = await cases.status(args.case_id)
    if args.json:
        print(st.model_dump_json())
        return 0
    nxt = st.next_action
    lines = [
        f"case {st.case_id}  {st.stage}{' (closed: ' + str(st.close_reason) + ')' if st.closed else ''}",
        f"  balance      {st.balance} {st.currency} (due {st.amount_due}, paid {st.paid})",
        f"  days overdue {st.days_past_due} (collection clock day {st.clock_day})",
        f"  segment      {st.segment or '-'}{' / ' + st.variant if st.variant else ''}, attitude {st.attitude}",
        f"  holds        {', '.join(st.holds) or 'none'}",
        f"  approvals    {', '.join(st.approvals_pending) or 'none pending'}",
        f"  next         {(nxt.kind + ' ' + (nxt.channel or '') + ' at ' + nxt.at.isoformat()) if nxt and nxt.at else (nxt.kind + ' ' + nxt.detail if nxt else 'nothing scheduled')}",
        f"  policy       {st.policy.name} v{st.policy.version} ({st.policy.hash[:12]})",
    ]
    if st.refused_channels:
        lines.append(f"  refused      {', '.join(st.refused_channels)} (no contact on them)")
    if st.addresses_unusable:
        lines.append(f"  unusable     {', '.join(st.addresses_unusable)} (a channel refused them)")
    if st.stuck:
        lines.append(f"  STUCK        {st.stuck} (waits for a fix; events are refused)")
    if st.settlement is not None:
        sett = st.settlement
        lines.append(
            f"  settlement   {sett.amount} by {sett.until}, {sett.paid} paid"
            + ("" if sett.approved else ", awaiting approval")
        )
    if st.refund_due is not None:
        lines.append(f"  refund due   {st.refund_due} {st.currency}")
    print("\n".join(lines))
    return 0


async def _history(args: argparse.Namespace) -> int:
    cases = await _cases(args)
    records = await cases.history(args.case_id)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], ensure_ascii=False))
        return 0
    print(f"{'WHEN':<25}  {'KIND':<10} {'STAGE':<15} REASON  [CHANNEL OUTCOME GUARDRAIL]")
    for r in records:
        extra = " ".join(
            x for x in (r.channel or "", r.outcome or "", r.detail.get("guardrail", "")) if x
        )
        print(
            f"{r.at.isoformat(timespec='seconds')}  {r.kind:<10} {r.stage:<15} {r.reason}"
            + (f"  [{extra}]" if extra else "")
        )
    return 0


def _policy_plane(session: Session) -> DataPlane | None:
    """The data plane whose policy store tells each listed case's currency; without one (not
    reachable, schema behind) the list still shows, its amounts of an unknown currency ("?"),
    and one line on stderr says why."""
    try:
        return data_plane(session.folder, settings=session.settings)
    except OverdueError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"warning: currencies unknown (no policy store): {first}", file=sys.stderr)
        return None


async def _list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from workers.currencies import Currencies
    from workflows.client import Cases

    session = await _session(args)
    plane = _policy_plane(session)
    try:
        currencies = Currencies.of_plane(plane)
        listing = Cases(session.client).list(
            stage=args.stage, query=args.query, limit=args.limit, currency_of=currencies.of_async
        )
        rows = [c async for c in listing]
    except sa.exc.SQLAlchemyError as e:
        raise OverdueError(f"the data plane failed reading policies ({type(e).__name__})") from None
    finally:
        if plane is not None:
            plane.close()
    if args.json:
        print(json.dumps([{**c.__dict__} for c in rows], ensure_ascii=False))
        return 0
    print(f"{'CASE':<16} {'STAGE':<15} {'SEGMENT':<12} {'BALANCE':>18} {'CUR':<3}  POLICY")
    for c in rows:
        print(
            f"{c.case_id:<16} {c.stage:<15} {c.segment:<12} {c.balance:>18} {c.currency:<3}  "
            f"{c.policy}" + ("  on hold" if c.on_hold else "")
        )
    print(f"{len(rows)} case(s)")
    return 0


async def _event(args: argparse.Namespace) -> int:
    cases = await _cases(args)
    command = EVENT_COMMANDS[args.case_command]
    if command.needs_currency:
        args.case_currency = (await cases.status(args.case_id)).currency
    r = await cases.send(args.case_id, command.event(args))
    if r.already_recorded:
        print(
            f"case {r.case_id}: payment ref {args.ref} already recorded, not applied again "
            f"(balance {_money(r)})"
        )
        return 0
    _print_result(r)
    return 0


def _money(r: EventResult) -> str:
    """A result's balance with its currency, as `case status` and `case list` show it."""
    return f"{r.balance} {r.currency}".rstrip()


def _print_result(r: EventResult) -> None:
    """Where the case stands after the events, and what the core decided on them."""
    print(
        f"case {r.case_id}: {r.stage}, balance {_money(r)}"
        + (f", holds {', '.join(r.holds)}" if r.holds else "")
    )
    for reason in r.reasons:
        print(f"  {reason}")


def _outbox_keys(settings: Settings, folder: Path) -> tuple[bytes, ...]:
    """The codec keys, if this machine holds them (never creating one): recipients and messages
    are shown only to a holder of the key."""
    if settings.codec_key is None and not (folder / KEY_FILE_NAME).is_file():
        return ()
    key, old = codec_keys(settings, folder)
    return (key, *old)


async def _outcome(args: argparse.Namespace) -> int:
    promise = None
    if args.promise:
        try:
            promise = (amount(args.promise[0]), iso_date(args.promise[1]))
        except argparse.ArgumentTypeError as e:
            raise OverdueError(f"--promise: {e}") from None
    events = ev.call_outcome(args.action_id, args.result, args.attitude, promise, by=_who(args))
    cases = await _cases(args)
    _print_result(await cases.send_all(args.case_id, events))
    return 0


def _outbox(args: argparse.Namespace) -> int:
    from workers.outbox import Outbox

    settings = load_settings()
    folder = data_folder(settings, args.data)
    with data_plane(folder, settings=settings) as plane:
        rows = Outbox(plane, keys=_outbox_keys(settings, folder)).list(args.case)
    if args.json:
        print(json.dumps([r.to_json() for r in rows], ensure_ascii=False))
        return 0
    print(f"{'WHEN':<25}  {'CASE':<12} {'KIND':<16} {'CHANNEL':<11} ACTION ID")
    for r in rows:
        print(
            f"{r.at.isoformat(timespec='seconds')}  {r.case_id:<12} {r.kind:<16} "
            f"{(r.channel or '-'):<11} {r.action_id}"
        )
    print(f"{len(rows)} action(s)")
    return 0
