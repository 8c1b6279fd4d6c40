"""The production packages stand on their own: no worker module needs the simulator or the benchmark."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import workers


def test_workers_import_neither_simulator_nor_bench() -> None:
    """Importing every module of `workers` loads no module of `simulator` or `bench`."""
    names = sorted(m.name for m in pkgutil.iter_modules(workers.__path__, "workers."))
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('simulator', 'bench')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(names) > 5
    assert out.stdout.strip() == "[]"
