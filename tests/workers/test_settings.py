"""The settings model: every variable read once, typed, and a bad one named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import ConfigError, Settings, default_dev_state_file, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OVERDUE_* or TEMPORAL_* variable but those the test sets."""
    import os

    for name in list(os.environ):
        if name.startswith(("OVERDUE_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    return monkeypatch


class TestSettings:
    """Defaults, variables, lists and secrets."""

    def test_defaults(self, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        env.setenv("XDG_STATE_HOME", str(tmp_path))
        s = load_settings()
        assert s.data_dir is None and s.codec_key is None and s.codec_old_keys == ()
        assert s.dev_state == tmp_path / "overdue" / "dev.json" == default_dev_state_file()
        assert (s.smtp_host, s.smtp_port, s.webhook_url, s.webhook_channels) == (
            "",
            25,
            "",
            ("sms", "call"),
        )
        assert s.log_level == "INFO" and s.temporal_address is None
        assert s.database_url is None
        assert s.portfolio_refresh == 60.0

    def test_variables(self, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        for name, value in {
            "OVERDUE_DATA_DIR": str(tmp_path),
            "OVERDUE_CODEC_KEY": "a2V5",
            "OVERDUE_CODEC_OLD_KEYS": "b2xk, b2xkZXI=,",
            "OVERDUE_DATABASE_URL": "postgresql://db/overdue",
            "OVERDUE_LOG_LEVEL": "warning",
            "OVERDUE_SMTP_HOST": "mail",
            "OVERDUE_SMTP_PORT": "2525",
            "OVERDUE_SMTP_STARTTLS": "true",
            "OVERDUE_SMTP_PASSWORD": "pw",
            "OVERDUE_WEBHOOK_CHANNELS": "sms, push",
            "OVERDUE_WEBHOOK_TIMEOUT": "2.5",
            "OVERDUE_PORTFOLIO_REFRESH": "15",
            "TEMPORAL_ADDRESS": "t:7233",
            "TEMPORAL_NAMESPACE": "debt",
            "TEMPORAL_PROFILE": "prod",
        }.items():
            env.setenv(name, value)
        s = load_settings()
        assert s.data_dir == tmp_path
        assert s.codec_key is not None and s.codec_key.get_secret_value() == "a2V5"
        assert [k.get_secret_value() for k in s.codec_old_keys] == ["b2xk", "b2xkZXI="]
        assert s.database_url == "postgresql://db/overdue"
        assert (s.log_level, s.smtp_host, s.smtp_port, s.smtp_starttls) == (
            "WARNING",
            "mail",
            2525,
            True,
        )
        assert s.webhook_channels == ("sms", "push") and s.webhook_timeout == 2.5
        assert s.portfolio_refresh == 15.0
        assert (s.temporal_address, s.temporal_namespace, s.temporal_profile) == (
            "t:7233",
            "debt",
            "prod",
        )
        assert "pw" not in repr(s) and "a2V5" not in repr(s)

    def test_empty_variables_are_unset(self, env: pytest.MonkeyPatch) -> None:
        env.setenv("OVERDUE_DATA_DIR", "")
        env.setenv("OVERDUE_CODEC_KEY", " ")
        env.setenv("TEMPORAL_ADDRESS", "")
        s = load_settings()
        assert (s.data_dir, s.codec_key, s.temporal_address) == (None, None, None)

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("OVERDUE_SMTP_PORT", "twenty-five"),
            ("OVERDUE_SMTP_PORT", "70000"),
            ("OVERDUE_LOG_LEVEL", "chatty"),
            ("OVERDUE_WEBHOOK_TIMEOUT", "-1"),
            ("OVERDUE_SMTP_STARTTLS", "maybe"),
            ("OVERDUE_PORTFOLIO_REFRESH", "soon"),
        ],
    )
    def test_bad_value_named_in_one_line(
        self, env: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        env.setenv(name, value)
        with pytest.raises(ConfigError) as e:
            load_settings()
        assert str(e.value).startswith(f"{name}: ") and "\n" not in str(e.value)
        assert value not in str(e.value) or value == "-1"

    def test_nothing_else_reads_overdue_variables(self) -> None:
        """`workers/settings.py` is the only module that looks at the environment for them."""
        root = Path(__file__).resolve().parents[2]
        readers = []
        for package in ("engine", "workflows", "workers", "overdue", "simulator", "bench"):
            for path in (root / package).rglob("*.py"):
                text = path.read_text(encoding="utf-8")
                if ("os.environ" in text or "getenv" in text) and path.name != "settings.py":
                    readers += [
                        f"{path.relative_to(root)}:{n}"
                        for n, line in enumerate(text.splitlines(), 1)
                        if ("os.environ" in line or "getenv" in line) and "OVERDUE_" in line
                    ]
        assert readers == []
        assert Settings.model_config["env_prefix"] == "OVERDUE_"
