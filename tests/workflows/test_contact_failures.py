"""Contacts that cannot leave, on the time-skipping server: an SMTP server answering 550, an
e-mail address with a CR/LF in it, and a server that is down for good. Each ends as a `failed`
contact the case records; the case keeps running and its next contacts leave (or, where the
address itself was refused, are suppressed with `address_unusable.email`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.case import events as ev
from engine.case.actions import Record
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import inline_policy
from tests.workflows.helpers import Driver, align, local, make_case
from workers.channels import ChannelRouter, OutboxChannel, SmtpChannel
from workers.devserver import free_port
from workers.outbox import Outbox
from workers.worker import build_worker
from workflows.case_workflow import CONTACT_RETRY
from workflows.client import Cases

#: E-mail on days 1 and 2, an SMS on each of days 1 to 3.
PLAN = {
    "reminder": {
        "contacts": [
            {"id": "mail1", "day": 1, "channel": "email", "template": "t"},
            {"id": "sms1", "day": 1, "channel": "sms", "template": "t", "at": "11:00"},
            {"id": "mail2", "day": 2, "channel": "email", "template": "t"},
            {"id": "sms2", "day": 2, "channel": "sms", "template": "t", "at": "11:00"},
            {"id": "sms3", "day": 3, "channel": "sms", "template": "t"},
        ]
    }
}


class _Refuse550:
    """aiosmtpd handler refusing every recipient for good, and counting the tries."""

    def __init__(self) -> None:
        self.tries = 0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.tries += 1
        return "550 5.1.1 no such mailbox"


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    """A small policy mixing e-mail and SMS, registered for the workers."""
    return registry.register(inline_policy(stages=PLAN).policy)


@pytest.fixture
def refusing() -> Iterator[tuple[int, _Refuse550]]:
    """A real SMTP server that answers 550 to every recipient."""
    handler = _Refuse550()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


async def _drive(
    tsenv: WorkflowEnvironment,
    cases: Cases,
    cp: CompiledPolicy,
    case_id: str,
    email: str = "lee@example.com",
) -> list[Record]:
    """Open a case on day 0 at 02:00 and let four days pass; the case's history."""
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, case_id, local(now, tz).date(), "900.00")
    case = case.model_copy(update={"debtor": case.debtor.model_copy(update={"email": email})})
    await cases.open(case, cp)
    await Driver(tsenv, cases).run([case_id], 4, tz=tz)
    desc = await cases.handle(case_id).describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    return await cases.history(case_id)


def _outcomes(records: list[Record]) -> list[tuple[str | None, str, dict[str, str]]]:
    return [(r.action_id, r.reason, dict(r.detail)) for r in records if r.kind == "outcome"]


def _suppressed(records: list[Record]) -> list[tuple[str, str]]:
    return [(r.reason, r.detail["guardrail"]) for r in records if r.kind == "suppressed"]


def _sent(outbox: Outbox, case_id: str) -> list[str]:
    return [r.action_id.rsplit("/", 1)[1] for r in outbox.list(case_id) if r.kind == "contact"]


async def _smtp_worker(tsenv: WorkflowEnvironment, outbox: Outbox, port: int) -> Worker:
    router = ChannelRouter(
        OutboxChannel(outbox),
        {"email": SmtpChannel("127.0.0.1", port, "c@bank.example", outbox, timeout=5)},
    )
    return build_worker(tsenv.client, outbox, router, task_queue=f"tq-{uuid.uuid4()}")


