"""The retrieval harness: its metric helpers on hand-made cases, and one small run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hierarchy.types import Level, SegmentInput
from tools.evaluate import anet, retrieval
from tools.evaluate.retrieval import (
    as_good,
    hit_iou,
    iou,
    is_item,
    item_scores,
    moment_scores,
    oracle_pick,
    recall_at,
    reciprocal_rank,
)
from tools.evaluate.retrieval_systems import SYSTEMS, Answer, Found, Probe, VideoData, collapse, window_segments


def found(video: str, start: int, end: int, level: Level = Level.SEGMENT, similarity: float = 0.0) -> Found:
    return Found(video, start, end, level, similarity)


# -- metric helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (5, 15), 5 / 15),
        ((0, 10), (10, 20), 0.0),
        ((0, 10), (2, 4), 0.2),
        ((0, 0), (0, 0), 0.0),
    ],
    ids=["same", "half-overlap", "touching", "inside", "empty"],
)
def test_iou(a: tuple[int, int], b: tuple[int, int], expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_hit_iou_takes_the_best_truth_of_the_same_video_only() -> None:
    truth = [("v1", 0, 10), ("v1", 100, 110), ("v2", 0, 4)]
    assert hit_iou(found("v1", 100, 110), truth) == 1.0
    assert hit_iou(found("v2", 0, 8), truth) == pytest.approx(0.5)
    assert hit_iou(found("v3", 0, 10), truth) == 0.0


def test_recall_and_reciprocal_rank() -> None:
    assert recall_at([False, True, False], 1) == 0.0
    assert recall_at([False, True, False], 2) == 1.0
    assert recall_at([], 5) == 0.0
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False]) == 0.0


def test_moment_scores_use_both_thresholds_and_the_top_hit_iou() -> None:
    truth = [("v", 0, 10_000)]
    hits = [found("v", 0, 16_000), found("v", 0, 12_000), found("w", 0, 10_000)]
    scores = moment_scores(hits, truth)
    assert scores["r1@0.5"] == 1.0 and scores["r1@0.7"] == 0.0  # IoU 0.625
    assert scores["r5@0.7"] == 1.0  # the second hit has IoU 0.83
    assert scores["iou"] == pytest.approx(0.625)
    assert moment_scores([], truth) == {**{k: 0.0 for k in scores}}


def test_an_item_is_its_video_at_video_level_and_an_overlapping_span_below() -> None:
    truth = [("v", 0, 10_000)]
    assert is_item(found("v", 5_000, 6_000), truth, Level.VIDEO)
    assert not is_item(found("w", 0, 10_000), truth, Level.VIDEO)
    assert is_item(found("v", 0, 8_000), truth, Level.HALF)
    assert not is_item(found("v", 0, 4_000), truth, Level.HALF)
    scores = item_scores([found("w", 0, 1), found("v", 0, 10_000)], truth, Level.DRIVE)
    assert scores == {"r1": 0.0, "r5": 1.0, "mrr": 0.5}


def test_a_video_is_ranked_among_the_distinct_videos_of_a_list() -> None:
    """Moments of one video ahead of the truth's push it down one place, not one each."""
    truth = [("a", 0, 1)]
    hits = [found("b", 0, 1), found("b", 1, 2), found("b", 2, 3), found("c", 0, 1), found("c", 1, 2), found("a", 0, 1)]
    assert item_scores(hits, truth, Level.VIDEO) == {"r1": 0.0, "r5": 1.0, "mrr": pytest.approx(1 / 3)}
    assert item_scores(hits, [("v", 0, 10)], Level.HALF)["mrr"] == 0.0  # (below video: hit by hit)


