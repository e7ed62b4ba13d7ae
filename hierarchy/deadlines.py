"""Caller deadlines inside the core: plain ``time.monotonic()`` values, checked between
the stages of long work so that a caller who has stopped waiting stops costing."""

from __future__ import annotations

import time

from hierarchy.errors import DeadlineExceeded


def after(seconds: float | None) -> float | None:
    """The deadline ``seconds`` from now; None (no deadline) for None."""
    return None if seconds is None else time.monotonic() + seconds


def check(deadline: float | None, stage: str) -> None:
    """Raise :class:`DeadlineExceeded` when ``deadline`` has passed (None never passes)."""
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded(
            f"the caller's deadline passed {stage}; allow more time, or narrow the query (a level, a filter)"
        )
