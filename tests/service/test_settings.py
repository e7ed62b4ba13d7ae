"""Settings: code defaults, then STRATA_ variables, then explicit values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hierarchy.errors import InvalidArgument
from service.settings import Settings


def test_environment_overrides_defaults_and_flags_override_environment() -> None:
    env = {"STRATA_PORT": "6000", "STRATA_DATA_DIR": "/tmp/x", "STRATA_MAX_TOP_K": "50"}
    assert Settings.load(env=env).port == 6000
    assert Settings.load(env=env).data_dir == Path("/tmp/x")
    assert Settings.load(env=env, port=7000).port == 7000
    assert Settings.load(env=env).database_options().max_top_k == 50


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={"STRATA_PORT": "abc"})
    assert info.value.field == "STRATA_PORT"


def test_narrowing_settings_reach_the_database() -> None:
    options = Settings.load(env={"STRATA_NARROW_PARENTS": "0", "STRATA_NARROWED_EXPANSION_SEARCH": "128"})
    assert (options.database_options().narrow_parents, options.database_options().narrowed_expansion_search) == (
        0,
        128,
    )
    defaults = Settings.load(env={}).database_options()
    assert (defaults.narrow_parents, defaults.narrowed_expansion_search) == (32, 64)
