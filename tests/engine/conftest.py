"""Hypothesis profiles for the core's property tests: "ci" (1,000 examples each, no deadline) when
the CI environment variable is set, "dev" (200 examples) otherwise."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# Interactive draws (st.data) build each case step by step, which hypothesis may flag as slow or
# large on a loaded machine; the examples are bounded by construction (<= 25 steps).
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
# No "explain" phase: it replays a shrunk failure hundreds of times more, for minutes, and the
# shrunk example with its draws is what we read anyway.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]

settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    suppress_health_check=_QUIET,
    phases=_PHASES,
    print_blob=True,
)
settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=_QUIET, phases=_PHASES
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
