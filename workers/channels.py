"""Channel adapters: how a contact leaves, exactly once per deterministic action id.

Every adapter implements `ChannelAdapter` (``async send(action) -> SendResult``) and is
idempotent on ``action.action_id``: a retried activity or a replayed workflow that sends the same
action again gets ``status="duplicate"`` and nothing goes out twice.

- `OutboxChannel`: the embedded default; the contact is written to the `Outbox` ledger.
- `SmtpChannel`: e-mail over SMTP; ``Message-ID`` derived from the action id.
- `WebhookChannel`: SMS / voice through an HTTP POST with ``Idempotency-Key: <action_id>``.
- `ChannelRouter`: picks the adapter by channel name, the outbox being the default for all.

The real adapters consult the ledger before sending and record after. Between a provider
accepting a message and the ledger write, a crash would make the retry send again; the provider
can drop that one by the ``Message-ID`` / ``Idempotency-Key``, both derived from the action id.

`router_from_settings` routes e-mail through SMTP when ``OVERDUE_SMTP_HOST`` is set and the
channels of ``OVERDUE_WEBHOOK_CHANNELS`` (default ``sms,call``) through the webhook when
``OVERDUE_WEBHOOK_URL`` is set (`workers.settings`; the README lists every setting).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from engine.case.actions import CONTACT_CHANNELS, Action
from workers.outbox import Outbox
from workers.settings import Settings

__all__ = [
    "ChannelAdapter",
    "ChannelRouter",
    "DeliveryFailed",
    "OutboxChannel",
    "SendResult",
    "SmtpChannel",
    "WebhookChannel",
    "message_id_for",
    "router_from_settings",
]


@dataclass(frozen=True)
class SendResult:
    """What became of one send: ``delivered`` now, or ``duplicate`` (it had already left)."""

    action_id: str
    status: Literal["delivered", "duplicate"]
    #: The adapter that handled it: ``outbox``, ``smtp`` or ``webhook``.
    via: str
    #: The provider's id of the delivery (Message-ID, webhook id, outbox key).
    provider_id: str | None = None

    @property
    def delivered(self) -> bool:
        """True when this call sent it, False when it had already been sent."""
        return self.status == "delivered"


class DeliveryFailed(Exception):
    """The provider refused or failed the delivery.

    ``retryable`` is False for failures a retry cannot fix (an invalid or refused address, an
    HTTP 4xx other than 408/429, an SMTP 5xx); the activity returns those as a ``failed``
    outcome. ``address_unusable`` says the fault is the recipient's address itself, so the case
    stops using it. Messages never carry personal data: they name the action, never its
    recipient, and are built here rather than copied from the provider's exception.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        status: int | None = None,
        reason: str = "",
        address_unusable: bool = False,
    ) -> None:
        """Build the error.

        Args:
            message: What went wrong (no personal data).
            retryable: Whether trying again may succeed.
            status: The HTTP or SMTP status, if the provider answered.
            reason: The short cause recorded on the case (``webhook HTTP 400``); the message
                when omitted.
            address_unusable: The recipient's address is what the provider refused.
        """
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.reason = reason or message
        self.address_unusable = address_unusable


def _failed(action: Action, reason: str, **kw: Any) -> DeliveryFailed:
    return DeliveryFailed(f"action {action.action_id}: {reason}", reason=reason, **kw)


#: HTTP answers that blame our request or our credentials, not the recipient's address.
_ENDPOINT_STATUSES = frozenset({401, 403, 404, 405, 407, 413, 415})
#: One @, no whitespace or control character (a CR/LF would inject headers): the least an
#: address must be before it goes into a message header and an SMTP envelope.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}")


@runtime_checkable
class ChannelAdapter(Protocol):
    """Sends one action through one channel, idempotently on ``action.action_id``."""

    async def send(self, action: Action) -> SendResult:
        """Send `action` unless its action id already left.

        Args:
            action: The contact to send.

        Returns:
            ``delivered`` or ``duplicate``, with the provider id.
        """
        ...


def _duplicate(ledger: Outbox, action: Action, via: str) -> SendResult | None:
    row = ledger.get(action.action_id)
    if row is None:
        return None
    return SendResult(action.action_id, "duplicate", row.via or via, row.provider_id)


class OutboxChannel:
    """The embedded default: a contact leaves by being recorded in the outbox, exactly once."""

    def __init__(self, outbox: Outbox) -> None:
        """Use `outbox` as the destination.

        Args:
            outbox: The ledger to write to.
        """
        self.outbox = outbox

    async def send(self, action: Action) -> SendResult:
        """Record `action` in the outbox.

        Args:
            action: The contact.

        Returns:
            ``delivered`` if recorded now, ``duplicate`` if its action id was already there.
        """
        provider_id = f"outbox:{action.action_id}"
        new = await asyncio.to_thread(
            self.outbox.record, action, via="outbox", provider_id=provider_id
        )
        return SendResult(
            action.action_id, "delivered" if new else "duplicate", "outbox", provider_id
        )


