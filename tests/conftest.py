"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import settings

# CI replays the same generated examples on every run, so a red build always points at a
# change; local runs keep exploring new examples (and keep the failures they find).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
