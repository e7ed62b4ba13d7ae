"""Long-running operations: work that runs in a background thread and reports progress.

Operations live in memory: a restart forgets them. The work they do is made of steps
that are each atomic and idempotent (one video's tree), so running it again after a
restart is safe.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from hierarchy.errors import InvalidArgument, NotFound, StrataError

log = logging.getLogger(__name__)


class Progress(Protocol):
    """How work reports progress: ``count`` more units done, or one left out (``skipped``
    names it: a video deleted before its turn came), which counts as done."""

    def __call__(self, count: int, skipped: str = "") -> None: ...


# Operations that run at once; later ones wait their turn (each build takes a core).
MAX_RUNNING = 2
# Ended operations kept for GetOperation; the oldest are forgotten past this many.
MAX_ENDED = 1000
PREFIX = "operations/"  # every operation's name begins so


@dataclass(frozen=True)
class Operation:
    """A snapshot of a long-running operation."""

    name: str
    description: str
    total: int
    progress: int = 0
    done: bool = False
    error: str = ""
    skipped: tuple[str, ...] = ()  # units left out as the work reached them


class Operations:
    """Starts operations in threads and answers for their state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, Operation] = {}  # in the order they started
        self._threads: list[threading.Thread] = []
        self._turns = threading.BoundedSemaphore(MAX_RUNNING)

    def start(self, description: str, total: int, work: Callable[[Progress], None]) -> Operation:
        """Run ``work(advance)`` in a thread; ``advance(n)`` adds ``n`` to the progress."""
        op = Operation(name=f"{PREFIX}{uuid.uuid4().hex[:16]}", description=description, total=total)
        with self._lock:
            self._ops[op.name] = op
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._run, args=(op.name, work), name=op.name, daemon=True)
            self._threads.append(thread)
        thread.start()
        return op

    def get(self, name: str) -> Operation:
        """The current state of an operation."""
        if not name.startswith(PREFIX) or len(name) > 128 or not name.isprintable():
            raise InvalidArgument("name", "must name an operation: operations/<id>, as BuildHierarchy returned it")
        with self._lock:
            op = self._ops.get(name)
        if op is None:
            raise NotFound(f"operation {name!r} is unknown (operations end with the server)", "name")
        return op

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started operation to end."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _advance(self, name: str, count: int, skipped: str = "") -> None:
        with self._lock:
            op = self._ops[name]
            left_out = (*op.skipped, skipped) if skipped else op.skipped
            self._ops[name] = replace(op, progress=op.progress + count, skipped=left_out)

    def _ended(self, name: str, error: str = "") -> None:
        """Record the end of an operation, forgetting the oldest ended ones past ``MAX_ENDED``."""
        with self._lock:
            self._ops[name] = replace(self._ops[name], done=True, error=error)
            ended = [key for key, op in self._ops.items() if op.done]
            for key in ended[: max(len(ended) - MAX_ENDED, 0)]:
                del self._ops[key]

    def _run(self, name: str, work: Callable[[Progress], None]) -> None:
        with self._turns:
            self._work(name, work)

    def _work(self, name: str, work: Callable[[Progress], None]) -> None:
        try:
            work(lambda n, skipped="": self._advance(name, n, skipped))
        except StrataError as exc:
            self._ended(name, str(exc))
            return
        except Exception as exc:  # the thread must record every failure, not die silently
            log.exception("operation %s failed", name)
            self._ended(name, f"internal error: {exc}")
            return
        self._ended(name)
