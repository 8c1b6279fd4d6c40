"""The wheel: every package in it, the shipped policies with it, usable outside any checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed() -> None:
    """pyproject lists its packages by hand (for the `policies/` mapping): none may be forgotten.
    The console's data folders are listed as (data-only) packages, as setuptools asks."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    listed = set(config["packages"])
    tops = {name.split(".")[0] for name in listed} - {"overdue"} | {"overdue"}
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in tops
        for p in (ROOT / top).rglob("__init__.py")
    }
    data_only = {"overdue.policies", "console.static", "console.templates"}
    assert found | data_only == listed
    assert config["package-dir"] == {"overdue.policies": "policies"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the checkout, installed without the checkout in a fresh venv.

    The dependencies come from this test's own environment (a `.pth` line), never downloaded;
    the checkout is not on the path (the editable install's finder is not loaded there).
    """
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # setuptools builds in the source tree: keep the checkout clean
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "build",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
            ".hypothesis",
            ".overdue",
            "bench-*",
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(tmp)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp.glob("overdue-*.whl")
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    site = Path(
        subprocess.run(
            [
                venv / "bin" / "python",
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "project-deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "overdue"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_installed_wheel_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    """`overdue --version` and `overdue policy explain consumer-credit-line` from a bare folder."""
    where = subprocess.run(
        [
            installed / "bin" / "python",
            "-c",
            "import engine, overdue.policies as p; print(engine.__file__); print(p.__file__)",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(str(installed) in w for w in where), where  # not the checkout's
    version = _run(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "overdue 0.1.0"
    pages = subprocess.run(
        [
            installed / "bin" / "python",
            "-c",
            "import console, pathlib; d = pathlib.Path(console.__file__).parent; "
            "print((d / 'templates' / 'case.html').is_file(), any((d / 'static').iterdir()))",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert pages == ["True", "True"]  # the console's templates and static files travel too
    explained = _run(installed, tmp_path, "policy", "explain", "consumer-credit-line")
    assert explained.returncode == 0, explained.stderr
    assert "consumer-credit-line" in explained.stdout and "reminder" in explained.stdout
