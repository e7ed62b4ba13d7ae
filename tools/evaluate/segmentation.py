"""How well the built hierarchy finds the true structure, against fixed windows.

Runs the tree builder in-process (no server) on synthetic soccer (planted scenes,
drives and halves) and on ActivityNet Captions (human event boundaries), and prints
one table per data set: for each level, boundary F1 at ±1/±3/±5 s, Pk, WindowDiff and
the ratio of predicted to true counts, for the detected level and for fixed windows of
the same mean length (the baseline a detected level must beat). Build time per video is
reported as a median and scaled to 2,700 segments (one 90-minute match of ~2 s
segments). The same numbers are written as JSON.

Fixed windows: in each video, windows of length L (the detected level's mean node
duration in that video) are laid from the first segment's start; a window holds the
segments that start inside it, and empty windows are dropped.

Usage: ``python -m tools.evaluate.segmentation --dataset both --matches 4 --seed 0
--vectors semantic --anet-videos 200 --out results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy.builder import HierarchyConfig, Tree, VideoSegments, build
from hierarchy.types import Level
from tools.evaluate.metrics import LevelScore, Span

log = logging.getLogger(__name__)

TOLERANCES_MS = (1_000, 3_000, 5_000)
SEGMENTS_PER_MATCH = 2_700
PLAIN = replace(HierarchyConfig(), drive_attribute="", half_attribute="")


@dataclass
class Case:
    """One video: its segments and its true spans per truth name (``scene``, ``event``, …)."""

    video_id: str
    segments: VideoSegments
    truth: dict[str, list[Span]]


@dataclass(frozen=True)
class Row:
    """One table row: a built level of one configuration, scored against one truth."""

    name: str
    config: str
    level: Level
    truth: str


@dataclass
class Report:
    """Scores of one data set: per row, detected and fixed windows; build times."""

    dataset: str
    rows: list[Row]
    detected: dict[str, LevelScore] = field(default_factory=dict)
    fixed: dict[str, LevelScore] = field(default_factory=dict)
    build_seconds: list[float] = field(default_factory=list)
    segment_counts: list[int] = field(default_factory=list)


def video_segments(rows: Sequence[dict[str, Any]]) -> VideoSegments:
    """The builder's input from one video's rows in the ingest format, sorted by start."""
    rows = sorted(rows, key=lambda r: (r["start_ms"], r["end_ms"]))
    return VideoSegments(
        starts=np.array([r["start_ms"] for r in rows], np.int64),
        ends=np.array([r["end_ms"] for r in rows], np.int64),
        vectors=np.array([r["vector"] for r in rows], np.float32),
        attributes=[dict(r.get("attributes") or {}) for r in rows],
        labels=[list(r.get("labels") or []) for r in rows],
        texts=[r.get("text", "") for r in rows],
        shot_cuts=np.array([bool(r.get("shot_cut", False)) for r in rows], bool),
    )


def group_rows(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by video id, in first-seen order."""
    videos: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        videos.setdefault(row["video_id"], []).append(row)
    return videos


def node_spans(tree: Tree, level: Level) -> list[Span]:
    """The spans of a built level."""
    return [(n.start_ms, n.end_ms) for n in tree.levels[level]]


