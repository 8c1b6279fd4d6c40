"""Channel adapters against real local servers: SMTP (aiosmtpd) and an HTTP webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.workers.conftest import make_action
from workers.channels import (
    ChannelAdapter,
    ChannelRouter,
    DeliveryFailed,
    OutboxChannel,
    SmtpChannel,
    WebhookChannel,
    message_id_for,
    router_from_settings,
)
from workers.devserver import free_port
from workers.outbox import Outbox
from workers.settings import Settings


class _Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = (
            envelope.content
            if isinstance(envelope.content, bytes)
            else str(envelope.content).encode()
        )
        self.messages.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 OK"


class _Refusing:
    """aiosmtpd handler refusing every recipient with one SMTP code."""

    def __init__(self, code: int) -> None:
        self.code = code

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return f"{self.code} mailbox unavailable"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Inbox]]:
    """A real SMTP server on a free local port."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


class _Webhook:
    """A local HTTP endpoint recording each POST and answering with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((dict(self.headers.items()), json.loads(body)))
                reply = json.dumps({"id": f"msg-{len(hook.requests)}"}).encode()
                self.send_response(hook.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    """A real HTTP server on a free local port."""
    hook = _Webhook()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()
        hook.thread.join()


class TestOutboxChannel:
    """The embedded channel records once and reports the repeat as a duplicate."""

    async def test_records_once(self, outbox: Outbox) -> None:
        channel = OutboxChannel(outbox)
        assert isinstance(channel, ChannelAdapter)
        first = await channel.send(make_action())
        again = await channel.send(make_action())
        assert (first.status, first.delivered, first.via) == ("delivered", True, "outbox")
        assert (again.status, again.delivered) == ("duplicate", False)
        assert outbox.count() == 1


class TestSmtpChannel:
    """E-mail reaches a real SMTP server exactly once, with a Message-ID built from the action id."""

    async def test_sends_once(self, smtp_server: tuple[Controller, _Inbox], outbox: Outbox) -> None:
        controller, inbox = smtp_server
        channel = SmtpChannel("127.0.0.1", controller.port, "collections@bank.example", outbox)
        action = make_action(
            "C-1/1.reminder/day_3.email", channel="email", to="zhang.wei@example.com"
        )
        first = await channel.send(action)
        again = await channel.send(action)
        assert [first.status, again.status] == ["delivered", "duplicate"]
        assert len(inbox.messages) == 1
        mail_from, rcpt_tos, msg = inbox.messages[0]
        assert mail_from == "collections@bank.example"
        assert rcpt_tos == ["zhang.wei@example.com"]
        assert action.action_id in msg["Message-ID"]
        assert msg["Message-ID"] == first.provider_id == again.provider_id
        assert msg["Message-ID"].endswith("@bank.example>")
        assert msg["Subject"] == "Payment reminder"
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes) and b"Dear Zhang Wei" in body
        row = outbox.get(action.action_id)
        assert row is not None and (row.via, row.provider_id) == ("smtp", first.provider_id)

    async def test_missing_address_is_not_retryable(self, outbox: Outbox) -> None:
        channel = SmtpChannel("127.0.0.1", free_port(), "a@b.example", outbox)
        with pytest.raises(DeliveryFailed) as info:
            await channel.send(make_action(channel="email", to=None))
        assert info.value.retryable is False
        assert outbox.count() == 0

    @pytest.mark.parametrize(
        "to",
        [
            "lee@example.com\r\nBcc: all@example.com",
            "lee @example.com",
            "no-at-sign",
            "a@b@c",
            "lee@example.com\n",
        ],
    )
    async def test_invalid_address_is_not_retryable(self, outbox: Outbox, to: str) -> None:
        """A CR/LF (header injection) or a malformed address never reaches the server."""
        channel = SmtpChannel("127.0.0.1", free_port(), "a@b.example", outbox)
        with pytest.raises(DeliveryFailed) as info:
            await channel.send(make_action(channel="email", to=to))
        assert (info.value.retryable, info.value.address_unusable) == (False, True)
        assert info.value.reason == "invalid e-mail address" and to not in str(info.value)

    @pytest.mark.parametrize(("code", "retryable"), [(550, False), (451, True)])
    async def test_refused_recipient(self, outbox: Outbox, code: int, retryable: bool) -> None:
        """A 5xx on RCPT is permanent and blames the address; a 4xx is worth another try. The
        address, which smtplib puts in its exception, is in neither message nor chain."""
        controller = Controller(_Refusing(code), hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            channel = SmtpChannel("127.0.0.1", controller.port, "c@bank.example", outbox)
            with pytest.raises(DeliveryFailed) as info:
                await channel.send(make_action(channel="email", to="zhang.wei@example.com"))
        finally:
            controller.stop()
        err = info.value
        assert (err.retryable, err.address_unusable, err.status) == (retryable, not retryable, code)
        assert err.reason == f"smtp {code} recipient refused"
        assert err.__cause__ is None and err.__suppress_context__
        assert outbox.count() == 0

    async def test_unreachable_server_is_retryable(self, outbox: Outbox) -> None:
        channel = SmtpChannel("127.0.0.1", free_port(), "a@b.example", outbox, timeout=2)
        with pytest.raises(DeliveryFailed) as info:
            await channel.send(make_action(channel="email", to="zhang.wei@example.com"))
        assert (info.value.retryable, info.value.address_unusable) == (True, False)
        assert info.value.reason.startswith("smtp server unreachable")

    def test_message_id_is_valid_and_deterministic(self) -> None:
        assert message_id_for("C-1/2.legal/approval.x") == "<C-1/2.legal/approval.x@overdue.local>"
        assert message_id_for("C 1:x=é", "d.example") == "<C=201=3Ax=3D=C3=A9@d.example>"
        assert message_id_for(".a..b.") == "<=2Ea=2E.b=2E@overdue.local>"


class TestWebhookChannel:
    """SMS leaves as one JSON POST with an Idempotency-Key; a server error raises."""

    async def test_posts_once(self, webhook: _Webhook, outbox: Outbox) -> None:
        channel = WebhookChannel(webhook.url, outbox, timeout=5, token="s3cret")
        action = make_action()
        first = await channel.send(action)
        again = await channel.send(action)
        assert [first.status, again.status] == ["delivered", "duplicate"]
        assert first.provider_id == again.provider_id == "msg-1"
        assert len(webhook.requests) == 1
        headers, body = webhook.requests[0]
        assert headers["Idempotency-Key"] == action.action_id
        assert headers["Authorization"] == "Bearer s3cret"
        assert body == {
            "action_id": action.action_id,
            "case_id": "C-1",
            "channel": "sms",
            "to": "+8613812345678",
            "message": action.message,
            "template": "reminder_d3",
            "locale": "zh-CN",
        }

    async def test_server_error_raises_and_records_nothing(
        self, webhook: _Webhook, outbox: Outbox
    ) -> None:
        webhook.status = 500
        channel = WebhookChannel(webhook.url, outbox, timeout=5)
        with pytest.raises(DeliveryFailed) as info:
            await channel.send(make_action())
        assert (info.value.status, info.value.retryable) == (500, True)
        assert outbox.count() == 0
        webhook.status = 200
        assert (await channel.send(make_action())).status == "delivered"
        assert len(webhook.requests) == 2

    async def test_client_error_is_not_retryable(self, webhook: _Webhook, outbox: Outbox) -> None:
        webhook.status = 422
        with pytest.raises(DeliveryFailed) as info:
            await WebhookChannel(webhook.url, outbox).send(make_action())
        assert info.value.retryable is False

    async def test_unreachable_is_retryable(self, outbox: Outbox) -> None:
        channel = WebhookChannel(f"http://127.0.0.1:{free_port()}/", outbox, timeout=2)
        with pytest.raises(DeliveryFailed) as info:
            await channel.send(make_action())
        assert info.value.retryable is True and info.value.address_unusable is False
        assert info.value.reason == "webhook unreachable (ConnectError)"
        assert info.value.__cause__ is None and info.value.__suppress_context__
        assert outbox.count() == 0

    @pytest.mark.parametrize(
        ("status", "unusable"), [(400, True), (410, True), (401, False), (404, False)]
    )
    async def test_client_errors_say_whether_the_address_is_at_fault(
        self, webhook: _Webhook, outbox: Outbox, status: int, unusable: bool
    ) -> None:
        """A 400 blames the number; a 401 or 404 blames our credentials or URL."""
        webhook.status = status
        with pytest.raises(DeliveryFailed) as info:
            await WebhookChannel(webhook.url, outbox).send(make_action())
        assert (info.value.retryable, info.value.address_unusable) == (False, unusable)
        assert info.value.reason == f"webhook HTTP {status}"
        assert "+86" not in str(info.value)
        assert outbox.count() == 0


class TestRouter:
    """Channels route by name; the outbox takes every channel without a route."""

    async def test_default_is_outbox(self, outbox: Outbox) -> None:
        router = router_from_settings(outbox, Settings(smtp_host="", webhook_url=""))
        for channel in ("sms", "push", "email", "call", "letter", "field_visit", None):
            assert isinstance(router.adapter_for(channel), OutboxChannel)
        result = await router.send(make_action(channel="letter"))
        assert (result.via, result.status) == ("outbox", "delivered")

    async def test_env_routes(self, webhook: _Webhook, outbox: Outbox) -> None:
        settings = Settings(
            smtp_host="127.0.0.1",
            smtp_port=2525,
            smtp_sender="c@bank.example",
            webhook_url=webhook.url,
            webhook_channels=("sms", "call"),
        )
        router = router_from_settings(outbox, settings)
        email = router.adapter_for("email")
        assert isinstance(email, SmtpChannel) and (email.port, email.sender) == (
            2525,
            "c@bank.example",
        )
        assert isinstance(router.adapter_for("sms"), WebhookChannel)
        assert isinstance(router.adapter_for("call"), WebhookChannel)
        assert isinstance(router.adapter_for("push"), OutboxChannel)
        result = await router.send(make_action())
        assert (result.via, len(webhook.requests)) == ("webhook", 1)

    def test_unknown_channel_refused(self, outbox: Outbox) -> None:
        with pytest.raises(ValueError, match="fax"):
            ChannelRouter(OutboxChannel(outbox), {"fax": OutboxChannel(outbox)})
