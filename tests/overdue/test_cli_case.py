"""`overdue case <event command>`: each command parses to the core event it stands for.

The commands that drive a case are one table (`EVENT_COMMANDS`); this checks the table against
the parser the user meets, without a server: the event a command line makes is exactly the event
the workflow will be sent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.case import events as ev
from overdue import cli_case
from overdue.cli import build_parser
from overdue.cli_case import EVENT_COMMANDS

CASES: list[tuple[list[str], ev.Event]] = [
    (
        ["pay", "C-1", "12.50", "--ref", "r1"],
        ev.Payment(amount=Decimal("12.50"), currency="EUR", ref="r1"),
    ),
    (["pay", "C-1", "3"], ev.Payment(amount=Decimal("3"), currency="EUR")),
    (["settle", "C-1", "600.00"], ev.Settle(amount=Decimal("600.00"))),
    (
        ["settle", "C-1", "600.00", "--until", "2026-12-10"],
        ev.Settle(amount=Decimal("600.00"), until=date(2026, 12, 10)),
    ),
    (
        ["promise", "C-1", "100", "2026-12-01"],
        ev.Promise(amount=Decimal("100"), due_date=date(2026, 12, 1)),
    ),
    (["dispute", "C-1", "--reason", "not mine"], ev.Dispute(reason="not mine")),
    (["resolve-dispute", "C-1", "--outcome", "upheld"], ev.DisputeResolved(outcome="upheld")),
    (["hardship", "C-1", "--days", "30"], ev.Hardship(days=30)),
    (["cease", "C-1"], ev.Cease()),
    (["cease", "C-1", "--channel", "sms"], ev.Cease(channel="sms")),
    (["close", "C-1", "--reason", "deceased"], ev.Close(reason="deceased")),
    (
        ["approve", "C-1", "--action", "legal_referral", "--by", "ana"],
        ev.Approve(action="legal_referral", by="ana"),
    ),
    (
        ["deny", "C-1", "--action", "legal_referral", "--reason", "ill", "--by", "ana"],
        ev.Deny(action="legal_referral", reason="ill", by="ana"),
    ),
    (
        ["complain", "C-1", "--category", "collector", "--text", "rude", "--channel", "email"],
        ev.Complaint(category="collector", text="rude", channel="email"),
    ),
    (
        ["resolve-complaint", "C-1", "--outcome", "rejected"],
        ev.ComplaintResolved(outcome="rejected"),
    ),
]


@pytest.mark.parametrize(("argv", "event"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_command_makes_its_event(
    argv: list[str], event: ev.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_case, "login_name", lambda: "")
    args = build_parser().parse_args(["case", *argv])
    command = EVENT_COMMANDS[args.case_command]
    if command.needs_currency:
        args.case_currency = "EUR"  # what `_event` reads from the case's status
    assert args.case_id == "C-1"
    assert command.event(args) == event


@pytest.mark.parametrize("name", sorted(EVENT_COMMANDS))
def test_every_event_names_who_recorded_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--by` names the person; without it, the login name of whoever runs the command."""
    argv = next(a for a, _ in CASES if a[0] == name)
    monkeypatch.setattr(cli_case, "login_name", lambda: "opsuser")
    parse = build_parser().parse_args
    for extra, who in (([], "opsuser"), (["--by", "ana"], "ana")):
        args = parse(["case", *[a for a in argv if a not in ("--by", "ana")], *extra])
        args.case_currency = "EUR"
        assert EVENT_COMMANDS[name].event(args).by == who


def test_every_event_command_is_tested() -> None:
    assert {argv[0] for argv, _ in CASES} == set(EVENT_COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["close", "C-1", "--reason", "bored"],
        ["hardship", "C-1"],
        ["resolve-dispute", "C-1", "--outcome", "maybe"],
        ["deny", "C-1", "--action", "legal_referral"],
        ["outcome", "C-1", "--action-id", "a", "--result", "busy"],
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["case", *argv])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


class TestOutcome:
    """`case outcome`: one call's result, attitude and promise become the core's events."""

    def test_wrong_number_with_attitude_and_promise(self) -> None:
        args = build_parser().parse_args(
            [
                "case",
                "outcome",
                "C-1",
                "--action-id",
                "A-1",
                "--result",
                "wrong_number",
                "--attitude",
                "evasive",
                "--promise",
                "50",
                "2026-12-24",
            ]
        )
        assert (args.action_id, args.result, args.attitude, args.promise) == (
            "A-1",
            "wrong_number",
            "evasive",
            ["50", "2026-12-24"],
        )
        events = ev.call_outcome(
            args.action_id, args.result, args.attitude, (Decimal("50"), date(2026, 12, 24))
        )
        assert events == [
            ev.ContactOutcome(
                action_id="A-1", outcome="failed", reason="wrong number", address_unusable=True
            ),
            ev.AttitudeChange(attitude="evasive"),
            ev.Promise(amount=Decimal("50"), due_date=date(2026, 12, 24)),
        ]

    def test_connected_alone(self) -> None:
        assert ev.call_outcome("A-2", "connected") == [
            ev.ContactOutcome(action_id="A-2", outcome="connected")
        ]


@pytest.mark.parametrize("typed", ["1e9", "1,000", "inf"])
def test_an_amount_in_another_notation_is_a_usage_error(
    typed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`case pay X 1e9` closed a demo case with a billion: only plain decimals are amounts."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["case", "pay", "C-1", typed])
    assert exit_.value.code == 2
    assert f"not an amount: '{typed}'" in capsys.readouterr().err
