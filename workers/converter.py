"""The one place the Temporal data converter is built: pydantic JSON + AES-GCM encryption.

Every payload (workflow and activity arguments and results, signals, queries, memos) is
serialised by temporalio's pydantic converter, then encrypted by `EncryptionCodec`, so the
personal data of a case (names, phone numbers, addresses, messages) never sits in clear in
Temporal's histories. Failure messages and stack traces are moved into encoded attributes and
encrypted too. Search attributes are not payloads of the codec and stay readable (they carry
no personal data). Two kinds of payload stay readable on purpose, so the Web UI shows a case
without the codec: texts our code wraps in `workflows.cleartext.ClearText` (activity and start
summaries; flagged by the payload converter) and the SDK's answer to the UI's built-in
``__temporal_workflow_metadata`` query (a `WorkflowMetadata` message: query and update names and
the details the workflow sets, none of it personal data). Nothing else passes in clear.

The key (32 bytes) comes from ``OVERDUE_CODEC_KEY`` (base64) or from the key file
``<data_dir>/codec.key``, which only `overdue dev` creates (`workers.config.codec_keys` decides
which). Every client and worker of one Temporal namespace must use the same key; workers publish
the ids of the keys they hold (`EncryptionCodec.key_ids`) so a client with another key is refused
before it starts anything. ``OVERDUE_CODEC_OLD_KEYS`` lists retired keys still accepted for
decoding after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from workers.private_files import private_dir
from workflows.cleartext import CLEAR_METADATA, ClearTextPayloadConverter

__all__ = [
    "ENCODING",
    "KEY_ENV",
    "KEY_FILE_NAME",
    "KEY_ID_METADATA",
    "OLD_KEYS_ENV",
    "CodecError",
    "EncryptionCodec",
    "data_converter",
    "decode_key",
    "key_id",
    "load_or_create_key",
    "read_key_file",
    "stays_clear",
]

#: The ``encoding`` metadata of an encrypted payload.
ENCODING = b"binary/encrypted"
#: Metadata naming the key an encrypted payload was sealed with.
KEY_ID_METADATA = "encryption-key-id"
KEY_ENV = "OVERDUE_CODEC_KEY"
OLD_KEYS_ENV = "OVERDUE_CODEC_OLD_KEYS"
KEY_FILE_NAME = "codec.key"
_NONCE_BYTES = 12
_KEY_BYTES = 32
#: The one protobuf message left in clear: the SDK's answer to the Web UI's metadata query.
_WORKFLOW_METADATA = b"temporal.api.sdk.v1.WorkflowMetadata"
_PROTO_ENCODINGS = (b"json/protobuf", b"binary/protobuf")


def stays_clear(payload: Payload) -> bool:
    """Whether the codec leaves `payload` as it is: flagged by `ClearTextPayloadConverter`, or
    the `WorkflowMetadata` the SDK answers the Web UI's ``__temporal_workflow_metadata`` with."""
    meta = payload.metadata
    if meta.get(CLEAR_METADATA) == b"1":
        return meta.get("encoding") == b"json/plain"
    return (
        meta.get("encoding") in _PROTO_ENCODINGS and meta.get("messageType") == _WORKFLOW_METADATA
    )


class CodecError(ValueError):
    """A bad key, or a payload that cannot be decrypted with the keys at hand."""


def key_id(key: bytes) -> str:
    """A short public name of a key (first 8 bytes of its SHA-256, hex).

    Args:
        key: The AES key.

    Returns:
        16 hex characters.
    """
    return hashlib.sha256(key).hexdigest()[:16]


