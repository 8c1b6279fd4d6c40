"""Text the Temporal Web UI may show without the codec: `ClearText`.

Every payload is encrypted by `workers.converter.EncryptionCodec`, so without the codec the UI
shows nothing of a case. A few texts are ours alone and hold no personal data: an activity's
summary (``contact sms reminder.day_3.sms``), a case's start summary (case id, policy). Wrapping
such a text in `ClearText` makes `ClearTextPayloadConverter` flag its payload
(`CLEAR_METADATA`), and the codec leaves flagged payloads as they are.

The flag only ever says "this was sent in clear on purpose". A payload a client flags is its
own data, sent in clear by its own choice; decoding it gives a plain value, and anything the
workflow makes of it is encoded (and encrypted) afresh: nothing stays clear unless our code
wraps it in `ClearText` again. So never wrap anything that may hold a debtor's name, phone,
e-mail, address or words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter

__all__ = ["CLEAR_METADATA", "ClearText", "ClearTextPayloadConverter"]

#: Metadata flagging a payload the codec must leave in clear (value ``b"1"``).
CLEAR_METADATA = "overdue-clear"


class ClearText(str):
    """A text known to hold no personal data: sent in clear (``json/plain``), never encrypted."""

    __slots__ = ()


class ClearTextPayloadConverter(PydanticPayloadConverter):
    """The pydantic JSON converter, flagging the payload of every `ClearText` value."""

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Convert as the pydantic converter does; flag the payloads of `ClearText` values."""
        payloads = super().to_payloads(values)
        for value, payload in zip(values, payloads, strict=True):
            if isinstance(value, ClearText):
                payload.metadata[CLEAR_METADATA] = b"1"
        return payloads
