"""Retrieval quality of every system on synthetic soccer and on ActivityNet Captions.

Builds each library in-process (one temporary database), runs every query against the
systems of ``tools.evaluate.retrieval_systems`` and prints one table per data set, the
per-kind recall, AUTO's routing confusion matrix and where AUTO falls short of the
oracle. Every number is also written as JSON.

Metrics (per query, then averaged):
- moments: R@1/R@5 (and R@10) at temporal IoU >= 0.5 and >= 0.7, and the IoU of the top
  hit; a hit matches a truth span of the same video with IoU at or above the threshold,
  and any truth span counts;
- items: R@1, R@5, MRR; a hit is the item when it is in the truth's video and, for
  halves and drives, has IoU >= 0.5 with a truth span;
- oracle: per query, the level (segment … video) whose result scores best, ordered by
  R@1, R@5, R@10 (IoU 0.5 before 0.7), then top IoU for moments, and R@1, MRR, R@5 for
  items; its chosen level is reported as ``none`` when no level finds the truth in its
  top k, and ``tie`` when every level scores the same;
- routing: AUTO's chosen level (``route.levels[0]``) against the labelled level;
- latency: median and p95 ms per query (collapsed: the sum of its level searches).

ActivityNet follows EVALUATION.md §1.2: the library is the first N val_1 ids in sorted
order (``tools.evaluate.anet``), moment queries are val_2 sentences scored in their video
("in-video") and over the library ("corpus"), video queries are val_2 paragraphs.

Usage: ``python -m tools.evaluate.retrieval --dataset both --matches 4 --seed 11
--anet-videos 200 --out results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console, RenderableType
from rich.table import Table

from hierarchy.db import Database
from hierarchy.encoder import get_encoder
from hierarchy.query import parse
from hierarchy.router import parts
from hierarchy.types import Level
from tools.evaluate import anet
from tools.evaluate.retrieval_systems import (
    ANET_VAL_2,
    LEVELS,
    SYSTEMS,
    Answer,
    Found,
    Probe,
    Request,
    Runner,
    TruthSpan,
    VideoData,
    anet_data,
    load_library,
    soccer_data,
    spread,
)

log = logging.getLogger(__name__)

ROUTED = ("AUTO", "AUTO-text")
ORACLE_KEYS = {
    "moment": ("r1@0.5", "r1@0.7", "r5@0.5", "r5@0.7", "r10@0.5", "iou"),
    "item": ("r1", "mrr", "r5"),
}
PRIMARY = {"moment": "r1@0.5", "item": "r1"}
COLUMNS = {
    "moment": (("R1@.5", "r1@0.5"), ("R1@.7", "r1@0.7"), ("R5@.5", "r5@0.5"), ("R5@.7", "r5@0.7"), ("mIoU", "iou")),
    "corpus": (("R1@.5", "r1@0.5"), ("R5@.5", "r5@0.5"), ("R10@.5", "r10@0.5")),
    "item": (("R1", "r1"), ("R5", "r5"), ("MRR", "mrr")),
}


@dataclass
class Record:
    """Every system's scores, latency and route for one probe."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    oracle_best: tuple[str, ...] = ()  # every level that ties for the best result
    oracle_label: str = ""  # the oracle's level as reported: the first best, "none" or "tie"


# -- metrics ---------------------------------------------------------------------------


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Temporal intersection over union of two half-open spans (0 when both are empty)."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def hit_iou(hit: Found, truth: Sequence[TruthSpan]) -> float:
    """The best IoU of a hit with any truth span of its video."""
    spans = [(s, e) for vid, s, e in truth if vid == hit.video_id]
    return max((iou((hit.start_ms, hit.end_ms), span) for span in spans), default=0.0)


def recall_at(matches: Sequence[bool], k: int) -> float:
    """1.0 when any of the first ``k`` hits matches."""
    return float(any(matches[:k]))


def reciprocal_rank(matches: Sequence[bool]) -> float:
    """1 / rank of the first matching hit, 0 when none matches."""
    return next((1.0 / (i + 1) for i, ok in enumerate(matches) if ok), 0.0)


def moment_scores(hits: Sequence[Found], truth: Sequence[TruthSpan]) -> dict[str, float]:
    """R@1/5/10 at IoU 0.5 and 0.7 and the top hit's IoU."""
    ious = [hit_iou(h, truth) for h in hits]
    out = {f"r{k}@{t}": recall_at([v >= t for v in ious], k) for t in (0.5, 0.7) for k in (1, 5, 10)}
    return out | {"iou": ious[0] if ious else 0.0}


