"""The segmentation harness: ActivityNet protocol details, fixed windows, an end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools.evaluate import anet, segmentation

VIDEO = {
    "duration": 9.5,
    "timestamps": [[2.5, 7.0], [0.0, 4.0], [6.0, 12.0]],
    "sentences": [" B runs.", "A starts.", " C ends."],
}


def test_windows_are_two_seconds_clipped_to_the_duration() -> None:
    assert anet.windows(9500) == [(0, 2000), (2000, 4000), (4000, 6000), (6000, 8000), (8000, 9500)]


def test_window_text_joins_covering_sentences_by_start_time() -> None:
    texts = anet.window_texts(VIDEO, anet.windows(9500))
    # midpoints 1, 3, 5, 7, 8.75 s; spans are clipped to 9.5 s and include their ends
    assert texts == ["A starts.", "A starts. B runs.", "B runs.", "B runs. C ends.", "C ends."]


def test_uncovered_windows_say_no_description() -> None:
    video = {"duration": 6.0, "timestamps": [[0.0, 2.5]], "sentences": ["only"]}
    assert anet.window_texts(video, anet.windows(6000)) == ["only", "no description", "no description"]


def test_true_boundaries_are_unique_inner_event_edges() -> None:
    assert anet.true_boundaries(VIDEO) == [2500, 4000, 6000, 7000]


def test_first_ids_are_sorted() -> None:
    assert anet.first_ids({"v_b": {}, "v_a": {}, "v_c": {}}, 2) == ["v_a", "v_b"]


def test_fixed_windows_cover_whole_segments_and_skip_empty_windows() -> None:
    starts = np.array([0, 2000, 4000, 6000, 30_000, 32_000])
    segs = segmentation.VideoSegments(
        starts=starts,
        ends=starts + 2000,
        vectors=np.zeros((6, 2), np.float32),
        attributes=[{}] * 6,
        labels=[[]] * 6,
        texts=[""] * 6,
        shot_cuts=np.zeros(6, bool),
    )
    # windows of 5 s: [0, 5) holds the segments starting at 0, 2 and 4 s; [5, 10) the one
    # at 6 s; [30, 35) the last two; the windows in between are empty
    assert segmentation.fixed_windows(segs, 5000) == [(0, 6000), (6000, 8000), (30_000, 34_000)]


@pytest.mark.skipif(not anet.DEFAULT_PATH.exists(), reason="ActivityNet Captions annotations not present")
def test_runs_end_to_end_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "not-yet" / "results.json"  # a directory that does not exist yet is made
    argv = ["--dataset", "both", "--matches", "1", "--vectors", "random", "--anet-videos", "3", "--out", str(out)]
    assert segmentation.main(argv) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"soccer", "anet"}
    soccer_levels = [row["level"] for row in results["soccer"]["rows"]]
    assert soccer_levels == [row.name for row in segmentation.SOCCER_ROWS]
    assert [row["level"] for row in results["anet"]["rows"]] == ["scene", "drive"]
    for dataset in results.values():
        assert {"median_s", "per_2700_segments_s", "videos"} <= set(dataset["build_time"])
        for row in dataset["rows"]:
            for method in ("detected", "fixed"):
                assert {"f1@1s", "f1@3s", "f1@5s", "pk", "window_diff", "count_ratio"} <= set(row[method])
    assert results["anet"]["build_time"]["videos"] == 3
    halves = next(r for r in results["soccer"]["rows"] if r["level"] == "half, period")
    assert halves["detected"]["f1@1s"] == 1.0
