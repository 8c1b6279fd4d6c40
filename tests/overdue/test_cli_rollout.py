"""`overdue policy rollout|rollback` failures a user meets before any server is asked: one line on
stderr, exit 1 (2 for usage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overdue.cli import main
from workers.dataplane import DATABASE_URL_ENV


def test_rollback_to_a_version_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert main(["db", "upgrade", "--data", str(tmp_path)]) == 0
    capsys.readouterr()
    assert (
        main(["policy", "rollback", "consumer-credit-line", "--to", "99", "--data", str(tmp_path)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no version 99 of consumer-credit-line")


def test_html_is_for_the_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "policy",
                "rollout",
                "consumer-credit-line",
                "--html",
                str(tmp_path / "r.html"),
                "--data",
                str(tmp_path),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err == "error: --html is for --dry-run\n"


@pytest.mark.parametrize("percent", ["0", "101", "ten"])
def test_percent_out_of_range_is_a_usage_error(
    percent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "rollout", "consumer-credit-line", "--percent", percent, "--dry-run"])
    assert exit_.value.code == 2
    assert "--percent" in capsys.readouterr().err