def is_item(hit: Found, truth: Sequence[TruthSpan], level: Level) -> bool:
    """Whether a hit is the truth item: its video, and (below VIDEO) IoU >= 0.5."""
    if level is Level.VIDEO:
        return any(vid == hit.video_id for vid, _, _ in truth)
    return hit_iou(hit, truth) >= 0.5


def item_scores(hits: Sequence[Found], truth: Sequence[TruthSpan], level: Level) -> dict[str, float]:
    """R@1, R@5 and reciprocal rank of the truth item; a video is ranked among the distinct
    videos of the list (a list of moments names a video where its first moment is)."""
    if level is Level.VIDEO:
        hits = first_of_each_video(hits)
    matches = [is_item(h, truth, level) for h in hits]
    return {"r1": recall_at(matches, 1), "r5": recall_at(matches, 5), "mrr": reciprocal_rank(matches)}


def first_of_each_video(hits: Sequence[Found]) -> list[Found]:
    """The first hit of each video, in rank order."""
    seen: set[str] = set()
    return [h for h in hits if not (h.video_id in seen or seen.add(h.video_id))]


def score(probe: Probe, hits: Sequence[Found]) -> dict[str, float]:
    """The metrics of the probe's family for one ranked list."""
    if probe.family == "item":
        return item_scores(hits, probe.truth, probe.level or Level.VIDEO)
    return moment_scores(hits, probe.truth)


def oracle_pick(family: str, by_level: dict[str, dict[str, float]]) -> tuple[dict[str, float], tuple[str, ...]]:
    """The best level's scores, and every level that ties for best."""
    keys = {name: tuple(s[m] for m in ORACLE_KEYS[family]) for name, s in by_level.items()}
    best = max(keys.values())
    tied = tuple(name for name, key in keys.items() if key == best)
    return by_level[tied[0]], tied


def as_good(family: str, scores: dict[str, float], oracle: dict[str, float]) -> bool:
    """Whether a result scores as well as the oracle's by the oracle's ordering."""
    return tuple(scores[m] for m in ORACLE_KEYS[family]) >= tuple(oracle[m] for m in ORACLE_KEYS[family])


# -- running ---------------------------------------------------------------------------


def embedded_parts(text: str) -> tuple[np.ndarray, ...]:
    """The parts of ``text`` embedded as a client would before a routed search: in one
    pass, as the server embeds them when it is not sent them."""
    found = parts(parse(text))
    return tuple(get_encoder().encode(list(found))) if found else ()


def evaluate_probe(runner: Runner, probe: Probe, vector: np.ndarray) -> Record:
    """Run one probe against every system and score it."""
    videos = probe.family == "item" and (probe.level or Level.VIDEO) is Level.VIDEO
    request = Request(probe.text, vector, probe.video_ids, embedded_parts(probe.text), videos)
    answers: dict[str, Answer] = runner.run(request)
    record = Record()
    for name, answer in answers.items():
        record.scores[name] = score(probe, answer.hits)
        record.latency_ms[name] = answer.latency_ms
        if answer.error:
            record.errors[name] = answer.error
        if name in ROUTED:
            record.routes[name] = answer.route.label if answer.route else "none"
    levels = {f"level={level.label}": record.scores[f"level={level.label}"] for level in LEVELS}
    record.scores["oracle"], tied = oracle_pick(probe.family, levels)
    record.oracle_best = tuple(name.removeprefix("level=") for name in tied)
    record.oracle_label = record.oracle_best[0]
    if not any(record.scores["oracle"][m] for m in ORACLE_KEYS[probe.family] if m != "iou"):
        record.oracle_label = "none"
    elif len(tied) == len(levels):
        record.oracle_label = "tie"
    return record


def run_dataset(videos: Sequence[VideoData], probes: Sequence[Probe], top_k: int) -> dict[str, Any]:
    """Load the library into a temporary database, run every probe, and summarise."""
    return run_pooled([(videos, probes)], top_k)


def run_pooled(libraries: Sequence[tuple[Sequence[VideoData], Sequence[Probe]]], top_k: int) -> dict[str, Any]:
    """Run each library's probes in its own database and summarise them as one query set
    (more queries per kind than one library holds); timings and node counts are summed."""
    probes: list[Probe] = []
    records: list[Record] = []
    timing: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for videos, library_probes in libraries:
        found, library_timing, library_nodes = _run_library(videos, library_probes, top_k)
        probes += library_probes
        records += found
        timing.update(library_timing)
        nodes.update(library_nodes)
    count = sum(len(videos) for videos, _ in libraries)
    return summarise(probes, records) | {"timing": dict(timing), "nodes": dict(nodes), "videos": count}