def test_auto_at_the_best_level_counts_only_probes_some_level_answers() -> None:
    """Where no level finds the truth every level ties: any route would count as best."""
    missed = {"r1": 0.0, "mrr": 0.0, "r5": 0.0}
    probe = Probe("p1", "a corner", "item", "item", "drive/outcome", "drive", (("v", 0, 1),))
    answered = retrieval.Record({"AUTO": missed, "oracle": missed}, routes={"AUTO": "drive"})
    answered.oracle_best, answered.oracle_label = ("drive",), "drive"
    nowhere = retrieval.Record({"AUTO": missed, "oracle": missed}, routes={"AUTO": "scene"})
    nowhere.oracle_best, nowhere.oracle_label = ("segment", "scene", "drive", "half", "video"), "none"
    gap = retrieval._oracle_gap([(probe, answered), (probe, nowhere)])
    assert (gap["count"], gap["answered"], gap["auto_picked_best_level"]) == (2, 1, 1.0)
    gap = retrieval._oracle_gap([(probe, nowhere)])
    assert (gap["answered"], gap["auto_picked_best_level"]) == (0, 0.0)  # not 1.0: no route found it


def test_oracle_picks_the_best_level_and_reports_ties() -> None:
    low = {"r1": 0.0, "mrr": 0.5, "r5": 1.0}
    high = {"r1": 1.0, "mrr": 1.0, "r5": 1.0}
    scores, tied = oracle_pick("item", {"level=segment": low, "level=half": high, "level=video": dict(high)})
    assert scores == high and tied == ("level=half", "level=video")
    assert as_good("item", high, scores) and not as_good("item", low, scores)


# -- systems -----------------------------------------------------------------------------


def test_ten_second_windows_pool_the_segments_that_start_inside_them() -> None:
    segs = [
        SegmentInput("v", 0, 6_000, np.array([1.0, 0.0], np.float32), "a"),
        SegmentInput("v", 6_000, 12_000, np.array([0.0, 1.0], np.float32), "b"),
        SegmentInput("v", 30_000, 32_000, np.array([0.0, 2.0], np.float32), "c"),
    ]
    windows = window_segments(VideoData("v", 40_000, segs))
    assert [(w.start_ms, w.end_ms, w.text) for w in windows] == [(0, 12_000, "a b"), (30_000, 32_000, "c")]
    assert np.allclose(windows[0].vector, [2**-0.5, 2**-0.5]) and np.allclose(windows[1].vector, [0.0, 1.0])


def test_collapse_merges_levels_by_raw_similarity() -> None:
    seg = Answer([found("v", 0, 1, similarity=0.9), found("v", 1, 2, similarity=0.2)], 1.0)
    half = Answer([found("v", 0, 9, Level.HALF, similarity=0.5)], 2.0)
    merged = collapse([seg, half], top_k=2)
    assert [h.similarity for h in merged.hits] == [0.9, 0.5]
    assert merged.latency_ms == 3.0


# -- end to end --------------------------------------------------------------------------

RATES = ("r1", "r5", "mrr", "iou", "r1@0.5", "r1@0.7", "r5@0.5", "r5@0.7", "r10@0.5")


def _rates(node: object) -> list[float]:
    """Every value under a metric key, anywhere in the report."""
    if isinstance(node, list):
        return [x for item in node for x in _rates(item)]
    if not isinstance(node, dict):
        return []
    named = RATES + ("accuracy", "auto_as_good", "auto_picked_best_level")
    own = [float(v) for k, v in node.items() if k in named and isinstance(v, (int, float))]
    return own + [x for v in node.values() for x in _rates(v)]


