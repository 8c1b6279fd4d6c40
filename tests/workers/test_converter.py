"""The data converter: pydantic values round-trip, and every payload is encrypted at rest."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.exceptions import ApplicationError

from engine.case.actions import Action
from tests.workers.conftest import make_action
from workers.converter import (
    ENCODING,
    KEY_ENV,
    CodecError,
    EncryptionCodec,
    data_converter,
    decode_key,
    key_id,
    load_or_create_key,
    read_key_file,
)
from workflows.cleartext import CLEAR_METADATA, ClearText

KEY = bytes(range(32))
NAME = "Zhang Wei"
PHONE = "+8613812345678"


class TestRoundTrip:
    """An Action carrying a name and a phone survives encode/decode, and is unreadable encoded."""

    async def test_action_round_trips_encrypted(self) -> None:
        converter = data_converter(KEY, old_keys=())
        action = make_action()
        payloads = await converter.encode([action, {"debtor": NAME}])
        assert len(payloads) == 2
        for payload in payloads:
            raw = payload.SerializeToString()
            assert NAME.encode() not in raw
            assert PHONE.encode() not in raw
            assert payload.metadata["encoding"] == ENCODING
            assert payload.metadata["encryption-key-id"] == key_id(KEY).encode()
        decoded = await converter.decode(payloads, [Action, dict])
        assert decoded == [action, {"debtor": NAME}]
        assert isinstance(decoded[0], Action)

    async def test_same_value_encrypts_differently(self) -> None:
        converter = data_converter(KEY, old_keys=())
        first, second = await converter.encode([NAME]), await converter.encode([NAME])
        assert first[0].data != second[0].data

    async def test_failure_message_is_encrypted(self) -> None:
        converter = data_converter(KEY, old_keys=())
        failure = Failure()
        await converter.encode_failure(ApplicationError(f"cannot reach {NAME}"), failure)
        assert NAME.encode() not in failure.SerializeToString()
        back = await converter.decode_failure(failure)
        assert NAME in str(back)


class TestCodec:
    """Foreign payloads pass through; wrong keys and tampering are refused; old keys still decode."""

    async def test_plain_payload_passes_through(self) -> None:
        plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
        assert await EncryptionCodec(KEY).decode([plain]) == [plain]

    async def test_unknown_key_refused(self) -> None:
        sealed = await EncryptionCodec(KEY).encode([Payload(data=b"x")])
        with pytest.raises(CodecError, match="unknown key id"):
            await EncryptionCodec(os.urandom(32)).decode(sealed)

    async def test_tampering_refused(self) -> None:
        sealed = (await EncryptionCodec(KEY).encode([Payload(data=b"secret")]))[0]
        sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
        with pytest.raises(CodecError, match="authentication"):
            await EncryptionCodec(KEY).decode([sealed])

    async def test_rotation_keeps_old_payloads_readable(self) -> None:
        original = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
        sealed = await EncryptionCodec(KEY).encode([original])
        new_key = os.urandom(32)
        rotated = EncryptionCodec(new_key, old_keys=[KEY])
        assert await rotated.decode(sealed) == [original]
        assert (await rotated.encode([original]))[0].metadata["encryption-key-id"] == key_id(
            new_key
        ).encode()

    def test_bad_key_length(self) -> None:
        with pytest.raises(CodecError, match="32 bytes"):
            EncryptionCodec(b"short")


class TestKeys:
    """The key comes from OVERDUE_CODEC_KEY, or from a key file created once, private."""

    def test_key_file_created_once(self, tmp_path: Path) -> None:
        first = load_or_create_key(tmp_path / "data")
        again = load_or_create_key(tmp_path / "data")
        assert first == again and len(first) == 32
        path = tmp_path / "data" / "codec.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["codec.key"]

    def test_key_file_read_never_created(self, tmp_path: Path) -> None:
        """Reading a key file never creates one: only `overdue dev` does, on its own folder."""
        with pytest.raises(FileNotFoundError):
            read_key_file(tmp_path / "codec.key")
        assert not (tmp_path / "codec.key").exists()
        key = load_or_create_key(tmp_path)
        assert read_key_file(tmp_path / "codec.key") == key

    def test_bad_keys(self, tmp_path: Path) -> None:
        """A short key or text that is not base64 is refused, naming where it came from."""
        with pytest.raises(CodecError, match=KEY_ENV):
            decode_key(base64.b64encode(b"too short").decode(), KEY_ENV)
        with pytest.raises(CodecError, match="base64"):
            decode_key("not base64!!", KEY_ENV)
        (tmp_path / "codec.key").write_bytes(b"\xff\xfe garbage")
        with pytest.raises(CodecError, match=r"codec\.key: not valid base64"):
            read_key_file(tmp_path / "codec.key")

    async def test_key_ids_name_every_key_the_codec_decrypts(self) -> None:
        """Workers publish these; the current key comes first."""
        old = bytes(range(1, 33))
        codec = EncryptionCodec(KEY, old_keys=[old])
        assert codec.key_ids == (key_id(KEY), key_id(old))
        assert EncryptionCodec(KEY).key_ids == (key_id(KEY),)


class TestClearText:
    """Only `ClearText` and the Web UI's workflow metadata pass the codec in clear."""

    async def test_clear_text_is_plain_json_and_decodes_as_text(self) -> None:
        converter = data_converter(KEY, old_keys=())
        (clear, secret) = await converter.encode(
            [ClearText("contact sms reminder.day_3.sms"), NAME]
        )
        assert clear.metadata["encoding"] == b"json/plain"
        assert clear.metadata[CLEAR_METADATA] == b"1"
        assert clear.data == b'"contact sms reminder.day_3.sms"'
        assert secret.metadata["encoding"] == ENCODING and NAME.encode() not in secret.data
        assert await converter.decode([clear, secret], [str, str]) == [
            "contact sms reminder.day_3.sms",
            NAME,
        ]

    async def test_the_flag_is_not_sticky(self) -> None:
        """A value decoded from a clear payload is a plain str: encoded again, it is sealed."""
        converter = data_converter(KEY, old_keys=())
        (clear,) = await converter.encode([ClearText("reminder")])
        (value,) = await converter.decode([clear], [str])
        (again,) = await converter.encode([value])
        assert again.metadata["encoding"] == ENCODING

    async def test_a_flag_on_anything_but_json_is_ignored(self) -> None:
        codec = EncryptionCodec(KEY)
        odd = Payload(
            metadata={"encoding": b"binary/plain", CLEAR_METADATA: b"1"}, data=NAME.encode()
        )
        (sealed,) = await codec.encode([odd])
        assert sealed.metadata["encoding"] == ENCODING and NAME.encode() not in sealed.data

    async def test_only_workflow_metadata_of_all_protobufs_passes(self) -> None:
        converter = data_converter(KEY, old_keys=())
        meta = WorkflowMetadata(current_details="**reminder** · balance 10.00 CNY")
        (clear, other) = await converter.encode([meta, Failure(message=NAME)])
        assert clear.metadata["messageType"] == b"temporal.api.sdk.v1.WorkflowMetadata"
        assert b"balance 10.00 CNY" in clear.data
        assert other.metadata["encoding"] == ENCODING and NAME.encode() not in other.data
        assert await converter.decode([clear], [WorkflowMetadata]) == [meta]