def _run_library(
    videos: Sequence[VideoData], probes: Sequence[Probe], top_k: int
) -> tuple[list[Record], dict[str, float], dict[str, int]]:
    """Every probe's record against one library, the phase timings and the node counts."""
    with tempfile.TemporaryDirectory(prefix="strata-retrieval-") as tmp:
        db = Database.open(tmp)
        try:
            times = load_library(db, videos)
            # The statistics that calibrate scores are brought up to date once writes settle;
            # queries before then would be scored with those of wherever the load had got
            # to when a search last refreshed them, so the rows would follow the load's timing.
            db.searcher.settle(timeout=120.0)
            began = time.perf_counter()
            vectors = get_encoder().encode([p.text for p in probes])
            encode_s = time.perf_counter() - began
            runner = Runner(db, top_k)
            if probes:  # first searches load lazily: keep that out of the latencies
                runner.run(Request(probes[0].text, vectors[0], probes[0].video_ids))
            began = time.perf_counter()
            records = [evaluate_probe(runner, p, v) for p, v in zip(probes, vectors, strict=True)]
            search_s = time.perf_counter() - began
        finally:
            db.close()
    timing = {"ingest_s": times.ingest_s, "build_s": times.build_s, "windows_s": times.windows_s,
              "query_encode_s": encode_s, "search_s": search_s}  # fmt: skip
    return records, timing, dict(times.node_counts)


# -- summaries -------------------------------------------------------------------------


def summarise(probes: Sequence[Probe], records: Sequence[Record]) -> dict[str, Any]:
    """Averages per task and per group, latency, routing and the oracle comparison."""
    tasks = _by(probes, records, lambda p: p.task)
    groups = _by(probes, records, lambda p: p.group)
    return {
        "queries": {task: len(pairs) for task, pairs in tasks.items()},
        "tasks": {task: _means(pairs) for task, pairs in tasks.items()},
        "groups": {group: _means(pairs) for group, pairs in groups.items()},
        "latency_ms": _latency(records),
        "latency_by_task": {task: _latency([r for _, r in pairs]) for task, pairs in tasks.items()},
        "routing": {name: routing(probes, records, name) for name in ROUTED},
        "oracle": {group: _oracle_gap(pairs) for group, pairs in groups.items()},
        "errors": _errors(records),
        "per_query": [_query_row(p, r) for p, r in zip(probes, records, strict=True)],
    }


def _query_row(probe: Probe, record: Record) -> dict[str, Any]:
    """One probe's outcome: its routes, the oracle's levels and each system's primary metric."""
    metric = PRIMARY[probe.family]
    return {
        "id": probe.id,
        "text": probe.text,
        "group": probe.group,
        "routes": record.routes,
        "oracle_best": list(record.oracle_best),
        metric: {name: record.scores[name][metric] for name in SYSTEMS},
    }


Pairs = list[tuple[Probe, Record]]


def _by(probes: Sequence[Probe], records: Sequence[Record], key: Any) -> dict[str, Pairs]:
    out: dict[str, Pairs] = {}
    for probe, record in zip(probes, records, strict=True):
        out.setdefault(key(probe), []).append((probe, record))
    return out


def _means(pairs: Pairs) -> dict[str, Any]:
    systems = {}
    for name in SYSTEMS:
        rows = [record.scores[name] for _, record in pairs]
        systems[name] = {metric: float(np.mean([r[metric] for r in rows])) for metric in rows[0]}
    return {"family": pairs[0][0].family, "count": len(pairs), "systems": systems}


def _latency(records: Sequence[Record]) -> dict[str, dict[str, float]]:
    out = {}
    for name in SYSTEMS:
        values = [r.latency_ms[name] for r in records if name in r.latency_ms]
        if values:
            out[name] = {"median": float(np.median(values)), "p95": float(np.percentile(values, 95))}
    return out


def routing(probes: Sequence[Probe], records: Sequence[Record], system: str) -> dict[str, Any]:
    """Accuracy over probes labelled with a level, and the confusion matrix of all probes."""
    confusion: dict[str, Counter[str]] = {}
    right = labelled = 0
    for probe, record in zip(probes, records, strict=True):
        chosen = record.routes.get(system, "none")
        confusion.setdefault(probe.label, Counter())[chosen] += 1
        if probe.label in {level.label for level in Level}:
            labelled += 1
            right += chosen == probe.label
    return {
        "accuracy": right / labelled if labelled else 0.0,
        "labelled": labelled,
        "confusion": {label: dict(counts) for label, counts in confusion.items()},
    }


