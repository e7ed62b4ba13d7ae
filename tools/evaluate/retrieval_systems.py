"""What the retrieval benchmark runs: the libraries and queries of each data set, and the
systems it compares, run in-process against one database.

Data sets: generated soccer matches (captions embedded by the default text encoder, with
their labels and attributes; queries with planted truth) and ActivityNet Captions by
EVALUATION.md §1.2 (library = the first N val_1 ids in sorted order as 2-s windows,
``tools.evaluate.anet``; moment queries = val_2 sentences, once in their video and once
over the library; video queries = val_2 paragraphs).

Systems:

- ``flat`` and ``level=L``: search forced to one level of the library (flat is SEGMENT);
- ``window-10s``: a second collection holding fixed 10-second windows of the same
  segments (each window the normalised mean of the segment vectors that start inside it,
  its text the segments' texts joined), searched at SEGMENT level;
- ``collapsed``: every level searched for ``top_k`` and the hits merged by raw similarity;
- ``AUTO``: the router, given the query text (parsed), its vector (which scores) and a
  vector for each part of the text (a paragraph's sentences, a sequence's events), all
  embedded before the clock starts, as a client with its own model sends them (before
  the search API took part vectors, the server embedded the parts inside AUTO's time);
- ``AUTO-text``: the router given the text alone, so it embeds the phrase it parsed and
  the parts.

Hits are asked for without evidence or ancestors (no metric reads them), so latencies
measure ranking. The oracle needs the truth: ``tools.evaluate.retrieval`` picks it from
the level runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy.db import Database
from hierarchy.encoder import get_encoder
from hierarchy.errors import StrataError
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, Node, SearchQuery, SegmentInput
from tools import soccer
from tools.evaluate import anet

log = logging.getLogger(__name__)

TruthSpan = tuple[str, int, int]
ANET_VAL_2 = anet.DEFAULT_PATH.with_name("anet_val_2.json")
LIBRARY = "library"
WINDOWS = "windows-10s"
WINDOW_MS = 10_000
LEVELS = tuple(Level)
SYSTEMS = (
    "flat",
    "window-10s",
    "collapsed",
    *(f"level={level.label}" for level in LEVELS[1:]),
    "AUTO",
    "flat-text",
    "AUTO-text",
    "oracle",
)


@dataclass(frozen=True)
class Probe:
    """One query with its truth: ``family`` is moment or item; ``task`` names its table
    columns; ``group`` its kind; ``label`` its true level (or a description)."""

    id: str
    text: str
    task: str
    family: str
    group: str
    label: str
    truth: tuple[TruthSpan, ...]
    level: Level | None = None
    video_ids: tuple[str, ...] = ()


@dataclass
class VideoData:
    """One video of a library: its duration and its atomic segments (with vectors)."""

    video_id: str
    duration_ms: int
    segments: list[SegmentInput]


@dataclass(frozen=True)
class Found:
    """One returned hit, reduced to what the metrics read."""

    video_id: str
    start_ms: int
    end_ms: int
    level: Level
    similarity: float


@dataclass
class Answer:
    """A system's ranked hits for one query, its latency, and its route (routed systems)."""

    hits: list[Found]
    latency_ms: float
    route: Level | None = None
    error: str = ""


@dataclass(frozen=True)
class Request:
    """One query as the systems receive it."""

    text: str
    vector: np.ndarray
    video_ids: tuple[str, ...] = ()
    # A vector per part of the text (``router.parts``: a description's sentences, a
    # sequence's events) from the model that gave ``vector``: what a client that embeds
    # with its own model sends with a routed search.
    parts: tuple[np.ndarray, ...] = ()
    # The query asks for a video: every one-level system ranks videos by their best node
    # (group_by_video, one a video), as a flat system answering it would.
    videos: bool = False


@dataclass
class BuildTimes:
    """Seconds spent loading the library."""

    ingest_s: float = 0.0
    build_s: float = 0.0
    windows_s: float = 0.0
    node_counts: dict[str, int] = field(default_factory=dict)


