"""Caller deadlines inside the core: plain ``time.monotonic()`` values, checked between
the stages of long work so that a caller who has stopped waiting stops costing."""

from __future__ import annotations

import time

from hierarchy.errors import DeadlineExceeded


def after(seconds: float | None) -> float | None:
    """The deadline ``seconds`` from now; None (no deadline) for None."""
    return None if seconds is None else time.monotonic() + seconds


SEARCH_FIX = "allow more time, or narrow the query (a level, a filter)"


def check(deadline: float | None, stage: str, fix: str = SEARCH_FIX) -> None:
    """Raise :class:`DeadlineExceeded` when ``deadline`` has passed (None never passes),
    saying ``stage`` and ``fix``."""
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded(f"the caller's deadline passed {stage}; {fix}")
