"""``strata build`` and ``strata operation``: a build the server runs outlives the command
watching it, and can be watched again by name."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from service.client import StrataClient
from service.server import StrataServer
from tests.service.conftest import start_server
from tests.tools.conftest import STRATA, run_checked, strata_ok

VIDEOS = 3


@pytest.fixture
def served(tmp_path: Path) -> Iterator[StrataServer]:
    """A server holding a collection ``games`` of three videos of segments, unbuilt."""
    srv = start_server(tmp_path / "data")
    with StrataClient(srv.address) as client:
        client.create_collection("games", dimension=8)
        vectors = np.random.default_rng(3).normal(size=(VIDEOS * 40, 8)).tolist()
        for v in range(VIDEOS):
            client.create_video("games", f"match-{v}", 80_000)
            rows = [
                {
                    "video_id": f"match-{v}",
                    "start_ms": i * 2000,
                    "end_ms": (i + 1) * 2000,
                    "vector": vectors[v * 40 + i],
                }
                for i in range(40)
            ]
            client.append_segments("games", rows)
    yield srv
    srv.stop(0)


@contextmanager
def _held(srv: StrataServer) -> Iterator[None]:
    """Every turn of the server's operations taken: a build started meanwhile waits at
    progress 0 (as behind two others) until the turns are given back."""
    turns = srv.db.operations._turns  # the server's own limit of builds at once
    taken = 0
    while turns.acquire(blocking=False):
        taken += 1
    try:
        yield
    finally:
        for _ in range(taken):
            turns.release()


def _started(srv: StrataServer, timeout: float = 60.0) -> None:
    """Wait until the server has an operation under way (the command is watching it)."""
    deadline = time.monotonic() + timeout
    while not any(not op.done for op in srv.db.operations._ops.values()):
        assert time.monotonic() < deadline, "no build started"
        time.sleep(0.05)


def test_ctrl_c_stops_watching_a_build_and_says_how_to_watch_it_again(served: StrataServer) -> None:
    env = {**os.environ, "STRATA_TARGET": served.address}
    with _held(served):
        proc = subprocess.Popen(
            [STRATA, "build", "games"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        started = proc.stderr.readline()  # type: ignore[union-attr]  # named as it starts: then it watches
        assert started.startswith("started operations/"), started
        _started(served)
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=60)
    # It said nothing and exited 130: an operator could not tell the build goes on.
    assert proc.returncode == 130 and "Traceback" not in errors and not out, errors
    said = re.search(r"stopped watching: the server goes on with (operations/\w+) \(.*\); watch it again with: "
                     r"strata operation (operations/\w+) --wait", " ".join(errors.split()))  # fmt: skip
    assert said is not None and said[1] == said[2], errors
    # Watched again by that name, it ends as a build that was watched throughout.
    assert strata_ok(served.address, "operation", said[1], "--wait") == f"built the trees of {VIDEOS} videos\n"
    assert strata_ok(served.address, "operation", said[1]) == f"built the trees of {VIDEOS} videos\n"


def test_an_operation_under_way_shows_its_progress_and_an_unknown_one_is_not_found(served: StrataServer) -> None:
    with StrataClient(served.address) as client:
        with _held(served):
            op = client.build_hierarchy("games", ())
            shown = strata_ok(served.address, "operation", op.name)
        assert shown == f"{op.description}: 0 of {VIDEOS} done, running\n"
    unknown = run_checked(served.address, "operation", "operations/0000")
    assert unknown.returncode == 1 and unknown.stderr.startswith(
        "error NOT_FOUND: name: operation 'operations/0000' is unknown"
    )
