"""A client stream whose messages are made in the caller's thread. gRPC reads a request
iterator on a thread of its own, where a source bound to the caller's thread cannot be
read (a sqlite3 cursor refuses any other); here the caller's thread reads the source
and hands each message over through a small queue, which gRPC takes from as it sends."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

import grpc

# Messages made ahead of the one being sent: few, so that the source is read no faster
# than the server takes its batches (each may be megabytes).
DEPTH = 2
_END = object()
_WAIT = 0.05  # seconds between looks at whether the call has ended, while the queue is full


def stream(
    start: Callable[[Iterator[Any]], grpc.Future], messages: Iterable[Any]
) -> tuple[grpc.Future, Exception | None]:
    """Start a client-streaming call with ``start`` (a stream-unary ``future``), send it
    ``messages`` read in this thread, and wait until the call has ended; returns it (its
    ``result()`` is the answer, or raises its ``grpc.RpcError``) and the exception raised
    while reading ``messages``, if one was. Such an exception ends the stream there, as
    if the messages had ended: what was sent is the server's to commit. The source is no
    longer read once the call has ended (its deadline, a refused batch). Anything else
    that stops this thread (KeyboardInterrupt) cancels the call."""
    pending: queue.Queue[Any] = queue.Queue(maxsize=DEPTH)
    call = start(_taken(pending))
    failed: Exception | None = None
    try:
        try:
            for message in messages:
                if not _put(pending, message, call):
                    break  # the call has ended: its answer says why
        except Exception as exc:  # the source's, for the caller to raise once the stream is done
            failed = exc
        _end(pending, call)
        call.exception()  # waits for the answer, without raising it
    except BaseException:
        call.cancel()
        _end(pending, call)  # gRPC's thread may be waiting for a message
        raise
    return call, failed


def _taken(pending: queue.Queue[Any]) -> Iterator[Any]:
    """The messages put on ``pending``, until the end is put (read on gRPC's thread)."""
    while (message := pending.get()) is not _END:
        yield message


def _put(pending: queue.Queue[Any], message: Any, call: grpc.Future) -> bool:
    """Put ``message`` once there is room; False, without it, when the call ends first."""
    while not call.done():
        try:
            pending.put(message, timeout=_WAIT)
            return True
        except queue.Full:
            continue
    return False


def _end(pending: queue.Queue[Any], call: grpc.Future) -> None:
    """End the stream after the messages put (or, the call having ended, let gRPC's thread
    go: a full queue means it is not waiting for one)."""
    if not _put(pending, _END, call):
        with suppress(queue.Full):
            pending.put_nowait(_END)
