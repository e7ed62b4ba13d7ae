"""Stop signals held back around a step that must not be cut in two."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import signals
from tools.bench import server as bench_server
from tools.bench.run import _stopped


class Stopped(Exception):
    pass


def _raise(signum: int, _frame: object) -> None:
    raise Stopped(signum)


@pytest.fixture
def stopping() -> Iterator[None]:
    """SIGTERM raises, as the benchmark's handler makes it; put back afterwards."""
    before = signal.signal(signal.SIGTERM, _raise)
    yield
    signal.signal(signal.SIGTERM, before)


def test_a_signal_inside_the_block_is_raised_at_its_end(stopping: None) -> None:
    steps = []
    with pytest.raises(Stopped):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("after the signal")
    assert steps == ["after the signal"]
    with pytest.raises(Stopped):  # and the handler is the one it had
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_block_with_no_signal_changes_nothing(stopping: None) -> None:
    with signals.deferred():
        pass
    assert signal.getsignal(signal.SIGTERM) is _raise


def test_a_stop_during_the_server_s_spawn_leaves_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM just as the benchmark's server is spawned, before the handle is recorded:
    the run ends and the server with it."""
    spawned: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def spawn_then_stopped(_cmd: object, **kwargs: object) -> subprocess.Popen:
        # A process that would run on: only the stop can end it.
        spawned.append(popen(["sleep", "60"], **kwargs))  # type: ignore[call-overload]
        os.kill(os.getpid(), signal.SIGTERM)
        return spawned[-1]

    monkeypatch.setattr(bench_server.subprocess, "Popen", spawn_then_stopped)
    before = signal.signal(signal.SIGTERM, _stopped)
    try:
        with pytest.raises(SystemExit) as stopped:
            bench_server.ServerProcess(tmp_path / "data", "1G", tmp_path / "server.log").start()
        assert stopped.value.code == 128 + signal.SIGTERM
        assert spawned and spawned[0].poll() == -signal.SIGTERM, "the server was not stopped"
    finally:
        signal.signal(signal.SIGTERM, before)
        for proc in spawned:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
