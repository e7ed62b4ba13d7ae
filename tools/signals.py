"""Stopping on SIGINT and SIGTERM: ``strata serve`` waits on :func:`stop_event`; a step that
must not be cut in two (a child spawned but not yet recorded) runs inside :func:`deferred`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


def stop_event() -> threading.Event:
    """An event that SIGINT and SIGTERM set."""
    stop = threading.Event()
    # The handler runs in the main thread, which holds the event's lock for a moment inside
    # stop.wait(): setting it there would wait for itself. It writes to a pipe instead, and
    # a thread of its own sets the event. (A thread started per signal made the handler
    # wait for it to start, and a flood of signals ran handlers inside handlers until the
    # recursion limit.)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def relay() -> None:
        while os.read(read_end, 4096):
            stop.set()

    def on_signal(*_: object) -> None:
        with contextlib.suppress(BlockingIOError):  # the pipe is full: a set is on its way
            os.write(write_end, b"s")

    threading.Thread(target=relay, name="strata-signals", daemon=True).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop


@contextlib.contextmanager
def deferred(*signums: int) -> Iterator[None]:
    """Hold back ``signums`` (default SIGINT and SIGTERM) inside the block: one that comes
    meanwhile is raised again once the block ends, to the handler it had (each once, in
    the order they came; a handler that raises ends the rest, all of which stop the run).
    Only the main thread receives signals in Python, so elsewhere the block runs as it
    is; a signal whose handler was set outside Python is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = [sig for sig in signums or (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not None]
    came: list[int] = []
    with _blocked(held):  # the handlers change with the signals held by the kernel: none lost
        before = {sig: signal.signal(sig, lambda sig, _frame: came.append(sig)) for sig in held}
    try:
        yield
    finally:
        with _blocked(held):
            for sig, handler in before.items():
                signal.signal(sig, handler)
        for sig in dict.fromkeys(came):
            signal.raise_signal(sig)


@contextlib.contextmanager
def _blocked(signums: list[int]) -> Iterator[None]:
    """``signums`` held pending by the kernel inside the block, delivered after it."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