def fixed_windows(segs: VideoSegments, length_ms: float) -> list[Span]:
    """Fixed windows of ``length_ms`` from the first segment, as spans of whole segments."""
    if len(segs.starts) == 0:
        return []
    window = ((segs.starts - segs.starts[0]) // max(length_ms, 1.0)).astype(np.int64)
    firsts = np.flatnonzero(np.diff(window, prepend=-1))
    lasts = np.append(firsts[1:], len(window)) - 1
    return [(int(segs.starts[a]), int(segs.ends[b])) for a, b in zip(firsts, lasts, strict=True)]


def mean_length(spans: Sequence[Span]) -> float:
    """Mean duration of spans, in ms."""
    return float(np.mean([e - s for s, e in spans])) if spans else 0.0


def blas_threads(count: int | None) -> contextlib.AbstractContextManager:
    """Limit BLAS to ``count`` threads (None: no limit); needs ``threadpoolctl``."""
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        log.warning("threadpoolctl is not installed: BLAS threads are not limited")
        return contextlib.nullcontext()
    return threadpool_limits(count, user_api="blas")


def timed_build(segs: VideoSegments, config: HierarchyConfig, threads: int | None = 1) -> tuple[Tree, float]:
    """The tree of one video and the seconds it took to build, BLAS limited to ``threads``."""
    with blas_threads(threads):
        began = time.perf_counter()
        tree = build(segs, config)
        return tree, time.perf_counter() - began


def evaluate(
    dataset: str,
    cases: Sequence[Case],
    configs: dict[str, HierarchyConfig],
    rows: Sequence[Row],
    threads: int | None = 1,
) -> Report:
    """Build every case under every configuration and score every row."""
    report = Report(dataset, list(rows))
    for row in rows:
        report.detected[row.name] = LevelScore.empty(TOLERANCES_MS)
        report.fixed[row.name] = LevelScore.empty(TOLERANCES_MS)
    first = next(iter(configs))
    for case in cases:
        trees = {}
        for name, config in configs.items():
            trees[name], seconds = timed_build(case.segments, config, threads)
            if name == first:
                report.build_seconds.append(seconds)
                report.segment_counts.append(len(case.segments.starts))
        for row in rows:
            _score_row(report, row, case, trees[row.config])
    return report


def _score_row(report: Report, row: Row, case: Case, tree: Tree) -> None:
    truth = case.truth[row.truth]
    detected = node_spans(tree, row.level)
    report.detected[row.name].add(truth, detected)
    report.fixed[row.name].add(truth, fixed_windows(case.segments, mean_length(detected)))


def build_time(report: Report) -> dict[str, float]:
    """Median build seconds per video, and scaled to a 2,700-segment match."""
    if not report.build_seconds:
        return {"median_s": 0.0, "per_2700_segments_s": 0.0, "median_segments": 0, "videos": 0}
    pairs = zip(report.build_seconds, report.segment_counts, strict=True)
    scaled = [seconds / max(n, 1) * SEGMENTS_PER_MATCH for seconds, n in pairs]
    return {
        "median_s": statistics.median(report.build_seconds),
        "per_2700_segments_s": statistics.median(scaled),
        "median_segments": statistics.median(report.segment_counts),
        "videos": len(report.build_seconds),
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report as plain data."""
    rows = [
        {"level": r.name, "config": r.config, "detected": report.detected[r.name].summary(),
         "fixed": report.fixed[r.name].summary()}
        for r in report.rows
    ]  # fmt: skip
    return {"rows": rows, "build_time": build_time(report)}


def render(report: Report, title: str) -> Any:
    """A rich table of the report."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("level", "method", "F1@1s", "F1@3s", "F1@5s", "Pk", "WinDiff", "count"):
        table.add_column(column, justify="left" if column in ("level", "method") else "right", no_wrap=True)
    for row in report.rows:
        for method, scores in (("detected", report.detected), ("fixed", report.fixed)):
            s = scores[row.name].summary()
            cells = [s["f1@1s"], s["f1@3s"], s["f1@5s"], s["pk"], s["window_diff"], s["count_ratio"]]
            table.add_row(row.name if method == "detected" else "", method, *(f"{v:.3f}" for v in cells))
    timing = build_time(report)
    table.caption = (
        "count: predicted / true segments. "
        f"Build: median {timing['median_s'] * 1000:.0f} ms per video "
        f"({timing['median_segments']:.0f} segments); {timing['per_2700_segments_s'] * 1000:.0f} ms "
        f"per {SEGMENTS_PER_MATCH:,} segments"
    )
    return table


SOCCER_ROWS = (
    Row("scene", "attributes", Level.SCENE, "scene"),
    Row("scene, no attrs", "plain", Level.SCENE, "scene"),
    Row("drive, team", "attributes", Level.DRIVE, "drive"),
    Row("drive, no team", "plain", Level.DRIVE, "drive"),
    Row("half, period", "attributes", Level.HALF, "half"),
    Row("half, no period", "plain", Level.HALF, "half"),
)
ANET_ROWS = (
    Row("scene", "default", Level.SCENE, "event"),
    Row("drive", "default", Level.DRIVE, "event"),
)


def soccer_cases(matches: int, seed: int, vectors: str) -> list[Case]:
    """Synthetic matches with their planted scenes, drives and halves as truth."""
    from tools import soccer

    data = soccer.generate(matches=matches, seed=seed, vectors=vectors)
    videos = group_rows(data.segments)
    cases = []
    for match in data.truth["matches"]:
        truth = {
            "scene": [(s["start_ms"], s["end_ms"]) for s in match["scenes"]],
            "drive": [(d["start_ms"], d["end_ms"]) for d in match["drives"]],
            "half": [(int(s), int(e)) for s, e in match["halves"]],
        }
        cases.append(Case(match["video_id"], video_segments(videos[match["video_id"]]), truth))
    return cases


def run_soccer(matches: int, seed: int, vectors: str, threads: int | None = 1) -> Report:
    """Score the builder on synthetic soccer, with and without the team/period attributes."""
    cases = soccer_cases(matches, seed, vectors)
    configs = {"attributes": HierarchyConfig(), "plain": PLAIN}
    return evaluate("soccer", cases, configs, SOCCER_ROWS, threads)


def run_anet(videos: int, path: Path | None = None, threads: int | None = 1) -> Report:
    """Score the builder on the first ``videos`` ActivityNet Captions videos (val_1 events)."""
    from tools.evaluate import anet

    cases = anet.cases(videos, path or anet.DEFAULT_PATH)
    return evaluate("anet", cases, {"default": HierarchyConfig()}, ANET_ROWS, threads)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.evaluate.segmentation", description=__doc__)
    parser.add_argument("--dataset", choices=("soccer", "anet", "both"), default="both")
    parser.add_argument("--matches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vectors", choices=("semantic", "random"), default="semantic")
    parser.add_argument("--anet-videos", type=int, default=200)
    parser.add_argument("--anet-path", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads while building (0: no limit)")
    return parser


def run(args: argparse.Namespace) -> list[tuple[str, Report, dict[str, Any]]]:
    """The requested evaluations: (title, report, parameters) per data set."""
    threads = args.blas_threads or None
    out = []
    if args.dataset in ("soccer", "both"):
        title = f"soccer: {args.matches} matches, seed {args.seed}, {args.vectors} vectors"
        params = {"matches": args.matches, "seed": args.seed, "vectors": args.vectors}
        out.append((title, run_soccer(args.matches, args.seed, args.vectors, threads), params))
    if args.dataset in ("anet", "both"):
        title = f"ActivityNet Captions val_1: first {args.anet_videos} videos"
        out.append((title, run_anet(args.anet_videos, args.anet_path, threads), {"videos": args.anet_videos}))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: evaluate, print tables, write JSON."""
    from rich.console import Console

    args = _parser().parse_args(argv)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)  # before the work, not after it
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results: dict[str, Any] = {}
    console = Console()
    for title, report, params in run(args):
        console.print(render(report, title))
        results[report.dataset] = params | {"blas_threads": args.blas_threads} | to_json(report)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
