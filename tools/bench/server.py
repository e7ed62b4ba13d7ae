"""A real ``strata serve`` process on loopback, for measurements over gRPC.

The server runs in its own process so that the benchmark's client threads do not share
its interpreter lock, and so that its memory (RSS) is its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from tools import signals

READY_TIMEOUT_S = 3600.0  # recovering 1 M vectors from the store takes minutes


class ServerProcess:
    """``strata serve --port 0`` on ``data_dir``, started and stopped by the benchmark."""

    def __init__(self, data_dir: Path, memory_limit: str, log_path: Path, workers: int = 16) -> None:
        self.data_dir = data_dir
        self.memory_limit = memory_limit
        self.workers = workers
        self.log_path = log_path
        self.address = ""
        self.ready_s = 0.0  # from spawn to SERVING
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int:
        """Process id of the server."""
        assert self._proc is not None, "server not started"
        return self._proc.pid

    def start(self) -> ServerProcess:
        """Spawn the server and wait until it answers (its indexes recovered)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        env.update(STRATA_MEMORY_LIMIT=self.memory_limit, STRATA_WORKERS=str(self.workers))
        cmd = [sys.executable, "-m", "tools.cli", "serve", "--data-dir", str(self.data_dir), "--port", "0"]
        self._log = self.log_path.open("a")
        began = time.perf_counter()
        try:
            # A stop signal during the spawn (its handler raises) would leave the child
            # running unrecorded, so nothing would stop it: it is raised once it is recorded.
            with signals.deferred():
                self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
            self.address = self._expect("listening on ").removeprefix("listening on ")
            self._expect("ready")
        except BaseException:  # a timeout, or the run stopped meanwhile: no server left behind
            self.stop()
            raise
        self.ready_s = time.perf_counter() - began
        return self

    def _expect(self, prefix: str) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError(f"strata serve exited ({self._proc.poll()}); see {self.log_path}")
            if line.startswith(prefix):
                return line.strip()
        raise TimeoutError(f"strata serve did not print {prefix!r}; see {self.log_path}")

    def memory(self) -> dict[str, int]:
        """Resident set size now and at its peak (VmHWM), in bytes."""
        return process_memory(self.pid)

    def stop(self, timeout: float = 1800.0) -> float:
        """SIGTERM (drain, save indexes, checkpoint) and wait; returns the seconds it took."""
        if self._proc is None or self._proc.poll() is not None:
            if self._log is not None:
                self._log.close()
            return 0.0
        began = time.perf_counter()
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
            if self._log is not None:
                self._log.close()
        return time.perf_counter() - began


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """``rss_bytes`` (VmRSS) and ``peak_rss_bytes`` (VmHWM) of a process, from /proc."""
    wanted = {"VmRSS:": "rss_bytes", "VmHWM:": "peak_rss_bytes"}
    out = dict.fromkeys(wanted.values(), 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = line.split(":", 1)[0] + ":"
            if name in wanted:
                out[wanted[name]] = int(line.split()[1]) * 1024
    except OSError:  # not Linux, or the process is gone
        pass
    # The kernel folds per-thread RSS counters into VmHWM lazily, so a busy process can show
    # VmRSS a few pages above its high-water mark; the peak is at least what is resident now.
    out["peak_rss_bytes"] = max(out["peak_rss_bytes"], out["rss_bytes"])
    return out


def disk_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
