"""ActivityNet Captions as segments and truth, by the fixed protocol of the evaluation.

- Library: the first N video ids of ``anet_val_1.json`` in sorted order.
- Atomic segments: consecutive 2-second windows ``[2i, 2i+2)`` s clipped to the
  duration. A window's text is the val_1 sentences whose span (clipped to the duration)
  contains the window's midpoint (ends included), joined in order of start time; a
  window no sentence covers gets ``"no description"``. Vectors come from the default
  text encoder. No hints and no attributes: every level is detected.
- Truth: val_1 events overlap, so the true boundaries are the sorted unique event start
  and end times strictly inside the video (clipped to the duration, rounded to ms); the
  true spans tile the video between them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy.builder import VideoSegments
from tools.evaluate.metrics import Span, spans_from_boundaries
from tools.evaluate.segmentation import Case

log = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "anet_val_1.json"
WINDOW_MS = 2_000
NO_DESCRIPTION = "no description"


def load(path: Path = DEFAULT_PATH) -> dict[str, dict[str, Any]]:
    """The annotation file: ``{video_id: {duration, timestamps, sentences}}``."""
    with Path(path).open(encoding="utf-8") as handle:
        return json.load(handle)


def first_ids(data: dict[str, Any], count: int) -> list[str]:
    """The first ``count`` video ids in sorted order."""
    return sorted(data)[:count]


def duration_ms(video: dict[str, Any]) -> int:
    """The video's duration in ms."""
    return round(float(video["duration"]) * 1000)


def windows(total_ms: int) -> list[Span]:
    """Consecutive 2-second windows clipped to the duration."""
    return [(t, min(t + WINDOW_MS, total_ms)) for t in range(0, total_ms, WINDOW_MS)]


def events(video: dict[str, Any]) -> list[tuple[float, float, str]]:
    """The video's events as (start s, end s, sentence), clipped, in order of start time."""
    total = float(video["duration"])
    spans = [(max(0.0, float(s)), min(float(e), total)) for s, e in video["timestamps"]]
    rows = [(s, e, text.strip()) for (s, e), text in zip(spans, video["sentences"], strict=True)]
    return sorted(rows, key=lambda r: r[0])  # stable: ties keep the file's order


def window_texts(video: dict[str, Any], spans: list[Span]) -> list[str]:
    """Each window's text: the sentences covering its midpoint, else ``no description``."""
    evs = events(video)
    texts = []
    for start, end in spans:
        mid = (start + end) / 2000.0
        covering = [text for s, e, text in evs if s <= mid <= e]
        texts.append(" ".join(covering) if covering else NO_DESCRIPTION)
    return texts


def true_boundaries(video: dict[str, Any]) -> list[int]:
    """Unique event start and end times strictly inside the video, in ms, sorted."""
    total = duration_ms(video)
    times = {round(t * 1000) for s, e, _ in events(video) for t in (s, e)}
    return sorted(t for t in times if 0 < t < total)


def video_case(video_id: str, video: dict[str, Any], vectors: np.ndarray) -> Case:
    """One video as builder input with its event truth."""
    spans = windows(duration_ms(video))
    n = len(spans)
    segments = VideoSegments(
        starts=np.array([s for s, _ in spans], np.int64),
        ends=np.array([e for _, e in spans], np.int64),
        vectors=vectors,
        attributes=[{} for _ in range(n)],
        labels=[[] for _ in range(n)],
        texts=window_texts(video, spans),
        shot_cuts=np.zeros(n, bool),
    )
    truth = spans_from_boundaries(true_boundaries(video), 0, duration_ms(video))
    return Case(video_id, segments, {"event": truth})


def cases(count: int, path: Path = DEFAULT_PATH) -> list[Case]:
    """The first ``count`` videos as cases, texts embedded by the default text encoder."""
    from hierarchy.encoder import get_encoder

    data = load(path)
    ids = first_ids(data, count)
    texts = {vid: window_texts(data[vid], windows(duration_ms(data[vid]))) for vid in ids}
    flat = [t for vid in ids for t in texts[vid]]
    log.info("embedding %d window texts of %d videos", len(flat), len(ids))
    matrix = get_encoder().encode(flat)
    out, offset = [], 0
    for vid in ids:
        n = len(texts[vid])
        out.append(video_case(vid, data[vid], matrix[offset : offset + n]))
        offset += n
    return out