def decode_key(text: str, origin: str) -> bytes:
    """A key from its base64 text.

    Args:
        text: Base64 of 32 bytes.
        origin: Where the text came from, for the error message.

    Raises:
        CodecError: Not base64, or not 32 bytes.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecError(f"{origin}: not valid base64") from exc
    if len(key) != _KEY_BYTES:
        raise CodecError(f"{origin}: the key must be {_KEY_BYTES} bytes, got {len(key)}")
    return key


def load_or_create_key(data_dir: str | os.PathLike[str]) -> bytes:
    """Read ``<data_dir>/codec.key``, creating it (random, mode 0600) the first time.

    Creation is atomic: several processes racing all end up with the same key.

    Args:
        data_dir: The project's data folder (created if missing).

    Returns:
        The 32-byte key.

    Raises:
        CodecError: The file exists but does not hold a valid key.
    """
    folder = private_dir(data_dir)
    path = folder / KEY_FILE_NAME
    if not path.exists():
        tmp = folder / f".{KEY_FILE_NAME}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(base64.b64encode(os.urandom(_KEY_BYTES)).decode("ascii") + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic; loses quietly to a concurrent creator
        finally:
            tmp.unlink(missing_ok=True)
    return read_key_file(path)


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """The key in a key file (never creates one).

    Raises:
        CodecError: The file does not hold a valid key.
        OSError: The file cannot be read.
    """
    try:
        text = Path(path).read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise CodecError(f"{path}: not valid base64") from None
    return decode_key(text, str(path))


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with AES-256-GCM but those that `stays_clear`; decodes only what
    it encrypted.

    An encrypted payload has metadata ``encoding=binary/encrypted`` and
    ``encryption-key-id=<key_id>``; its data is a 12-byte random nonce followed by the sealed
    serialised original payload (metadata included). Payloads without that encoding pass
    through `decode` unchanged.
    """

    def __init__(self, key: bytes, *, old_keys: Iterable[bytes] = ()) -> None:
        """Build the codec.

        Args:
            key: The 32-byte key used to encrypt (and decrypt).
            old_keys: Retired keys still accepted for decrypting.

        Raises:
            CodecError: A key is not 32 bytes.
        """
        keys = [key, *old_keys]
        for k in keys:
            if len(k) != _KEY_BYTES:
                raise CodecError(f"the key must be {_KEY_BYTES} bytes, got {len(k)}")
        self.key_id = key_id(key)
        #: The key, then the retired ones: what else at rest is sealed with (the outbox).
        self.keys: tuple[bytes, ...] = tuple(keys)
        self._encryptor = AESGCM(key)
        self._decryptors = {key_id(k): AESGCM(k) for k in reversed(keys)}

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key this codec decrypts with, the current one first."""
        return (self.key_id, *(k for k in reversed(self._decryptors) if k != self.key_id))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload.

        Args:
            payloads: The payloads (not mutated).

        Returns:
            One encrypted payload per input.
        """
        encoded: list[Payload] = []
        aad = self.key_id.encode("ascii")
        for payload in payloads:
            if stays_clear(payload):
                encoded.append(payload)
                continue
            nonce = os.urandom(_NONCE_BYTES)
            sealed = self._encryptor.encrypt(nonce, payload.SerializeToString(), aad)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: aad},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt the payloads this codec (or an old key) encrypted; pass others through.

        Args:
            payloads: The payloads (not mutated).

        Returns:
            The original payloads.

        Raises:
            CodecError: Encrypted with an unknown key, or tampered with.
        """
        decoded: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            kid = payload.metadata.get(KEY_ID_METADATA, b"")
            aead = self._decryptors.get(kid.decode("ascii", "replace"))
            if aead is None:
                raise CodecError(
                    f"payload encrypted with unknown key id {kid.decode('ascii', 'replace')!r}; "
                    f"set {KEY_ENV} (or {OLD_KEYS_ENV}) to the key used"
                )
            data = payload.data
            try:
                plain = aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], kid)
            except InvalidTag as exc:
                raise CodecError("encrypted payload failed authentication") from exc
            original = Payload()
            original.ParseFromString(plain)
            decoded.append(original)
        return decoded


def data_converter(key: bytes, *, old_keys: Iterable[bytes] = ()) -> DataConverter:
    """The project's data converter: pydantic JSON, failures encoded, payloads encrypted (but
    `ClearText` and the Web UI's workflow metadata, see `stays_clear`).

    The same converter decodes what comes back, failures included: a rejection raised in the
    worker reaches the client with its own message, not "Encoded failure".

    Args:
        key: The 32-byte key (see `workers.config.codec_keys`).
        old_keys: Retired keys still accepted for decrypting.

    Returns:
        The converter to pass to ``Client.connect`` (workers inherit it from the client).
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=ClearTextPayloadConverter,
        payload_codec=EncryptionCodec(key, old_keys=old_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
