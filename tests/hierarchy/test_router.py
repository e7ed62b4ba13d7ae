"""Choosing between a moment and a scene for a query without scope words: the wording,
bottom-up evidence and the calibrated surprise of each level's best match."""

from __future__ import annotations

import math

import numpy as np

from hierarchy import router
from hierarchy.query import parse
from hierarchy.router import Pool
from hierarchy.types import Level

SIZES = {Level.SEGMENT: 10_000, Level.SCENE: 1_000, Level.DRIVE: 400}


def pools(surprise: dict[Level, float]) -> list[Pool]:
    """One candidate per level whose best match has the given surprise."""
    out = []
    for level, value in surprise.items():
        z = value + math.sqrt(2.0 * math.log(SIZES[level]))
        out.append(Pool(level, np.array([1]), np.array([0.5]), np.array([z]), SIZES[level]))
    return out


def test_a_moment_answers_unless_the_scene_stands_out_by_more_than_the_prior() -> None:
    parsed = parse("the hosts lose the ball")
    level, conf, reason = router.pick_level(parsed, pools({Level.SEGMENT: 1.0, Level.SCENE: 2.5}))
    assert level is Level.SEGMENT and "stands out in its scene" in reason
    assert conf[Level.SEGMENT] > conf[Level.SCENE] and abs(sum(conf.values()) - 1) < 1e-9
    far = pools({Level.SEGMENT: 1.0, Level.SCENE: 1.0 + router.UNIT_PRIOR + 0.5})
    level, _, reason = router.pick_level(parsed, far)
    assert level is Level.SCENE and "stands out further" in reason


def test_a_library_without_scenes_answers_with_moments_and_says_why() -> None:
    # No tree is built: "the best moment stands out in its scene" spoke of scenes that do not exist.
    parsed = parse("the hosts lose the ball")
    level, _, reason = router.pick_level(parsed, pools({Level.SEGMENT: 1.0}), present=[Level.SEGMENT])
    assert level is Level.SEGMENT and "no scenes yet" in reason and "in its scene" not in reason


def test_play_going_on_favours_the_scene() -> None:
    parsed = parse("the visitors keeping the ball and probing")
    level, _, reason = router.pick_level(parsed, pools({Level.SEGMENT: 2.0, Level.SCENE: 1.0}))
    assert level is Level.SCENE and "'keeping' describes play going on" in reason


def test_a_moment_that_matches_like_its_whole_scene_merges_into_it() -> None:
    parsed = parse("the hosts lose the ball")
    surprise = {Level.SEGMENT: 2.0, Level.SCENE: 1.0}
    assert router.pick_level(parsed, pools(surprise), merge_share=0.2)[0] is Level.SEGMENT
    level, _, reason = router.pick_level(parsed, pools(surprise), merge_share=0.8)
    assert level is Level.SCENE and "80% of the best moment's scene matches as well" in reason


def test_larger_levels_answer_only_when_the_wording_asks() -> None:
    strong_drive = pools({Level.SEGMENT: 0.0, Level.SCENE: 0.0, Level.DRIVE: 9.0})
    assert router.pick_level(parse("the hosts lose the ball"), strong_drive)[0] is Level.SEGMENT
    level, conf, _ = router.pick_level(parse("the last possession of the game"), strong_drive)
    assert level is Level.DRIVE and conf[Level.DRIVE] == 0.9


def test_count_scores_order_nodes_by_how_far_they_miss_an_upper_bound() -> None:
    counts = np.array([0.0, 1.0, 3.0, 6.0])
    none = parse("a half without a booking")
    assert list(np.argsort(-router.count_score(counts, none), kind="stable")) == [0, 1, 2, 3]
    at_least = parse("a half with at least 3 bookings")
    assert list(np.argsort(-router.count_score(counts, at_least), kind="stable")) == [3, 2, 1, 0]
