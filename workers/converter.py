"""The one place the Temporal data converter is built: pydantic JSON + AES-GCM encryption.

Every payload (workflow and activity arguments and results, signals, queries, memos) is
serialised by temporalio's pydantic converter, then encrypted by `EncryptionCodec`, so the
personal data of a case (names, phone numbers, addresses, messages) never sits in clear in
Temporal's histories. Failure messages and stack traces are moved into encoded attributes and
encrypted too. Search attributes are not payloads of the codec and stay readable (they carry
no personal data).

The key (32 bytes) comes from ``OVERDUE_CODEC_KEY`` (base64) or, when unset, from the key file
``<data_dir>/codec.key``, created once with ``os.urandom``. Every client and worker of one
Temporal namespace must use the same key; ``OVERDUE_CODEC_OLD_KEYS`` (comma-separated base64)
lists retired keys still accepted for decoding after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
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

__all__ = [
    "DATA_DIR_ENV",
    "ENCODING",
    "KEY_ENV",
    "KEY_FILE_NAME",
    "KEY_ID_METADATA",
    "OLD_KEYS_ENV",
    "CodecError",
    "EncryptionCodec",
    "data_converter",
    "default_data_dir",
    "key_id",
    "load_or_create_key",
    "resolve_key",
]

#: The ``encoding`` metadata of an encrypted payload.
ENCODING = b"binary/encrypted"
#: Metadata naming the key an encrypted payload was sealed with.
KEY_ID_METADATA = "encryption-key-id"
KEY_ENV = "OVERDUE_CODEC_KEY"
OLD_KEYS_ENV = "OVERDUE_CODEC_OLD_KEYS"
DATA_DIR_ENV = "OVERDUE_DATA_DIR"
KEY_FILE_NAME = "codec.key"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class CodecError(ValueError):
    """A bad key, or a payload that cannot be decrypted with the keys at hand."""


def default_data_dir() -> Path:
    """The project's data folder: ``OVERDUE_DATA_DIR`` or ``.overdue`` (as ``overdue dev``).

    Returns:
        The folder (not created).
    """
    return Path(os.environ.get(DATA_DIR_ENV) or ".overdue")


def key_id(key: bytes) -> str:
    """A short public name of a key (first 8 bytes of its SHA-256, hex).

    Args:
        key: The AES key.

    Returns:
        16 hex characters.
    """
    return hashlib.sha256(key).hexdigest()[:16]


def _decode_key(text: str, origin: str) -> bytes:
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
    return _decode_key(path.read_text(encoding="ascii"), str(path))


def resolve_key(
    data_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """The codec key: ``OVERDUE_CODEC_KEY`` if set, else the key file of `data_dir`.

    Args:
        data_dir: The data folder holding ``codec.key``; `default_data_dir` if omitted.
        env: The environment; ``os.environ`` if omitted.

    Returns:
        The 32-byte key.

    Raises:
        CodecError: The variable or the file holds an invalid key.
    """
    env = os.environ if env is None else env
    text = env.get(KEY_ENV, "").strip()
    if text:
        return _decode_key(text, KEY_ENV)
    return load_or_create_key(default_data_dir() if data_dir is None else data_dir)


def _old_keys(env: Mapping[str, str]) -> list[bytes]:
    return [_decode_key(part, OLD_KEYS_ENV) for part in env.get(OLD_KEYS_ENV, "").split(",") if part.strip()]


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with AES-256-GCM; decodes only what it encrypted.

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


def data_converter(
    key: bytes | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    old_keys: Iterable[bytes] | None = None,
) -> DataConverter:
    """The project's data converter: pydantic JSON, failures encoded, payloads encrypted.

    Args:
        key: The 32-byte key; `resolve_key` (``OVERDUE_CODEC_KEY`` or ``<data_dir>/codec.key``)
            when omitted.
        data_dir: Where the key file lives when no key is given; `default_data_dir` if omitted.
        old_keys: Retired keys still accepted for decrypting; ``OVERDUE_CODEC_OLD_KEYS`` if
            omitted.

    Returns:
        The converter to pass to ``Client.connect`` (workers inherit it from the client).
    """
    if key is None:
        key = resolve_key(data_dir)
    if old_keys is None:
        old_keys = _old_keys(os.environ)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(key, old_keys=old_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
