"""Client configuration: Temporal's standard environment/profile settings, embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.client import DEFAULT_ADDRESS, connect, connect_config
from workers.converter import EncryptionCodec
from workers.devserver import DevServer, free_port

_VARS = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "TEMPORAL_TLS")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Temporal variables, and a profile file that does not exist."""
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("OVERDUE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OVERDUE_CODEC_KEY", raising=False)
    return monkeypatch


class TestConnectConfig:
    """Nothing set means the embedded server; variables and profiles override; overrides win."""

    def test_default_is_embedded(self, clean_env: pytest.MonkeyPatch) -> None:
        assert connect_config() == {"target_host": DEFAULT_ADDRESS, "namespace": "default"}

    def test_environment(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("TEMPORAL_ADDRESS", "temporal.bank.internal:7233")
        clean_env.setenv("TEMPORAL_NAMESPACE", "collections")
        clean_env.setenv("TEMPORAL_API_KEY", "k")
        config = connect_config()
        assert config["target_host"] == "temporal.bank.internal:7233"
        assert config["namespace"] == "collections"
        assert (config["api_key"], config["tls"]) == ("k", True)
        assert connect_config(namespace="other")["namespace"] == "other"

    def test_profile_file(self, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        profile = tmp_path / "temporal.toml"
        profile.write_text('[profile.prod]\naddress = "prod:7233"\nnamespace = "debt"\n')
        clean_env.setenv("TEMPORAL_CONFIG_FILE", str(profile))
        assert connect_config(profile="prod") == {"target_host": "prod:7233", "namespace": "debt"}
        clean_env.setenv("TEMPORAL_PROFILE", "prod")
        clean_env.setenv("TEMPORAL_NAMESPACE", "from-env")
        assert connect_config() == {"target_host": "prod:7233", "namespace": "from-env"}


class TestConnect:
    """`connect` reaches a real server with the encrypting converter by default."""

    async def test_connects_with_codec(self, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        async with DevServer(tmp_path / "srv", port=free_port(), ui_port=free_port(), headless=True) as srv:
            clean_env.setenv("TEMPORAL_ADDRESS", srv.address)
            client = await connect()
            assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
            assert (tmp_path / "data" / "codec.key").exists()
            assert client.namespace == "default"
            assert (await client.count_workflows()).count == 0
