"""Tests of the synthetic soccer generator: determinism, the planted tree, queries, vectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tools import soccer

LEVELS = {"segment", "scene", "drive", "half", "video"}


@pytest.fixture(scope="module")
def dataset() -> soccer.SoccerDataset:
    return soccer.generate(matches=6, seed=11, vectors="random", dim=64)


def _by_video(segments: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for seg in segments:
        out[seg["video_id"]].append(seg)
    return out


def _inside(spans: list[dict], start: int, end: int) -> int:
    return sum(1 for s in spans if s["start_ms"] <= start and end <= s["end_ms"])


def test_same_seed_gives_identical_files(tmp_path):
    a = soccer.write(soccer.generate(2, seed=5, vectors="random", dim=16), tmp_path / "a")
    b = soccer.write(soccer.generate(2, seed=5, vectors="random", dim=16), tmp_path / "b")
    for name in ("segments.jsonl", "truth.json", "queries.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_output_does_not_depend_on_string_hashing(tmp_path):
    root = Path(__file__).resolve().parents[2]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        args = [
            "--matches",
            "2",
            "--seed",
            "3",
            "--vectors",
            "none",
            "--out",
            str(tmp_path / hash_seed),
        ]
        subprocess.run([sys.executable, "-m", "tools.soccer", *args], cwd=root, env=env, check=True,
                       capture_output=True)  # fmt: skip
    for name in ("segments.jsonl", "truth.json", "queries.jsonl"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_different_seed_gives_different_data():
    a = soccer.generate(1, seed=1, vectors="none")
    b = soccer.generate(1, seed=2, vectors="none")
    assert [s["text"] for s in a.segments] != [s["text"] for s in b.segments]
    assert a.truth["matches"][0]["halves"] != b.truth["matches"][0]["halves"]


def test_a_match_does_not_depend_on_how_many_are_generated():
    one = soccer.generate(1, seed=4, vectors="none")
    three = soccer.generate(3, seed=4, vectors="none")
    assert three.segments[: len(one.segments)] == one.segments


def test_segments_are_contiguous_within_halves(dataset):
    for match in dataset.truth["matches"]:
        segs = _by_video(dataset.segments)[match["video_id"]]
        for (start, end), period in zip(match["halves"], (1, 2), strict=True):
            half = [s for s in segs if start <= s["start_ms"] < end]
            assert half[0]["start_ms"] == start and half[-1]["end_ms"] == end
            assert all(a["end_ms"] == b["start_ms"] for a, b in zip(half, half[1:], strict=False))
            assert all(1500 <= s["end_ms"] - s["start_ms"] <= 2500 for s in half)
            assert {s["attributes"]["period"] for s in half} == {period}
        assert sum(e - s for s, e in match["halves"]) == sum(s["end_ms"] - s["start_ms"] for s in segs)


def test_scenes_and_drives_tile_their_halves(dataset):
    for match in dataset.truth["matches"]:
        halves = [{"start_ms": s, "end_ms": e} for s, e in match["halves"]]
        for key in ("scenes", "drives"):
            spans = match[key]
            for start, end in match["halves"]:
                inner = [s for s in spans if start <= s["start_ms"] < end]
                assert inner[0]["start_ms"] == start and inner[-1]["end_ms"] == end
                pairs = zip(inner, inner[1:], strict=False)
                assert all(a["end_ms"] == b["start_ms"] for a, b in pairs)
                assert all(s["end_ms"] <= end for s in inner)
            assert all(_inside(halves, s["start_ms"], s["end_ms"]) == 1 for s in spans)


def test_every_segment_sits_in_exactly_one_node_per_level(dataset):
    for match in dataset.truth["matches"]:
        halves = [{"start_ms": s, "end_ms": e} for s, e in match["halves"]]
        for seg in _by_video(dataset.segments)[match["video_id"]]:
            start, end = seg["start_ms"], seg["end_ms"]
            assert _inside(match["scenes"], start, end) == 1
            assert _inside(match["drives"], start, end) == 1
            assert _inside(halves, start, end) == 1
            assert end <= match["duration_ms"] == seg["video_duration_ms"]


def test_drives_alternate_teams_and_carry_the_segment_team(dataset):
    for match in dataset.truth["matches"]:
        segs = _by_video(dataset.segments)[match["video_id"]]
        for start, end in match["halves"]:
            drives = [d for d in match["drives"] if start <= d["start_ms"] < end]
            assert all(a["team"] != b["team"] for a, b in zip(drives, drives[1:], strict=False))
        for drive in match["drives"]:
            inner = [s for s in segs if drive["start_ms"] <= s["start_ms"] < drive["end_ms"]]
            assert {s["attributes"]["team"] for s in inner} == {drive["team"]}
        for scene in match["scenes"]:
            assert _inside(match["drives"], scene["start_ms"], scene["end_ms"]) == 1
            assert scene["phase"] in soccer.PHASES


def test_labels_attributes_and_vectors_are_present(dataset):
    for seg in dataset.segments:
        assert list(seg) == [
            "video_id", "start_ms", "end_ms", "text", "vector", "labels", "attributes",
            "video_duration_ms",
        ]  # fmt: skip
        assert len(seg["labels"]) == 1 and seg["labels"][0] in soccer.EVENTS
        attrs = seg["attributes"]
        assert attrs["team"] in ("home", "away") and attrs["period"] in (1, 2)
        minutes, seconds = attrs["clock"].split(":")
        assert int(seconds) < 60 and int(minutes) >= (0 if attrs["period"] == 1 else 45)
        assert len(seg["vector"]) == 64 and seg["text"]
        assert all(round(x, 6) == x for x in seg["vector"])
    texts: dict[str, list[str]] = defaultdict(list)
    for seg in dataset.segments:
        texts[seg["labels"][0]].append(seg["text"])
    assert all(len(set(v)) >= 3 for v in texts.values() if len(v) >= 20)  # varied templates


def test_no_vector_mode_omits_the_vector():
    data = soccer.generate(1, seed=0, vectors="none")
    assert all("vector" not in s for s in data.segments)


def test_half_time_gap_is_the_largest_gap(dataset):
    for match in dataset.truth["matches"]:
        segs = _by_video(dataset.segments)[match["video_id"]]
        pairs = zip(segs, segs[1:], strict=False)
        gaps = [(b["start_ms"] - a["end_ms"], a["end_ms"]) for a, b in pairs]
        widest, at = max(gaps)
        assert at == match["halves"][0][1] and widest >= soccer.BREAK_MS
        assert sorted(g for g, _ in gaps)[-2] == 0


def test_goals_are_rare_and_some_matches_end_with_a_late_winner(dataset):
    matches = dataset.truth["matches"]
    for match in matches:
        assert 0 <= len(match["goals"]) <= 5 and sum(match["score"]) == len(match["goals"])
        goal_drives = [d for d in match["drives"] if d["outcome"] == "goal"]
        assert len(goal_drives) == len(match["goals"])
    assert any(m["stoppage_time_winner"] for m in matches)
    late = next(m for m in matches if m["stoppage_time_winner"])
    assert late["goals"][-1]["period"] == 2 and late["goals"][-1]["clock"] >= "90:00"
    assert abs(late["score"][0] - late["score"][1]) == 1


def _node_spans(match: dict, level: str) -> set[tuple[int, int]]:
    if level in ("scene", "drive"):
        return {(s["start_ms"], s["end_ms"]) for s in match[level + "s"]}
    if level == "half":
        return {tuple(h) for h in match["halves"]}
    return {(0, match["duration_ms"])}


def test_query_truth_spans_exist_in_the_truth_tree(dataset):
    matches = {m["video_id"]: m for m in dataset.truth["matches"]}
    segs = _by_video(dataset.segments)
    assert len({q["id"] for q in dataset.queries}) == len(dataset.queries)
    assert {q["level"] for q in dataset.queries} == LEVELS
    for q in dataset.queries:
        assert q["truth"] and q["text"]
        for span in q["truth"]:
            assert q["video_id"] in (None, span["video_id"])
            match, start, end = matches[span["video_id"]], span["start_ms"], span["end_ms"]
            if q["level"] == "segment":  # a moment of one or two segments in one scene
                starts = {s["start_ms"] for s in segs[span["video_id"]]}
                ends = {s["end_ms"] for s in segs[span["video_id"]]}
                assert start in starts and end in ends and end - start <= 5000
                assert _inside(match["scenes"], start, end) == 1
            else:
                assert (start, end) in _node_spans(match, q["level"])


def test_query_kinds_cover_counts_ordinals_and_scope(dataset):
    kinds = {(q["level"], q["kind"]) for q in dataset.queries}
    for expected in [("half", "count"), ("half", "ordinal"), ("half", "scope"),
                     ("video", "outcome"), ("segment", "event"), ("scene", "phase"),
                     ("drive", "outcome")]:  # fmt: skip
        assert expected in kinds
    late = [q for q in dataset.queries if "stoppage-time" in q["text"] or "added time" in q["text"]]
    assert late and all(q["level"] == "video" for q in late)


def test_no_query_copies_a_caption(dataset):
    captions = {s["text"].lower() for s in dataset.segments}
    joined = "\n".join(captions)
    for q in dataset.queries:
        assert q["text"].lower() not in captions
        assert q["text"].lower() not in joined


def test_random_vectors_are_unit_and_closest_to_their_own_scene(dataset):
    match = dataset.truth["matches"][0]
    segs = _by_video(dataset.segments)[match["video_id"]]
    vectors = np.array([s["vector"] for s in segs], dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scene_of = np.array(
        [
            next(i for i, sc in enumerate(match["scenes"]) if sc["start_ms"] <= s["start_ms"] < sc["end_ms"])
            for s in segs
        ]  # fmt: skip
    )
    means = np.stack([vectors[scene_of == i].mean(axis=0) for i in range(len(match["scenes"]))])
    sims = vectors @ means.T
    own = sims[np.arange(len(segs)), scene_of]
    others = (sims.sum(axis=1) - own) / (len(match["scenes"]) - 1)
    assert own.mean() > others.mean() + 0.2
    assert (sims.argmax(axis=1) == scene_of).mean() > 0.5


def test_random_vectors_fast_path_on_a_scale_tree():
    parents, labels = soccer.scale_tree(100_000, seed=3)
    assert len(parents) == 4 and len(parents[-1]) == len(labels) == 100_000
    for upper, lower in zip(parents, parents[1:], strict=False):
        assert lower.max() + 1 == len(upper) and np.all(np.diff(lower) >= 0)
    vectors = soccer.random_vectors(parents, labels, dim=48, seed=3)
    assert vectors.shape == (100_000, 48) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[::997], axis=1), 1.0, atol=1e-5)
    again = soccer.random_vectors(parents, labels, dim=48, seed=3)
    assert np.array_equal(vectors, again)


def test_tree_parents_match_the_truth(dataset):
    matches = soccer.build_matches(2, seed=11)
    parents, labels = soccer.tree_parents(matches)
    assert [len(p) for p in parents] == [
        sum(len(m.halves) for m in matches),
        sum(len(m.drives) for m in matches),
        sum(len(m.scenes) for m in matches),
        sum(len(m.segments) for m in matches),
    ]
    assert [soccer.EVENTS[i] for i in labels[:5]] == [s.label for s in matches[0].segments[:5]]


def test_main_writes_files_and_prints_a_summary(tmp_path, capsys):
    assert soccer.main(["--matches", "1", "--seed", "2", "--vectors", "none", "--out",
                        str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "segments" in out[0]
    lines = (tmp_path / "segments.jsonl").read_text().splitlines()
    truth = json.loads((tmp_path / "truth.json").read_text())
    queries = [json.loads(x) for x in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert json.loads(lines[0])["video_id"] == "match-0000" and truth["seed"] == 2
    assert queries and set(queries[0]) == {"id", "text", "level", "kind", "video_id", "truth"}


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="vectors"):
        soccer.generate(1, vectors="fancy")
    with pytest.raises(ValueError, match="matches"):
        soccer.generate(0)


def test_semantic_vectors_embed_captions_and_separate_phases():
    data = soccer.generate(1, seed=0, vectors="semantic")
    vectors = np.array([s["vector"] for s in data.segments], dtype=np.float32)
    assert vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    by_text = {}
    for seg, vec in zip(data.segments, vectors, strict=True):
        assert np.array_equal(by_text.setdefault(seg["text"], vec), vec)
    match = data.truth["matches"][0]
    phase = [next(sc["phase"] for sc in match["scenes"] if sc["start_ms"] <= s["start_ms"]
                  < sc["end_ms"]) for s in data.segments]  # fmt: skip
    centroids = {p: vectors[[x == p for x in phase]].mean(axis=0) for p in soccer.PHASES}
    for p in soccer.PHASES:
        own = vectors[[x == p for x in phase]] @ centroids[p]
        other = np.mean([vectors[[x == p for x in phase]] @ centroids[q] for q in centroids
                         if q != p])  # fmt: skip
        assert own.mean() > other
