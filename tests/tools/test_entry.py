"""The ``strata`` entry point: a Ctrl-C while the CLI loads and an output that cannot be
written each end the command in one line, without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.tools.conftest import STRATA


def test_ctrl_c_while_the_cli_loads_exits_130_without_a_traceback() -> None:
    """A Ctrl-C in a command's first half second printed a page of import traceback."""
    # The signal arrives as the CLI's modules load, as it does for an operator: sent from
    # inside the import of tools.cli, whatever the machine's speed.
    script = textwrap.dedent(
        """
        import importlib.abc, os, signal, sys

        class Interrupting(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "tools.cli":
                    os.kill(os.getpid(), signal.SIGINT)
                return None

        sys.meta_path.insert(0, Interrupting())
        from tools.entry import main
        main()
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 130 and run.stderr == "", run.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_an_output_that_cannot_be_written_is_said_in_one_line() -> None:
    """`strata … > /dev/full` (a full disk) ended in a traceback of the console's write."""
    with open("/dev/full", "w") as full:
        run = subprocess.run([STRATA, "eval", "--help"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == "error cannot write the output: No space left on device", run.stderr


def test_ctrl_c_once_loaded_still_ends_the_command_as_before(tmp_path: Path) -> None:
    """The entry point leaves a running command's own Ctrl-C handling alone."""
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "STRATA_LOG_LEVEL": "INFO"},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().startswith("listening on ")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    assert "stopping: the indexes are saved first" in stderr, stderr


def test_the_module_runs_the_command_as_strata_does() -> None:
    """``python -m tools.entry ARGS`` is the ``strata`` command (it ran nothing, exit 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.entry", "ingest", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Usage: python -m tools.entry ingest" in done.stdout, done.stdout + done.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "tools.entry", "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "No such command" in refused.stderr
