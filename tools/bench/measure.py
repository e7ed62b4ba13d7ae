"""Small measuring helpers: latency summaries, concurrent load, exact top-k and recall."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Summary = dict[str, float]


def summarise(latencies_s: Sequence[float], wall_s: float | None = None) -> Summary:
    """p50/p99/mean in milliseconds and queries per second (over ``wall_s`` when given,
    else over the sum of the latencies, i.e. one caller)."""
    if not latencies_s:
        return {"count": 0, "p50_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0, "qps": 0.0}
    ms = np.asarray(latencies_s, np.float64) * 1000.0
    wall = wall_s if wall_s is not None else float(np.sum(latencies_s))
    return {
        "count": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "qps": round(len(ms) / wall, 1) if wall > 0 else 0.0,
    }


def timed_calls(call: Callable[[Any], object], items: Sequence[Any], warmup: int = 3) -> list[float]:
    """Seconds each ``call(item)`` took, after ``warmup`` untimed calls."""
    for item in items[:warmup]:
        call(item)
    out = []
    for item in items:
        began = time.perf_counter()
        call(item)
        out.append(time.perf_counter() - began)
    return out


def concurrent_calls(
    make_caller: Callable[[], Callable[[Any], object]], items: Sequence[Any], workers: int, repeat: int = 1
) -> Summary:
    """``workers`` threads, each with its own caller (e.g. its own channel), split
    ``items`` x ``repeat`` between them; latency percentiles and overall throughput."""
    callers = [make_caller() for _ in range(workers)]
    for caller in callers:  # connect and warm up outside the timed window
        caller(items[0])
    work = list(items) * repeat
    latencies: list[list[float]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for item in work[i::workers]:
                began = time.perf_counter()
                callers[i](item)
                latencies[i].append(time.perf_counter() - began)
        except BaseException as exc:  # reported by the caller, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if errors:
        raise errors[0]
    return {**summarise([x for per in latencies for x in per], wall), "clients": workers}


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """Row indices of the ``k`` largest inner products of each query, best first, by
    numpy matrix products over chunks of ``base`` (float32, the physical reference)."""
    k = min(k, len(base))
    best_idx = np.zeros((len(queries), 0), np.int64)
    best_sim = np.zeros((len(queries), 0), np.float32)
    for lo in range(0, len(base), chunk):
        sims = queries @ base[lo : lo + chunk].T
        part = np.argpartition(-sims, min(k, sims.shape[1] - 1), axis=1)[:, :k]
        best_idx = np.hstack([best_idx, part + lo])
        best_sim = np.hstack([best_sim, np.take_along_axis(sims, part, axis=1)])
        keep = np.argsort(-best_sim, axis=1)[:, :k]
        best_idx = np.take_along_axis(best_idx, keep, axis=1)
        best_sim = np.take_along_axis(best_sim, keep, axis=1)
    return best_idx


def recall_at_k(found: Sequence[Sequence[Any]], truth: Sequence[Sequence[Any]], k: int = 10) -> float:
    """Mean over queries of |found[:k] ∩ truth[:k]| / min(k, |truth|)."""
    scores = []
    for got, want in zip(found, truth, strict=True):
        want_k = set(list(want)[:k])
        if want_k:
            scores.append(len(set(list(got)[:k]) & want_k) / len(want_k))
    return round(float(np.mean(scores)), 4) if scores else 0.0


def machine() -> dict[str, Any]:
    """CPU model and count, memory, load average and the Python version."""
    import platform

    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        cpuinfo = open("/proc/cpuinfo").read()
        info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name"))
        mem = open("/proc/meminfo").read().split("\n", 1)[0]
        info["memory_gib"] = round(int(mem.split()[1]) / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions(names: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``names`` ("not installed" when absent)."""
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