def _assert_no_personal_data(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every log line of the run (the SDK's, ours, tracebacks included) without the debtor's
    name, phone, e-mail or address (those of `make_case`). The test SMTP server's own log
    (`mail.log`) is the mail provider's, not ours: it is left out."""
    out, err = capsys.readouterr()
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logs = "\n".join(caplog.handler.format(r) for r in ours) + out + err
    assert "contact" in logs  # the failures were logged...
    for personal in ("Lee Wei", "+8613800000000", "lee@example.com", "1 Test Road"):
        assert personal not in logs  # ...without personal data


async def _close(cases: Cases, case_id: str) -> None:
    await cases.send(case_id, ev.Close(reason="written_off"))
    await cases.handle(case_id).result()


async def test_smtp_550_marks_the_address_and_the_case_goes_on(
    tsenv: WorkflowEnvironment,
    outbox: Outbox,
    policy: CompiledPolicy,
    refusing: tuple[int, _Refuse550],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 550 is tried once, recorded as failed with its reason, and the next e-mail is suppressed;
    every SMS leaves as planned."""
    caplog.set_level(logging.DEBUG)
    port, handler = refusing
    async with await _smtp_worker(tsenv, outbox, port) as worker:
        cases = Cases(tsenv.client, task_queue=worker.task_queue)
        records = await _drive(tsenv, cases, policy, "F550-1")
        st = await cases.status("F550-1")
        await _close(cases, "F550-1")
    assert handler.tries == 1
    assert _outcomes(records) == [
        (
            "F550-1/0.reminder/mail1",
            "contact failed: smtp 550 recipient refused",
            {"address_unusable": "email"},
        )
    ]
    assert _suppressed(records) == [("reminder.mail2", "address_unusable.email")]
    assert _sent(outbox, "F550-1") == ["sms1", "sms2", "sms3"]
    assert st.addresses_unusable == ["email"] and not st.closed
    _assert_no_personal_data(caplog, capsys)


async def test_crlf_address_fails_at_once(
    tsenv: WorkflowEnvironment,
    outbox: Outbox,
    policy: CompiledPolicy,
    refusing: tuple[int, _Refuse550],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An address with a CR/LF never reaches the server: failed at the first try, not retried."""
    caplog.set_level(logging.DEBUG)
    port, handler = refusing
    async with await _smtp_worker(tsenv, outbox, port) as worker:
        cases = Cases(tsenv.client, task_queue=worker.task_queue)
        records = await _drive(
            tsenv, cases, policy, "CRLF-1", email="lee@example.com\r\nBcc: all@example.com"
        )
        history = await cases.handle("CRLF-1").fetch_history()
        await _close(cases, "CRLF-1")
    assert handler.tries == 0
    assert _outcomes(records) == [
        (
            "CRLF-1/0.reminder/mail1",
            "contact failed: invalid e-mail address",
            {"address_unusable": "email"},
        )
    ]
    assert _suppressed(records) == [("reminder.mail2", "address_unusable.email")]
    assert _sent(outbox, "CRLF-1") == ["sms1", "sms2", "sms3"]
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert started and set(started) == {1}
    _assert_no_personal_data(caplog, capsys)


async def test_server_down_gives_up_after_bounded_retries(
    tsenv: WorkflowEnvironment,
    outbox: Outbox,
    policy: CompiledPolicy,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens: each e-mail is tried `maximum_attempts` times, then recorded as failed;
    the address is not blamed, so the next e-mail is tried again (and fails the same way)."""
    caplog.set_level(logging.DEBUG)
    async with await _smtp_worker(tsenv, outbox, free_port()) as worker:
        cases = Cases(tsenv.client, task_queue=worker.task_queue)
        records = await _drive(tsenv, cases, policy, "DOWN-1")
        history = await cases.handle("DOWN-1").fetch_history()
        await _close(cases, "DOWN-1")
    reason = "contact failed: gave up retrying: smtp server unreachable (ConnectionRefusedError)"
    assert _outcomes(records) == [
        ("DOWN-1/0.reminder/mail1", reason, {}),
        ("DOWN-1/0.reminder/mail2", reason, {}),
    ]
    assert _suppressed(records) == []
    assert _sent(outbox, "DOWN-1") == ["sms1", "sms2", "sms3"]
    failed = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    assert len(failed) == 2
    assert (
        max(
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        )
        == CONTACT_RETRY.maximum_attempts
    )
    _assert_no_personal_data(caplog, capsys)