_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9_+/.-]")
_MSGID_BAD_DOT = re.compile(r"^\.|\.$|\.(?=\.)")


def _hex_escape(match: re.Match[str]) -> str:
    return "".join(f"={b:02X}" for b in match.group().encode("utf-8"))


def message_id_for(action_id: str, domain: str = "overdue.local") -> str:
    """The deterministic ``Message-ID`` of an action's e-mail.

    Characters other than letters, digits and ``_ + / . -`` are written ``=XX`` (their UTF-8
    bytes in hex), as are dots that would start, end or double up, so the id is always a valid
    RFC 5322 ``msg-id`` and a usual action id (``C-1/1.reminder/day_3.email``) appears as is.

    Args:
        action_id: The action id.
        domain: The right-hand side.

    Returns:
        ``<encoded-action-id@domain>``.
    """
    encoded = _MSGID_BAD_DOT.sub(_hex_escape, _MSGID_UNSAFE.sub(_hex_escape, action_id))
    return f"<{encoded}@{domain}>"


class SmtpChannel:
    """E-mail over SMTP, deduplicated through the ledger and by a Message-ID from the action id."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        ledger: Outbox,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        """Configure the SMTP server.

        Args:
            host: SMTP host.
            port: SMTP port.
            sender: The ``From`` address.
            ledger: Outbox used to skip actions already sent and to record those sent.
            username: Login user, if the server needs one.
            password: Login password.
            starttls: Upgrade the connection with STARTTLS before sending.
            timeout: Socket timeout in seconds.
        """
        self.host = host
        self.port = port
        self.sender = sender
        self.ledger = ledger
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.domain = sender.rpartition("@")[2] or "overdue.local"

    def build_message(self, action: Action) -> EmailMessage:
        """The e-mail for `action`.

        Args:
            action: The contact; ``to`` is the address, ``message`` the body, the subject comes
                from ``detail["subject"]`` or the template name.

        Returns:
            The message, ready to send.
        """
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = action.to or ""
        msg["Subject"] = action.detail.get("subject") or action.template or "Message"
        msg["Message-ID"] = message_id_for(action.action_id, self.domain)
        msg["Date"] = formatdate(action.at.timestamp(), localtime=False, usegmt=True)
        msg["X-Overdue-Action-Id"] = action.action_id
        msg["X-Overdue-Case-Id"] = action.case_id
        msg.set_content(action.message or "")
        return msg

    def _send_blocking(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)

    async def send(self, action: Action) -> SendResult:
        """Send `action` by e-mail unless the ledger already holds its action id.

        Args:
            action: The contact.

        Returns:
            ``delivered`` with the Message-ID, or ``duplicate``.

        Raises:
            DeliveryFailed: A missing or invalid address, an SMTP 5xx (not retryable); a 4xx or
                an unreachable server (retryable).
        """
        seen = await asyncio.to_thread(_duplicate, self.ledger, action, "smtp")
        if seen is not None:
            return seen
        if not action.to:
            raise _failed(action, "no e-mail address", retryable=False, address_unusable=True)
        if not _EMAIL.fullmatch(action.to):
            raise _failed(action, "invalid e-mail address", retryable=False, address_unusable=True)
        try:
            msg = self.build_message(action)
        except (ValueError, TypeError):
            raise _failed(action, "the e-mail could not be built", retryable=False) from None
        try:
            await asyncio.to_thread(self._send_blocking, msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # the exception holds the address: only its codes leave this block
            codes = sorted({code for code, _ in exc.recipients.values()})
            code = codes[-1] if codes else 0
            raise _failed(
                action,
                f"smtp {code} recipient refused",
                retryable=code < 500,
                status=code,
                address_unusable=code >= 500,
            ) from None
        except (smtplib.SMTPNotSupportedError, UnicodeError):
            # a non-ASCII address and a server without SMTPUTF8: this address cannot go this way
            raise _failed(
                action,
                "address not supported by the smtp server",
                retryable=False,
                address_unusable=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise _failed(
                action,
                f"smtp {code} {type(exc).__name__}",
                retryable=not 500 <= code < 600,
                status=code,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _failed(action, f"smtp server unreachable ({type(exc).__name__})") from None
        provider_id = str(msg["Message-ID"])
        await asyncio.to_thread(self.ledger.record, action, via="smtp", provider_id=provider_id)
        return SendResult(action.action_id, "delivered", "smtp", provider_id)


class WebhookChannel:
    """SMS / voice through an HTTP POST carrying ``Idempotency-Key: <action_id>``."""

    def __init__(
        self,
        url: str,
        ledger: Outbox,
        timeout: float = 10.0,
        *,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Configure the endpoint.

        Args:
            url: The URL receiving the JSON POST.
            ledger: Outbox used to skip actions already sent and to record those sent.
            timeout: Seconds per request.
            token: Bearer token for the ``Authorization`` header, if any.
            transport: An httpx transport (tests, proxies); the default one otherwise.
        """
        self.url = url
        self.ledger = ledger
        self.timeout = timeout
        self.token = token
        self.transport = transport

    @staticmethod
    def payload(action: Action) -> dict[str, str | None]:
        """The JSON body posted for `action`.

        Args:
            action: The contact.

        Returns:
            ``action_id``, ``case_id``, ``channel``, ``to``, ``message``, ``template``, ``locale``.
        """
        return {
            "action_id": action.action_id,
            "case_id": action.case_id,
            "channel": action.channel,
            "to": action.to,
            "message": action.message,
            "template": action.template,
            "locale": action.locale,
        }

    async def send(self, action: Action) -> SendResult:
        """POST `action` unless the ledger already holds its action id.

        Args:
            action: The contact.

        Returns:
            ``delivered`` with the provider's id (``id`` of a JSON reply, else the action id),
            or ``duplicate``.

        Raises:
            DeliveryFailed: A non-2xx reply (retryable for 5xx, 408 and 429; a 4xx that is not
                about our request marks the address unusable), no recipient, or the request
                itself failed (timeouts, refused connections: retryable).
        """
        seen = await asyncio.to_thread(_duplicate, self.ledger, action, "webhook")
        if seen is not None:
            return seen
        if not action.to:
            raise _failed(action, "no recipient", retryable=False, address_unusable=True)
        headers = {"Idempotency-Key": action.action_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(self.url, json=self.payload(action), headers=headers)
        except httpx.HTTPError as exc:
            raise _failed(action, f"webhook unreachable ({type(exc).__name__})") from None
        if not response.is_success:
            status = response.status_code
            transient = status >= 500 or status in (408, 429)
            raise _failed(
                action,
                f"webhook HTTP {status}",
                retryable=transient,
                status=status,
                address_unusable=not transient and status not in _ENDPOINT_STATUSES,
            )
        provider_id = action.action_id
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("id") is not None:
            provider_id = str(body["id"])
        await asyncio.to_thread(self.ledger.record, action, via="webhook", provider_id=provider_id)
        return SendResult(action.action_id, "delivered", "webhook", provider_id)


class ChannelRouter:
    """Chooses the adapter for each channel name; the default (the outbox) takes the rest."""

    def __init__(
        self, default: ChannelAdapter, routes: Mapping[str, ChannelAdapter] | None = None
    ) -> None:
        """Build a router.

        Args:
            default: The adapter for every channel without a route (and for non-contacts).
            routes: Channel name (``sms``, ``push``, ``email``, ``call``, ``letter``,
                ``field_visit``) to adapter.

        Raises:
            ValueError: A route names an unknown channel.
        """
        unknown = set(routes or {}) - set(CONTACT_CHANNELS)
        if unknown:
            raise ValueError(f"unknown channel(s): {', '.join(sorted(unknown))}")
        self.default = default
        self.routes: dict[str, ChannelAdapter] = dict(routes or {})

    def adapter_for(self, channel: str | None) -> ChannelAdapter:
        """The adapter serving `channel`.

        Args:
            channel: A channel name, or None for actions without a channel.

        Returns:
            The routed adapter, or the default.
        """
        if channel is None:
            return self.default
        return self.routes.get(channel, self.default)

    async def send(self, action: Action) -> SendResult:
        """Send `action` through the adapter of its channel.

        Args:
            action: The contact.

        Returns:
            The adapter's result.
        """
        return await self.adapter_for(action.channel).send(action)


def router_from_settings(outbox: Outbox, settings: Settings) -> ChannelRouter:
    """Build the router from the ``smtp_*`` and ``webhook_*`` settings.

    With neither host nor URL set every channel goes to the outbox.

    Args:
        outbox: The outbox: default adapter for every channel and ledger of the others.
        settings: The settings.

    Returns:
        The router.
    """
    routes: dict[str, ChannelAdapter] = {}
    if settings.smtp_host.strip():
        routes["email"] = SmtpChannel(
            settings.smtp_host.strip(),
            settings.smtp_port,
            settings.smtp_sender,
            outbox,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    if settings.webhook_url.strip():
        webhook = WebhookChannel(
            settings.webhook_url.strip(),
            outbox,
            settings.webhook_timeout,
            token=settings.webhook_token.get_secret_value() if settings.webhook_token else None,
        )
        for channel in settings.webhook_channels:
            routes[channel] = webhook
    return ChannelRouter(OutboxChannel(outbox), routes)
