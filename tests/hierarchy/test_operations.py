"""Long-running operations: progress, failures, how many run at once, how many are kept."""

from __future__ import annotations

import threading

import pytest

from hierarchy import operations
from hierarchy.errors import FailedPrecondition, NotFound
from hierarchy.operations import Operations, Progress


def test_progress_and_end_are_reported() -> None:
    ops = Operations()
    go = threading.Event()

    def work(advance: Progress) -> None:
        advance(2)
        go.wait(5)
        advance(1)

    op = ops.start("three steps", 3, work)
    assert ops.get(op.name).total == 3 and not ops.get(op.name).done
    go.set()
    ops.wait(5)
    assert (ops.get(op.name).progress, ops.get(op.name).done, ops.get(op.name).error) == (3, True, "")


def test_failures_are_recorded_with_their_reason() -> None:
    ops = Operations()

    def refused(advance: Progress) -> None:
        raise FailedPrecondition("video 'v1' has no segments to build a tree from", "video_id")

    def broken(advance: Progress) -> None:
        raise RuntimeError("disk gone")

    first, second = ops.start("a", 1, refused), ops.start("b", 1, broken)
    ops.wait(5)
    assert "no segments" in ops.get(first.name).error
    assert ops.get(second.name).error == "internal error: disk gone" and ops.get(second.name).done


def test_at_most_max_running_operations_run_at_once() -> None:
    ops = Operations()
    release, lock = threading.Event(), threading.Lock()
    running, most = [0], [0]

    def work(advance: Progress) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    started = [ops.start(f"build {i}", 1, work) for i in range(operations.MAX_RUNNING + 3)]
    release.wait(0.3)  # time for every thread to try its turn
    assert most[0] == operations.MAX_RUNNING
    release.set()
    ops.wait(10)
    assert all(ops.get(op.name).done for op in started)


def test_the_oldest_ended_operations_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "MAX_ENDED", 3)
    ops = Operations()
    names = []
    for i in range(5):
        names.append(ops.start(f"quick {i}", 0, lambda advance: None).name)
        ops.wait(5)
    for name in names[:2]:
        with pytest.raises(NotFound):
            ops.get(name)
    assert all(ops.get(name).done for name in names[2:])
