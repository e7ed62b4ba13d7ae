"""Sampling profiles of the server process with py-spy, summarised as top functions.

py-spy attaches to a running process without changing it; samples of idle threads are
left out, so the shares say where CPU time goes. Without py-spy the profile is skipped.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    """The py-spy executable (beside this interpreter, or on PATH), if installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Sampler:
    """``py-spy record`` on one process between :meth:`start` and :meth:`stop`."""

    def __init__(self, pid: int, output: Path, rate: int = 50) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sampler:
        """Attach (no-op without py-spy)."""
        exe = py_spy()
        if exe is not None:
            cmd = [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw"]
            cmd += ["--output", str(self.output), "--nonblocking"]
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def stop(self, top: int = 15) -> dict[str, Any]:
        """Detach and summarise (empty when py-spy is missing or failed)."""
        if self._proc is None:
            return {}
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        return summarise_raw(self.output, top) if self.output.exists() else {}


def summarise_raw(path: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by own samples and by inclusive samples from py-spy's raw
    (collapsed stacks) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(n / total, 3)} for f, n in counter.most_common(top)]

    return {"samples": total, "own": shares(own), "inclusive": shares(inclusive)} if total else {}


def _short(frame: str) -> str:
    """``search (/work/x/hierarchy/index.py:120)`` -> ``search (hierarchy/index.py:120)``."""
    name, _, where = frame.partition(" (")
    for marker in ("/hierarchy/", "/service/", "/tools/", "site-packages/", "/lib/python3"):
        if marker in where:
            where = marker.lstrip("/") + where.split(marker, 1)[1]
            break
    return f"{name} ({where}" if where else name
