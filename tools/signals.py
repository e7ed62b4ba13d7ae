"""Stopping a server on SIGINT and SIGTERM: ``strata serve`` waits on :func:`stop_event`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading


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
