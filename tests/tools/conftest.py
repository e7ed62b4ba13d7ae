"""Shared by the CLI tests: a real server for a module's tests, and the ``strata``
command run against it in a child process, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.server import StrataServer
from tests.service.conftest import start_server

STRATA = str(Path(sys.executable).parent / "strata")


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server shared by a module's tests (each uses collections of its own)."""
    srv: StrataServer = start_server(tmp_path_factory.mktemp("cli") / "data")
    yield srv.address
    srv.stop(0)


def run_strata(target: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``strata ARGS`` against ``target``, with ``env`` added to the environment."""
    full = {**os.environ, "STRATA_TARGET": target, **env}
    return subprocess.run([STRATA, *args], capture_output=True, text=True, env=full, timeout=300)


def run_checked(target: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """:func:`run_strata`, which must end without a traceback, whatever its exit code."""
    result = run_strata(target, *args, **env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def strata_ok(target: str, *args: str) -> str:
    """What ``strata ARGS`` prints, which must succeed."""
    result = run_checked(target, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout
