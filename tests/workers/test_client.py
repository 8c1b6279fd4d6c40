"""Client configuration: Temporal's standard environment/profile settings, embedded default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workers.client import (
    DEFAULT_ADDRESS,
    check_worker_keys,
    connect,
    connect_config,
    worker_identity,
)
from workers.converter import EncryptionCodec, data_converter, key_id
from workers.devserver import DevServer, free_port
from workers.settings import ConfigError, Settings
from workflows.client import query_failure_message

_VARS = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_TLS",
)


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

    def test_running_dev_server_when_nothing_configured(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        """The address `overdue dev` recorded is the fallback; Temporal's variables win over it."""
        assert connect_config(fallback_address="127.0.0.1:9999")["target_host"] == "127.0.0.1:9999"
        clean_env.setenv("TEMPORAL_ADDRESS", "temporal.bank.internal:7233")
        assert (
            connect_config(fallback_address="127.0.0.1:9999")["target_host"]
            == "temporal.bank.internal:7233"
        )

    def test_unknown_profile_is_one_line(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("TEMPORAL_PROFILE", "nope")
        with pytest.raises(ConfigError, match="Profile 'nope' not found") as e:
            connect_config()
        assert "\n" not in str(e.value)

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
        assert connect_config(Settings(temporal_profile="prod")) == {
            "target_host": "prod:7233",
            "namespace": "debt",
        }
        clean_env.setenv("TEMPORAL_PROFILE", "prod")
        clean_env.setenv("TEMPORAL_NAMESPACE", "from-env")
        assert connect_config() == {"target_host": "prod:7233", "namespace": "from-env"}


class TestConnect:
    """`connect` reaches a real server with the converter it is given, or says in one line why not."""

    async def test_connects_with_codec(self, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        async with DevServer(
            tmp_path / "srv", port=free_port(), ui_port=free_port(), headless=True
        ) as srv:
            clean_env.setenv("TEMPORAL_ADDRESS", srv.address)
            client = await connect(data_converter(KEY))
            assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
            assert client.namespace == "default"
            assert (await client.count_workflows()).count == 0

    async def test_unreachable_server_is_one_line(self, clean_env: pytest.MonkeyPatch) -> None:
        address = f"127.0.0.1:{free_port()}"
        clean_env.setenv("TEMPORAL_ADDRESS", address)
        with pytest.raises(
            ConfigError, match=f"cannot reach Temporal at {address} \\(connection refused\\)"
        ):
            await connect(data_converter(KEY))


KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


@workflow.defn
class _Refuses:
    """Answers its query with an error, as a case whose policy cannot be found does."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def status(self) -> str:
        raise ApplicationError("policy 3f2a... is not in this worker's store")


@workflow.defn
class _Noop:
    """A workflow for a worker to poll with; never started."""

    @workflow.run
    async def run(self) -> None:
        return None


class TestWorkerKeys:
    """Workers publish the ids of their keys; a client with another key is refused up front."""

    def test_identity_names_the_keys(self) -> None:
        class _Client:
            data_converter = data_converter(KEY, old_keys=[OTHER])

        identity = worker_identity(_Client(), "overdue-worker 1@host")  # type: ignore[arg-type]
        assert identity == f"overdue-worker 1@host keys={key_id(KEY)},{key_id(OTHER)}"

    async def test_other_key_refused_same_key_accepted(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        async with DevServer(
            tmp_path / "srv", port=free_port(), ui_port=free_port(), headless=True
        ) as srv:
            clean_env.setenv("TEMPORAL_ADDRESS", srv.address)
            ours = await connect(data_converter(KEY))
            theirs = await connect(data_converter(OTHER))
            await check_worker_keys(theirs, "q-keys")  # nobody polls yet: nothing to judge
            worker = Worker(
                ours,
                task_queue="q-keys",
                workflows=[_Noop],
                workflow_runner=UnsandboxedWorkflowRunner(),
                identity=worker_identity(ours, "overdue-worker test"),
            )
            async with worker:
                for _ in range(50):
                    try:
                        await check_worker_keys(theirs, "q-keys")
                    except ConfigError as e:
                        assert key_id(KEY) in str(e) and key_id(OTHER) in str(e)
                        assert "OVERDUE_CODEC_KEY" in str(e)
                        break
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("the worker never showed up as a poller")
                await check_worker_keys(ours, "q-keys")


class TestWorkerErrors:
    """A failed query never reaches the command as "Encoded failure"."""

    async def test_failed_query_is_decoded(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        async with DevServer(
            tmp_path / "srv", port=free_port(), ui_port=free_port(), headless=True
        ) as srv:
            clean_env.setenv("TEMPORAL_ADDRESS", srv.address)
            client = await connect(data_converter(KEY))
            worker = Worker(
                client,
                task_queue="q-refuse",
                workflows=[_Refuses],
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            async with worker:
                handle = await client.start_workflow(
                    _Refuses.run, id="refuses", task_queue="q-refuse"
                )
                with pytest.raises(WorkflowQueryFailedError) as e:
                    await handle.query(_Refuses.status)
                assert e.value.message == "Encoded failure"  # what the server passes on by itself
                # This dev server forwards no failure details; a server that does gets the
                # worker's own words, decoded by the client's converter.
                assert await query_failure_message(client, e.value) in (
                    "policy 3f2a... is not in this worker's store",
                    "the worker could not answer (its reason is encrypted and the server did not pass it on)",
                )
                await handle.terminate()
