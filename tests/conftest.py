"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import settings

# Speed is measured by the benchmarks, not by tests: a busy machine must not fail a property.
settings.register_profile("local", deadline=None)
# CI replays the same generated examples on every run, so a red build always points at a
# change; local runs keep exploring new examples (and keep the failures they find).
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")
