"""The `overdue` command line: it parses arguments and calls the packages that do the work.

The shipped policies travel with it as `overdue.policies` (the repository's `policies/` folder).
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("overdue")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