def window_segments(video: VideoData, window_ms: int = WINDOW_MS) -> list[SegmentInput]:
    """Fixed windows of ``window_ms`` from 0: the segments starting inside each, pooled.

    A window spans its first segment's start to its last segment's end; windows holding
    no segment (a gap in the video) are dropped.
    """
    groups: dict[int, list[SegmentInput]] = {}
    for seg in video.segments:
        groups.setdefault(seg.start_ms // window_ms, []).append(seg)
    return [_pooled(video.video_id, members) for _, members in sorted(groups.items())]


def _pooled(video_id: str, members: list[SegmentInput]) -> SegmentInput:
    mean = np.mean(np.stack([np.asarray(m.vector, np.float32) for m in members]), axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    text = " ".join(m.text for m in members if m.text)
    return SegmentInput(video_id, members[0].start_ms, members[-1].end_ms, mean.astype(np.float32), text)


def load_library(db: Database, videos: Sequence[VideoData]) -> BuildTimes:
    """Create the library and the 10-second window collection, ingest and build every video."""
    times = BuildTimes()
    space = EmbeddingSpace(0, text_encoder="default")
    db.create_collection(LIBRARY, space)
    db.create_collection(WINDOWS, space)
    for video in videos:
        began = time.perf_counter()
        _ingest(db, LIBRARY, video.video_id, video.duration_ms, video.segments)
        times.ingest_s += time.perf_counter() - began
        began = time.perf_counter()
        for level, count in db.build_video(LIBRARY, video.video_id).items():
            times.node_counts[level.label] = times.node_counts.get(level.label, 0) + count
        times.build_s += time.perf_counter() - began
        began = time.perf_counter()
        _ingest(db, WINDOWS, video.video_id, video.duration_ms, window_segments(video))
        times.windows_s += time.perf_counter() - began
    times.node_counts[Level.SEGMENT.label] = sum(len(v.segments) for v in videos)
    log.info("loaded %d videos: %s", len(videos), times.node_counts)
    return times


def _ingest(db: Database, collection: str, video_id: str, duration_ms: int, segments: list[SegmentInput]) -> None:
    db.create_video(collection, video_id, duration_ms)
    step = db.options.max_batch
    for lo in range(0, len(segments), step):
        db.append_segments(collection, segments[lo : lo + step])


class Runner:
    """Runs one request against every system (but the oracle) and times each."""

    def __init__(self, db: Database, top_k: int = 10) -> None:
        self.db = db
        self.top_k = top_k

    def run(self, request: Request) -> dict[str, Answer]:
        """Every system's answer to ``request``, keyed by system name (levels as ``level=L``)."""
        answers = {f"level={level.label}": self.at_level(request, level) for level in LEVELS}
        answers["flat"] = answers["level=segment"]
        answers["window-10s"] = self.windows(request)
        answers["collapsed"] = collapse([answers[f"level={level.label}"] for level in LEVELS], self.top_k)
        answers["AUTO"] = self.auto(request, with_vector=True)
        # Given the text alone, each embeds it first: the encoder forgets it before each.
        get_encoder().forget()
        answers["flat-text"] = self._timed(self._level_query(request, Level.SEGMENT, by_text=True))
        get_encoder().forget()
        answers["AUTO-text"] = self.auto(request, with_vector=False)
        return answers

    def at_level(self, request: Request, level: Level) -> Answer:
        """Search forced to ``level`` of the library."""
        return self._timed(self._level_query(request, level))

    def _level_query(self, request: Request, level: Level, by_text: bool = False) -> SearchQuery:
        """A search of one level of the library by the request's vector, or by its text."""
        text, vector = (request.text, None) if by_text else ("", request.vector)
        query = SearchQuery(LIBRARY, level, text=text, vector=vector, top_k=self.top_k, filter=_filter(request))
        return replace(query, include_evidence=False, group_by_video=request.videos, group_size=1)

    def windows(self, request: Request) -> Answer:
        """Search the fixed-window collection."""
        query = SearchQuery(WINDOWS, Level.SEGMENT, vector=request.vector, top_k=self.top_k, filter=_filter(request))
        return self._timed(replace(query, include_evidence=False, group_by_video=request.videos, group_size=1))

    def auto(self, request: Request, with_vector: bool) -> Answer:
        """Routed search: the text is always parsed; the vector (and the parts' vectors, like
        it embedded by the client) scores when given, else the server embeds the text."""
        vector, parts = (request.vector, request.parts) if with_vector else (None, ())
        query = SearchQuery(
            LIBRARY, text=request.text, vector=vector, top_k=self.top_k, filter=_filter(request), mode=Mode.AUTO
        )
        return self._timed(replace(query, include_evidence=False, part_vectors=parts))

    def _timed(self, query: SearchQuery) -> Answer:
        began = time.perf_counter()
        try:
            result = self.db.search(query)
        except (StrataError, NotImplementedError) as exc:  # a system that cannot answer scores zero, and says why
            return Answer([], (time.perf_counter() - began) * 1000, error=f"{type(exc).__name__}: {exc}")
        elapsed = (time.perf_counter() - began) * 1000
        grouped = [hit for group in result.groups for hit in group.hits]
        hits = [_found(hit.node, hit.similarity) for hit in result.hits or grouped]
        route = result.route.levels[0] if query.mode is Mode.AUTO and result.route.levels else None
        return Answer(hits, elapsed, route)


def collapse(answers: Sequence[Answer], top_k: int) -> Answer:
    """Hits of several levels in one list by raw similarity; the latency is the sum."""
    pool = sorted((hit for a in answers for hit in a.hits), key=lambda h: -h.similarity)
    errors = "; ".join(a.error for a in answers if a.error)
    return Answer(pool[:top_k], sum(a.latency_ms for a in answers), error=errors)


def _filter(request: Request) -> Filter:
    return Filter(video_ids=request.video_ids)


def _found(node: Node, similarity: float) -> Found:
    return Found(node.video_id, node.start_ms, node.end_ms, Level(node.level), float(similarity))


# -- data sets -------------------------------------------------------------------------


def soccer_data(matches: int, seed: int) -> tuple[list[VideoData], list[Probe]]:
    """Generated matches as videos (captions embedded), and their queries as probes."""
    data = soccer.generate(matches, seed, vectors="none")
    vectors = get_encoder().encode([row["text"] for row in data.segments])
    videos: dict[str, VideoData] = {}
    for row, vector in zip(data.segments, vectors, strict=True):
        video = videos.setdefault(row["video_id"], VideoData(row["video_id"], row["video_duration_ms"], []))
        video.segments.append(_soccer_segment(row, vector))
    return list(videos.values()), [_soccer_probe(q) for q in data.queries]


def _soccer_segment(row: dict[str, Any], vector: np.ndarray) -> SegmentInput:
    return SegmentInput(row["video_id"], row["start_ms"], row["end_ms"], vector, row["text"],
                        list(row["labels"]), dict(row["attributes"]))  # fmt: skip


def _soccer_probe(query: dict[str, Any]) -> Probe:
    level = Level.parse(query["level"])
    family = "moment" if level in (Level.SEGMENT, Level.SCENE) else "item"
    truth = tuple((t["video_id"], t["start_ms"], t["end_ms"]) for t in query["truth"])
    scope = (query["video_id"],) if query.get("video_id") else ()
    return Probe(query["id"], query["text"], family, family, f"{level.label}/{query['kind']}", level.label,
                 truth, level, scope)  # fmt: skip


def anet_data(
    count: int, val_1: Path = anet.DEFAULT_PATH, val_2: Path = ANET_VAL_2
) -> tuple[list[VideoData], list[Probe]]:
    """The first ``count`` val_1 videos as 2-s windows, and val_2's sentences and paragraphs."""
    library, queries = anet.load(val_1), anet.load(val_2)
    ids = anet.first_ids(library, count)
    spans = {vid: anet.windows(anet.duration_ms(library[vid])) for vid in ids}
    texts = {vid: anet.window_texts(library[vid], spans[vid]) for vid in ids}
    vectors = get_encoder().encode([t for vid in ids for t in texts[vid]])
    videos, offset = [], 0
    for vid in ids:
        rows = [SegmentInput(vid, s, e, vectors[offset + i], texts[vid][i]) for i, (s, e) in enumerate(spans[vid])]
        videos.append(VideoData(vid, anet.duration_ms(library[vid]), rows))
        offset += len(rows)
    # Truth spans are clipped to the library video's duration.
    totals = {video.video_id: video.duration_ms for video in videos}
    probes = [p for vid in ids if vid in queries for p in _anet_probes(vid, queries[vid], totals[vid])]
    return videos, probes


def _anet_probes(video_id: str, annotation: dict[str, Any], total_ms: int) -> list[Probe]:
    sentences = [s.strip() for s in annotation["sentences"]]
    out = []
    for i, ((start, end), text) in enumerate(zip(annotation["timestamps"], sentences, strict=True)):
        span = (max(0, round(float(start) * 1000)), min(total_ms, round(float(end) * 1000)))
        if span[1] <= span[0] or not text:
            log.warning("skipping %s sentence %d: empty span or text", video_id, i)
            continue
        truth = ((video_id, *span),)
        out.append(Probe(f"{video_id}#{i}", text, "in-video", "moment", "in-video", "moment (in-video)",
                         truth, None, (video_id,)))  # fmt: skip
        out.append(Probe(f"{video_id}#{i}@corpus", text, "corpus", "moment", "corpus", "moment (corpus)", truth))
    paragraph = " ".join(s for s in sentences if s)
    out.append(Probe(f"{video_id}", paragraph, "video", "item", "video", "video", ((video_id, 0, total_ms),),
                     Level.VIDEO))  # fmt: skip
    return out


def spread(probes: Sequence[Probe], limit: int) -> list[Probe]:
    """At most ``limit`` probes of each task, evenly spaced over the list (0: all)."""
    if limit <= 0:
        return list(probes)
    by_task: dict[str, list[int]] = {}
    for i, probe in enumerate(probes):
        by_task.setdefault(probe.task, []).append(i)
    keep: set[int] = set()
    for members in by_task.values():
        picks = np.linspace(0, len(members) - 1, min(limit, len(members))).round().astype(int)
        keep |= {members[j] for j in picks}
    return [probes[i] for i in sorted(keep)]