def _oracle_gap(pairs: Pairs) -> dict[str, Any]:
    family = pairs[0][0].family
    good = [as_good(family, r.scores["AUTO"], r.scores["oracle"]) for _, r in pairs]
    # Over the probes some level answers: where none does, every level "ties for best".
    best_level = [r.routes.get("AUTO") in r.oracle_best for _, r in pairs if r.oracle_label != "none"]
    oracle_levels = Counter(r.oracle_label for _, r in pairs)
    auto_levels = Counter(r.routes.get("AUTO", "none") for _, r in pairs)
    return {
        "count": len(pairs),
        "auto_as_good": float(np.mean(good)),
        "auto_picked_best_level": float(np.mean(best_level)) if best_level else 0.0,
        "answered": len(best_level),
        "oracle_levels": dict(oracle_levels.most_common()),
        "auto_levels": dict(auto_levels.most_common()),
    }


def _errors(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        for name, message in record.errors.items():
            entry = out.setdefault(name, {"count": 0, "first": message})
            entry["count"] += 1
    return out


# -- output ----------------------------------------------------------------------------


def _columns(task: str, family: str) -> tuple[tuple[str, str], ...]:
    return COLUMNS["corpus"] if task == "corpus" else COLUMNS[family]


def system_table(name: str, report: dict[str, Any]) -> Table:
    """Rows = systems, columns = every task's metrics and latency."""
    table = Table(title=f"{name}: retrieval ({', '.join(f'{t} {n}' for t, n in report['queries'].items())} queries)")
    table.add_column("system")
    tasks = report["tasks"]
    for task, summary in tasks.items():
        for header, _ in _columns(task, summary["family"]):
            table.add_column(f"{task} {header}", justify="right")
    extra = report.get("highlight")
    if extra:
        table.add_column(extra["title"], justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for system in SYSTEMS:
        cells = [f"{tasks[t]['systems'][system][m]:.3f}" for t, s in tasks.items() for _, m in _columns(t, s["family"])]
        if extra:
            cells.append(f"{extra['values'][system]:.3f}")
        lat = report["latency_ms"].get(system)
        cells += [f"{lat['median']:.1f}", f"{lat['p95']:.1f}"] if lat else ["—", "—"]
        table.add_row(system, *cells)
    return table


def group_table(name: str, report: dict[str, Any]) -> Table:
    """R@1 per query kind (IoU >= 0.5 for moments): rows = kinds, columns = systems."""
    table = Table(title=f"{name}: R@1 per query kind (moments at IoU ≥ 0.5)")
    table.add_column("kind")
    table.add_column("n", justify="right")
    for system in SYSTEMS:
        table.add_column(system, justify="right")
    for group, summary in report["groups"].items():
        metric = PRIMARY[summary["family"]]
        values = [f"{summary['systems'][s][metric]:.2f}" for s in SYSTEMS]
        table.add_row(group, str(summary["count"]), *values)
    return table


def latency_table(name: str, report: dict[str, Any]) -> Table:
    """Median and p95 ms per task: rows = systems, columns = tasks."""
    by_task = report["latency_by_task"]
    table = Table(title=f"{name}: latency per task, p50 / p95 ms")
    table.add_column("system")
    for task in by_task:
        table.add_column(task, justify="right")
    for system in SYSTEMS:
        cells = [by_task[task].get(system) for task in by_task]
        table.add_row(system, *[f"{c['median']:.1f} / {c['p95']:.1f}" if c else "—" for c in cells])
    return table


def routing_table(name: str, report: dict[str, Any]) -> Table:
    """AUTO's confusion matrix: rows = true level, columns = chosen level."""
    route = report["routing"]["AUTO"]
    chosen = [level.label for level in Level]
    chosen += sorted({c for row in route["confusion"].values() for c in row} - set(chosen))
    table = Table(title=f"{name}: AUTO routing")
    table.add_column("true \\ chosen")
    for label in chosen:
        table.add_column(label, justify="right")
    for label, row in route["confusion"].items():
        table.add_row(label, *[str(row.get(c, 0)) for c in chosen])
    return table


def routing_line(report: dict[str, Any]) -> str:
    """Routing accuracy of each routed system over the queries labelled with a level."""
    parts = [f"{name} {r['accuracy']:.3f}" for name, r in report["routing"].items()]
    return f"accuracy over {report['routing']['AUTO']['labelled']} labelled queries: {', '.join(parts)}"


def oracle_table(name: str, report: dict[str, Any]) -> Table:
    """Per query kind: how often AUTO is as good as the oracle, and the levels each picks."""
    table = Table(title=f"{name}: AUTO against the oracle")
    headers = ("kind", "n", "AUTO R@1", "oracle R@1", "AUTO as good", "AUTO at best level", "AUTO levels",
               "oracle levels")  # fmt: skip
    for header in headers:
        table.add_column(header, justify="left" if header in ("kind", "AUTO levels", "oracle levels") else "right")
    for group, gap in report["oracle"].items():
        summary = report["groups"][group]
        metric = PRIMARY[summary["family"]]
        table.add_row(group, str(gap["count"]), f"{summary['systems']['AUTO'][metric]:.2f}",
                      f"{summary['systems']['oracle'][metric]:.2f}", f"{gap['auto_as_good']:.2f}",
                      f"{gap['auto_picked_best_level']:.2f}",
                      _counts(gap["auto_levels"]), _counts(gap["oracle_levels"]))  # fmt: skip
    return table


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{label}:{n}" for label, n in counts.items())


def _highlight_half_structure(report: dict[str, Any]) -> None:
    """Add R@1 over the half queries that count or order (soccer) to the report."""
    groups = [g for g in ("half/count", "half/ordinal") if g in report["groups"]]
    if not groups:
        return
    weights = [report["groups"][g]["count"] for g in groups]
    values = {
        s: float(np.average([report["groups"][g]["systems"][s]["r1"] for g in groups], weights=weights))
        for s in SYSTEMS
    }
    report["highlight"] = {"title": "half cnt/ord R1", "groups": groups, "values": values}


def renderables(name: str, report: dict[str, Any]) -> list[RenderableType]:
    """The tables of one data set and a line of sizes and timings."""
    out: list[RenderableType] = [system_table(name, report), latency_table(name, report)]
    if set(report["groups"]) != set(report["tasks"]):
        out.append(group_table(name, report))
    out += [routing_table(name, report), routing_line(report), oracle_table(name, report)]
    timing = ", ".join(f"{k} {v:.1f}" for k, v in report["timing"].items())
    out.append(f"{name}: {report['videos']} videos, nodes {report['nodes']}; {timing}; wall {report['wall_s']:.1f}s")
    out += [f"[yellow]{system}: {err['count']} queries failed, first: {err['first']}[/yellow]"
            for system, err in report["errors"].items()]  # fmt: skip
    return out


def evaluate(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build one data set's library, run its queries, and return its report."""
    began = time.perf_counter()
    if name == "soccer" and args.seeds:
        libraries = [soccer_data(args.matches, seed) for seed in args.seeds]
        report = run_pooled([(v, spread(p, args.max_queries)) for v, p in libraries], args.top_k)
    else:
        if name == "soccer":
            videos, probes = soccer_data(args.matches, args.seed)
        else:
            videos, probes = anet_data(args.anet_videos, args.captions_index, args.captions_queries)
        report = run_dataset(videos, spread(probes, args.max_queries), args.top_k)
    _highlight_half_structure(report)
    return report | {"wall_s": time.perf_counter() - began}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.evaluate.retrieval", description=__doc__)
    parser.add_argument("--dataset", choices=("soccer", "anet", "both"), default="both")
    parser.add_argument("--matches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=(),
        help="comma-separated soccer seeds: one library each, their queries pooled into one "
        "table (a query kind holds a handful of queries per library); replaces --seed",
    )
    parser.add_argument("--anet-videos", type=int, default=200)
    parser.add_argument(
        "--captions-index",
        type=_annotations,
        default=anet.DEFAULT_PATH,
        help="the annotation whose sentences describe the library's windows (default: ActivityNet val_1); "
        "any dense-captions set in its format, {video_id: {duration, timestamps, sentences}}, runs the same protocol",
    )
    parser.add_argument(
        "--captions-queries",
        type=_annotations,
        default=ANET_VAL_2,
        help="the annotation whose sentences and paragraphs are the queries (default: ActivityNet val_2)",
    )
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--max-queries", type=int, default=0, help="at most N queries per task, spread (0: all)")
    parser.add_argument("--out", type=Path, default=Path("retrieval.json"))
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="intra-op threads of the text encoder (flat-text and AUTO-text embed queries one at a time; "
        "one thread avoids spin-wait stalls on a busy machine)",
    )
    return parser


def _annotations(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no annotation file {text!r}")
    return path


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: evaluate, print the tables, write the JSON."""
    args = _parser().parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)  # before the work, not after it
    torch.set_num_threads(args.torch_threads)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=250)
    results: dict[str, Any] = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    names = ("soccer", "anet") if args.dataset == "both" else (args.dataset,)
    for name in names:
        results[name] = evaluate(name, args)
        for renderable in renderables(name, results[name]):
            console.print(renderable)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
