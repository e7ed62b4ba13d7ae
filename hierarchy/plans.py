"""What every page of one search shares (its plan), the ranking a page is cut from, and
where a page starts in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hierarchy import paging, queryvector, rerank
from hierarchy.candidates import Ranked
from hierarchy.types import Level, Mode, Route, SearchQuery


@dataclass(frozen=True)
class Plan:
    """What every page of one search shares."""

    query: SearchQuery
    vector: np.ndarray
    example: queryvector.ExampleNode | None
    diversity: float
    watermark: int  # answers come from commits at or before this one
    # The calibration statistics version each level was scored with (int(level) -> version),
    # from the first page on: later pages score with the same while they are kept.
    pins: dict[int, int] = field(default_factory=dict)
    route: Level | None = None  # the level a routed search's first page chose, kept by later pages
    seen: frozenset[int] | None = None  # a reranked search's answers shown so far: left out of its pages
    confined: bool = False  # a routed search's first page was confined to a video its text names

    @property
    def by_score(self) -> bool:
        """Whether pages resume by (score, key): one level, not reranked (a reranked order
        can fall into score order after a delete; resuming by score would skip answers)."""
        return self.query.mode is Mode.LEVEL and not rerank.applies(self.query)


@dataclass(frozen=True)
class Ranking:
    """A ranking with its route, the vector that scored, scores before rerank, and whether
    the ranking holds every answer there is."""

    ranked: list[Ranked]
    route: Route
    event: np.ndarray
    raw: dict[int, float]
    exhausted: bool


def resume(at: paging.Position, plan: Plan, ranking: Ranking) -> int:
    """Where the page at ``at`` starts in ``ranking`` (after the last answer shown, by
    score where the plan's pages resume so)."""
    if plan.seen is not None:  # the ranking holds none of the answers shown: from its start
        return 0
    scores = [r.score for r in ranking.ranked] if plan.by_score else None
    return at.resume([r.key for r in ranking.ranked], scores)


def kept(plan: Plan, ranking: Ranking) -> int | None:
    """The level a routed search's later pages keep: the one its first page was routed to."""
    routed = plan.query.mode is Mode.AUTO and len(ranking.route.levels) == 1
    return int(ranking.route.levels[0]) if routed else None