def test_harness_runs_end_to_end_on_soccer_and_activitynet(tmp_path: Path) -> None:
    out = tmp_path / "not-yet" / "results.json"  # a directory that does not exist yet is made
    # The ActivityNet annotations sit beside the project, not in it: without them, soccer alone.
    both = anet.DEFAULT_PATH.exists()
    dataset = "both" if both else "soccer"
    argv = ["--dataset", dataset, "--matches", "1", "--seed", "3", "--anet-videos", "3", "--max-queries", "12"]
    assert retrieval.main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    expected = {"soccer": {"moment", "item"}, "anet": {"in-video", "corpus", "video"}}
    if not both:
        del expected["anet"]
    for name, tasks in expected.items():
        data = report[name]
        assert set(data["tasks"]) == tasks
        for task in data["tasks"].values():
            assert set(task["systems"]) == set(SYSTEMS)
            family = retrieval.ORACLE_KEYS[task["family"]]
            assert all(set(family) <= set(metrics) for metrics in task["systems"].values())
        assert set(data["latency_ms"]) == set(SYSTEMS) - {"oracle"}
        assert set(data["latency_by_task"]) == tasks
        assert all(set(by) == set(SYSTEMS) - {"oracle"} for by in data["latency_by_task"].values())
        assert set(data["routing"]) == {"AUTO", "AUTO-text"}
        assert "confusion" in data["routing"]["AUTO"]
    rates = _rates(report)
    assert rates and all(0.0 <= v <= 1.0 for v in rates)
    assert "half cnt/ord R1" == report["soccer"]["highlight"]["title"]


def test_any_dense_captions_set_in_the_activitynet_format_runs_the_same_protocol(tmp_path: Path) -> None:
    """Held-back annotation sets (cooking steps, match events …) in ActivityNet's format
    run through the same protocol: one annotation describes the library, the other asks."""
    index = {
        "cook-1": {"duration": 30.0, "timestamps": [[0, 12], [12, 30]],
                   "sentences": ["Chop the onions on a board.", " Fry them in a pan with oil."]},
        "cook-2": {"duration": 20.0, "timestamps": [[0, 8], [8, 20]],
                   "sentences": ["Boil water in a pot.", "Add the pasta and stir."]},
    }  # fmt: skip
    queries = {
        "cook-1": {"duration": 30.0, "timestamps": [[1, 11], [13, 29]],
                   "sentences": ["Someone cuts onions.", "The onions are fried."]},
        "cook-2": {"duration": 20.0, "timestamps": [[9, 20]], "sentences": ["Pasta goes into the pot."]},
    }  # fmt: skip
    paths = []
    for name, data in (("index", index), ("queries", queries)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "captions.json"
    argv = ["--dataset", "anet", "--anet-videos", "5", "--captions-index", str(paths[0])]
    assert retrieval.main([*argv, "--captions-queries", str(paths[1]), "--out", str(out)]) == 0
    report = json.loads(out.read_text())["anet"]
    assert report["videos"] == 2
    assert report["queries"] == {"in-video": 3, "corpus": 3, "video": 2}
    assert {row["id"] for row in report["per_query"]} >= {"cook-1#0", "cook-1#1", "cook-2#0", "cook-1", "cook-2"}
    with pytest.raises(SystemExit):
        retrieval.main([*argv, "--captions-queries", str(tmp_path / "absent.json"), "--out", str(out)])


def test_seeds_pool_the_queries_of_one_library_per_seed(tmp_path: Path) -> None:
    base = ["--dataset", "soccer", "--matches", "1", "--max-queries", "6"]
    single = {}
    for seed in (3, 4):
        out = tmp_path / f"seed-{seed}.json"
        assert retrieval.main([*base, "--seed", str(seed), "--out", str(out)]) == 0
        single[seed] = json.loads(out.read_text())["soccer"]
    out = tmp_path / "pooled.json"
    assert retrieval.main([*base, "--seeds", "3,4", "--out", str(out)]) == 0
    pooled = json.loads(out.read_text())["soccer"]
    assert pooled["videos"] == single[3]["videos"] + single[4]["videos"]
    for task, count in pooled["queries"].items():
        assert count == single[3]["queries"].get(task, 0) + single[4]["queries"].get(task, 0)
    assert len(pooled["per_query"]) == len(single[3]["per_query"]) + len(single[4]["per_query"])
    with pytest.raises(SystemExit):
        retrieval.main([*base, "--seeds", "3,x", "--out", str(out)])
