"""The read path of search: resolve the query vector, rank (one level, AUTO or ALL),
rerank, page, and attach evidence and ancestors. It reads the store and the indexes and
writes nothing; the database facade owns it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hierarchy import (
    answers,
    auto,
    calibrate,
    deadlines,
    filters,
    grouping,
    paging,
    plans,
    queryparts,
    queryvector,
    rerank,
    router,
    search,
    validate,
)
from hierarchy.calibrate import LevelMoments, MomentsCache
from hierarchy.candidates import Context, Ranked
from hierarchy.commits import Commits
from hierarchy.encoder import get_encoder
from hierarchy.errors import NotFound, StrataError
from hierarchy.index import LevelIndex
from hierarchy.navigate import Navigator
from hierarchy.nodecache import NodeCache
from hierarchy.plans import Plan, Ranking
from hierarchy.spans import LevelSpans, SpanCache
from hierarchy.store import Store
from hierarchy.types import Collection, Hit, Level, Mode, Node, Route, SearchQuery, SearchResult, VideoGroup
from hierarchy.warmer import Warmer
from hierarchy.writecache import LabelReads

if TYPE_CHECKING:
    from hierarchy.options import DatabaseOptions


log = logging.getLogger(__name__)

# A page may start no deeper than this (deeper ranks cost a full ranking each); the page
# reaching it still offers a token, and the next is refused naming the fix, not left out.
MAX_RESULT_WINDOW = 10_000
RERANK_DEPTH = 100  # the joint rerank reorders this many answers at the head of a ranking
DEEPER_RANKINGS = 4  # deeper rankings a page asks for while the answers shown move down (a graph finding more)
PAGE_REFILLS = 4  # reads of a page whose answers a tree rebuild replaced meanwhile


class Searcher:
    """Answers searches over the collections of one database."""

    def __init__(
        self,
        store: Store,
        collection: Callable[..., Collection],
        index: Callable[[Collection, Level], LevelIndex],
        navigator: Navigator,
        node_cache: NodeCache,
        options: DatabaseOptions,
        commits: Commits,
    ) -> None:
        self._store = store
        self._collection = collection
        self._index = index
        self._navigator = navigator
        self._nodes = node_cache
        self._options = options
        self._commits = commits  # what searches may see, and what read caches key on
        self._level_moments = MomentsCache()
        self._span_cache = SpanCache()
        self._warmer: Warmer[str] = Warmer(self._read_ahead)
        self._label_reads = LabelReads(store.cursor, commits)

    def search(self, query: SearchQuery, page_token: str = "") -> SearchResult:
        """Search a collection at one level, routed (AUTO) or over every level (ALL);
        ``page_token`` continues an earlier search with the same request, as of the
        commit its first page saw."""
        deadlines.check(query.deadline, "before the search started")
        coll = self._collection(query.collection, "collection")
        top_k = validate.top_k(query.top_k, self._options.max_top_k)
        filters.check(query.filter)
        rerank.get(query.reranker)
        diversity = validate.fraction(query.diversity, "diversity")
        group_size = validate.group_size(query.group_size)
        vector_of = lambda level, key: self._index(coll, level).vector_of(key)  # noqa: E731
        vector, example = queryvector.resolve(self._store.cursor(), coll, query, vector_of)
        parts = queryparts.checked(coll, query)
        query = replace(query, part_vectors=tuple(parts), top_k=top_k)  # 0 read as the default
        if example is not None and query.mode is Mode.LEVEL and query.level_of_example:
            query = replace(query, level=example.level)
        owner = paging.digest(
            coll.name,
            query.mode.value,
            int(query.level),
            query.text,
            query.node_id,
            vector.tobytes().hex(),
            parts.tobytes().hex(),
            top_k,
            query.filter,
            query.rerank,
            query.include_evidence,
            query.include_ancestors,
            query.reranker,
            diversity,
            query.group_by_video,
            group_size,
        )
        at = self._position(coll, page_token, owner)
        route = None if at.route is None else Level(at.route)
        plan = Plan(query, vector, example, diversity, at.watermark, dict(at.pins), route, confined=at.confined)
        if not plan.by_score and not query.group_by_video and (at.seen is not None or at.offset == 0):
            plan = replace(plan, seen=frozenset(at.seen or ()))
        if query.group_by_video:
            return self._grouped(coll, plan, at, top_k, group_size, owner)
        result, vanished = self._paged(coll, plan, at, top_k, owner)
        if vanished and not page_token:
            # A tree rebuild committed since this first page's commit replaced some of its
            # answers: it is answered as of the newest commit (later pages keep their token's).
            at = self._position(coll, "", owner)
            result, _ = self._paged(coll, replace(plan, watermark=at.watermark, pins=dict(at.pins)), at, top_k, owner)
        return result

    def _paged(
        self, coll: Collection, plan: Plan, at: paging.Position, top_k: int, owner: str
    ) -> tuple[SearchResult, bool]:
        """The page at ``at``, and whether answers ranked for it had vanished when read."""
        shown = at.offset if plan.seen is None else 0  # (a ranking leaves out the answers a token lists)
        ranking = self._ranking(coll, plan, shown + top_k + 1)  # one extra: is there another page?
        start = plans.resume(at, plan, ranking)
        for _ in range(DEEPER_RANKINGS):  # the ranking moved down: rank deeper, and find the place again
            if ranking.exhausted or len(ranking.ranked) > start + top_k:
                break
            ranking = self._ranking(coll, plan, start + top_k + 1)
            start = plans.resume(at, plan, ranking)
        hits, read, end, ranking = self._page(coll, plan, at, ranking, start, top_k)
        # A ranking cut short by the answers read past may hold more: another page is offered.
        more = len(ranking.ranked) > end or not ranking.exhausted
        last = ranking.ranked[end - 1] if plan.by_score and 0 < end <= len(ranking.ranked) else None
        cursor = None if last is None else (last.score, last.key)  # where a page resumes by score
        token = ""
        if more:  # (only then: past the answers a token lists, the next position ranks again)
            page = (end, read, hits[-1].rank if hits else at.first_rank())  # ranked: the answers shown
            token = paging.encode(self._next_position(coll, plan, at, ranking, page, cursor), owner, coll.id)
        return SearchResult(hits, ranking.route, more, token), len(read) > len(hits)

    def _next_position(
        self, coll: Collection, plan: Plan, at: paging.Position, ranking: Ranking, page: tuple[int, list[int], int],
        cursor: tuple[float, int] | None,
    ) -> list:  # fmt: skip
        """The position of the next page, after one that ended at ``page[0]`` in the ranking
        and read the keys ``page[1]``, ``page[2]`` answers shown by then. While a token lists
        the answers shown, its offset counts them; past ``MAX_SEEN`` of them, it is the place
        after the last one read in the ranking as it is now, as for a token that never listed them."""
        end, read, ranks = page
        kept, confined = plans.kept(plan, ranking), ranking.route.confined
        if plan.seen is None:
            return at.next(end, read, plan.pins, cursor, kept, confined=confined, ranks=ranks)
        seen = sorted(plan.seen | set(read))
        if len(seen) <= paging.MAX_SEEN:
            return at.next(len(seen), read, plan.pins, None, kept, seen, confined, ranks)
        whole = self._ranking(coll, replace(plan, seen=None), len(seen) + 1)
        offset = paging.Position(len(seen), plan.watermark, tuple(read)).resume([r.key for r in whole.ranked])
        return at.next(offset, read, plan.pins, None, kept, confined=confined, ranks=ranks)

    def _page(
        self, coll: Collection, plan: Plan, at: paging.Position, ranking: Ranking, start: int, top_k: int
    ) -> tuple[list[Hit], list[int], int, Ranking]:
        """Up to ``top_k`` hits from ``start`` in the ranking, the keys read for them, where
        they end in the ranking, and the ranking: an answer whose node vanished since it was
        ranked (a tree rebuilt, a video deleted) gives its place to the next one, read
        deeper when the ranking runs out (resumed after the last key read it still holds)."""
        hits: list[Hit] = []
        read: list[int] = []
        end, first = start, at.first_rank()  # (ranks count the answers shown)
        for _ in range(PAGE_REFILLS):
            taken = ranking.ranked[end : end + top_k - len(hits)]
            end += len(taken)
            read += [r.key for r in taken]
            hits += self._hits(coll, plan, ranking, taken, first + 1 + len(hits)) if taken else []
            if len(hits) >= top_k or (end >= len(ranking.ranked) and ranking.exhausted):
                break
            if end >= len(ranking.ranked):
                ranking = self._ranking(coll, plan, end + top_k - len(hits) + 1)
                keys = [r.key for r in ranking.ranked]
                # After the last answer read it still holds, else where this page begins in it.
                begun = plans.resume(at, plan, ranking)
                end = paging.Position(begun + len(read), plan.watermark, tuple(read)).resume(keys)
        return hits, read, end, ranking

    def _position(self, coll: Collection, page_token: str, owner: str) -> paging.Position:
        """Where a page starts: the first page at the latest commit, at its first answer."""
        position = paging.decode(page_token, owner, collection_id=coll.id)
        if position is None:
            return paging.Position(0, self._commits.visible(coll.id))
        at = paging.Position.of(position)
        if at.offset >= MAX_RESULT_WINDOW:
            raise validate.InvalidArgument(
                "page_token",
                f"a search serves pages starting within its first {MAX_RESULT_WINDOW} answers and this one starts at "
                f"{at.offset}; narrow the filter (video_ids, time_range, labels) to read the rest",
            )
        return at

    def _ranking(self, coll: Collection, plan: Plan, wanted: int, whole: bool = False) -> Ranking:
        """At least ``wanted`` answers (when that many exist) visible at the plan's commit,
        reranked when asked. The joint rerank covers a fixed head of the ranking, so every
        page of a search sees the same order; it may order only the first ``wanted`` of
        the head, unless ``whole`` (a caller that reads past them)."""
        query = plan.query
        wanted += len(plan.seen or ())  # left out at the end
        reranking = rerank.applies(query)
        depth = max(wanted, RERANK_DEPTH) if reranking else wanted
        levels = [query.level] if query.mode is Mode.LEVEL else list(router.BUILT)
        extra = self._newer(coll, levels, plan.watermark) + (1 if plan.example is not None else 0)
        while True:
            deadlines.check(query.deadline, "while ranking")
            asked = depth + extra
            ranked, route, event = self._rank(coll, plan, asked)
            exhausted = len(ranked) < asked
            if plan.example is not None:
                ranked = [r for r in ranked if r.key != plan.example.key]
            if self._commits.indexed(coll.id) > plan.watermark:  # written since the first page, or being written
                ranked = self._as_of(coll, ranked, plan.watermark)
            raw = {r.key: r.score for r in ranked}
            final, complete = ranked, True
            if reranking and not route.in_time_order:
                final, complete = self._reranked(
                    coll, rerank.chosen(query.reranker, route), ranked, plan.diversity, None if whole else wanted
                )
            # The rerank drops answers (overlaps): ask deeper until as many are left.
            if (len(ranked) >= depth and len(final) >= wanted) or exhausted:
                break
            extra = extra * 2 + depth + len(ranked) - len(final)  # written while ranking, or dropped
        if plan.seen:  # shown on an earlier page: wherever a delete since has moved them
            final = [r for r in final if r.key not in plan.seen]
        # A reranked order cut after ``wanted`` answers is not the whole ranking: it is
        # not exhausted, whatever was left past it.
        return Ranking(final, route, event, raw, exhausted and complete)

    def _reranked(
        self, coll: Collection, name: str, ranked: list[Ranked], diversity: float, wanted: int | None
    ) -> tuple[list[Ranked], bool]:
        """The joint rerank of the ranking's head, and whether it is the whole ranking (not
        only the first ``wanted`` answers of it: a reranker that stops early may stop
        there); after the head, a reranker that drops overlaps drops those of the rest too
        (a page past the head must not hold a scene and its own segments either)."""
        wanted = wanted if rerank.stops_early(name) else None
        head, tail = ranked[:RERANK_DEPTH], ranked[RERANK_DEPTH:]
        past = bool(tail) and rerank.drops_overlaps(name)
        spans = self._spans_of(coll, ranked if past else head)  # read once for both
        own = {r.key: spans[r.key] for r in head if r.key in spans} if past else spans  # a plug-in sees its head's
        found = rerank.Candidates(head, own, lambda chosen: self._unit_vectors(coll, chosen), diversity, wanted)
        head = rerank.get(name)(found)
        if wanted is not None and len(head) >= wanted:  # all the page needs, and maybe only that
            return rerank.capped(head), False
        return rerank.capped(head + (rerank.past(head, tail, spans) if past else tail)), True

    def _newer(self, coll: Collection, levels: list[Level], watermark: int) -> int:
        """Nodes of ``levels`` written after ``watermark`` (none when nothing was since)."""
        if watermark >= self._commits.visible(coll.id):
            return 0
        return sum(self._spans(coll, level).newer_than(watermark) for level in levels)

    def _as_of(self, coll: Collection, ranked: list[Ranked], watermark: int) -> list[Ranked]:
        """The answers written at or before ``watermark``."""
        keep: set[int] = set()
        for level in {r.level for r in ranked}:
            keep |= self._spans(coll, level).written_by([r.key for r in ranked if r.level is level], watermark)
        return [r for r in ranked if r.key in keep]

    def _grouped(
        self, coll: Collection, plan: Plan, at: paging.Position, top_k: int, group_size: int, owner: str
    ) -> SearchResult:
        """One page of videos, each with its best answers (up to ``group_size``), found in
        rounds (:mod:`hierarchy.grouping`)."""
        held = self._videos_held(coll, plan.query.filter.video_ids)
        rounds: list[tuple[Plan, Ranking]] = []
        found: list[grouping.Group] = []
        step: Plan | None = plan
        offset = at.offset
        checked = plan.by_score and at.after is not None and not self._index(coll, plan.query.level).exact
        need = top_k * (grouping.CHECKED_PER_VIDEO if checked else 1)  # a checked page may pass videos over
        while step is not None:
            groups, ranking, capped = self._round(coll, step, at, need, group_size, found, (len(rounds), len(held)))
            rounds.append((step, ranking))
            found += groups
            offset = grouping.start(at, found, plan.by_score)
            short = capped and len(found) <= offset + need and len(found) < len(held)  # the page needs more videos
            step = self._next_round(step, ranking, held, found) if short and len(rounds) < grouping.MAX_ROUNDS else None
        page, used = grouping.listed(found[offset:], top_k, at.after if checked else None,
                                     lambda g: self._best_of(coll, rounds[g.round][0], g.video, group_size),
                                     lambda g: self._filled(coll, rounds[g.round], g, group_size))  # fmt: skip
        by_video: dict[str, list[Hit]] = {}
        for number, (step, ranking) in enumerate(rounds):
            flat = [r for g in page if g.round == number for r in g.members]
            for hit in self._hits(coll, step, ranking, flat, 1) if flat else []:  # (vanished nodes left out)
                by_video.setdefault(hit.node.video_id, []).append(hit)
        out, first = [], at.first_rank()  # videos ranked before this page
        for group in page:
            hits = [replace(h, rank=i + 1) for i, h in enumerate(by_video.get(group.video, []))]
            if hits:
                out.append(VideoGroup(group.video, hits[0].score, hits, first + len(out) + 1))
        more = len(found) > offset + used
        shown = [g.video for g in page] or (list(at.shown) if checked else [])  # a page passing over all: as before
        least = (page[-1] if checked else found[offset + used - 1]).members[0] if page else None  # the last one's best
        cursor = ((least.score, least.key) if least else at.after if checked else None) if plan.by_score else None
        head = rounds[0][1]
        kept, confined = plans.kept(plan, head), head.route.confined
        position = at.next(offset + used, shown, plan.pins, cursor, kept, confined=confined, ranks=first + len(out))
        token = paging.encode(position, owner, coll.id) if more else ""
        route = replace(head.route, reason=head.route.reason + grouping.cut(len(rounds))) if short else head.route
        return SearchResult([], route, more, token, out)

    def _round(
        self, coll: Collection, plan: Plan, at: paging.Position, top_k: int, size: int, before: list[grouping.Group],
        counts: tuple[int, int],
    ) -> tuple[list[grouping.Group], Ranking, bool]:  # fmt: skip
        """The groups of round ``counts[0]`` (after those found ``before``; ``counts[1]``
        videos to find at most), its ranking, and whether it stopped at the limit with
        answers left."""
        number, held = counts
        alone = plan.by_score  # one level, not reranked: a video's best answers are its first
        asked = grouping.first_ask(at.offset + top_k, len(before), size, number)
        while True:
            # The whole reranked head: its videos' groups are filled from answers past
            # the first ``asked``.
            ranking = self._ranking(coll, plan, asked, whole=True)
            groups = grouping.by_video(ranking.ranked, self._spans_of(coll, ranking.ranked), size, number)
            videos = before + groups
            offset = grouping.start(at, videos, plan.by_score)
            # (Groups of an earlier round are as full as they get: it read all it could.)
            window = [g for g in videos[offset : offset + top_k] if g.round == number]
            full = alone or all(len(g.members) >= size for g in window)
            # Every video there is found: no deeper ranking adds one (only to a group).
            enough = len(videos) > offset + top_k or len(videos) >= held
            if (enough and full) or ranking.exhausted or asked >= grouping.MAX_GROUPED_RANKING:
                return groups, ranking, grouping.capped(asked, ranking.exhausted)
            asked = grouping.deeper(asked)

    def _next_round(self, plan: Plan, ranking: Ranking, held: Iterable[str], found: list[grouping.Group]
                    ) -> Plan | None:  # fmt: skip
        """The search of the videos ``held`` that no group of ``found`` holds, after a round
        stopped at the limit; a routed one keeps its level (and its scores' scale), and
        none follows one whose ranking no search of other videos continues (pairs, a head
        reordered by side or result, a video the text names: ``Route.plain``)."""
        query = plan.query
        if query.mode is Mode.AUTO and not ranking.route.plain:
            return None
        rest = replace(query, filter=replace(query.filter, video_ids=grouping.rest(held, found)))
        kept = plans.kept(plan, ranking)
        return replace(plan, query=rest, route=plan.route if kept is None else Level(kept))

    def _filled(self, coll: Collection, found: tuple[Plan, Ranking], group: grouping.Group, size: int
                ) -> grouping.Group:  # fmt: skip
        """A group of a one-level unreranked round cut short, with the video's ``size``
        best answers: a search of that video alone (other groups hold their video's first)."""
        plan, ranking = found
        if not plan.by_score or ranking.exhausted or len(group.members) >= size:
            return group
        return replace(group, members=self._best_of(coll, plan, group.video, size))

    def _best_of(self, coll: Collection, plan: Plan, video: str, size: int) -> list[Ranked]:
        """A video's ``size`` best answers, exactly: a search of that video alone."""
        query = replace(plan.query, filter=replace(plan.query.filter, video_ids=(video,)), group_by_video=False)
        return self._ranking(coll, replace(plan, query=query), size).ranked[:size]

    def _videos_held(self, coll: Collection, named: tuple[str, ...]) -> tuple[str, ...] | frozenset[str]:
        """The videos (of ``named``, when given) holding segments: the most groups a
        search can find."""
        held = self._spans(coll, Level.SEGMENT).videos
        return frozenset(held) & frozenset(named) if named else held

    def _hits(self, coll: Collection, plan: Plan, ranking: Ranking, page: list[Ranked], first_rank: int) -> list[Hit]:
        query = plan.query
        deadlines.check(query.deadline, "before the answers were assembled")
        return answers.hits(
            self._nodes.get,
            page,
            first_rank,
            ranking.raw,
            self._evidence(coll, plan, ranking) if query.include_evidence else None,
            self._ancestors(coll, query.deadline) if query.include_ancestors else None,
        )

    def _rank(self, coll: Collection, plan: Plan, wanted: int) -> tuple[list[Ranked], Route, np.ndarray]:
        query, vector, as_of, pins = plan.query, plan.vector, plan.watermark, plan.pins
        if query.mode is Mode.LEVEL:
            index = self._index(coll, query.level)
            keys, sims, _ = search.candidates(
                self._store.cursor(),
                index,
                coll.id,
                query.level,
                query.filter,
                vector,
                wanted + 1,
                self._options.exact_filter_below,
                lambda: self._spans(coll, query.level),
                self._narrowing(coll, query.level, as_of, answers=query.top_k),
            )
            ranked = [Ranked(int(k), query.level, float(s), float(s)) for k, s in zip(keys, sims, strict=True)]
            return ranked, queryvector.level_route(query), vector
        context = Context(
            self._store.cursor(),
            coll.id,
            lambda level: self._index(coll, level),
            lambda level: self._moments(coll, level, as_of, pins),
            self._encode_one(coll) if coll.space.text_encoder else None,
            lambda: self._label_reads.labels(coll.id),
            self._options.exact_filter_below,
            labelled=lambda labels: self._label_reads.events(coll.id, labels),
            spans=lambda level: self._spans(coll, level),
            deadline=query.deadline,
            fetch=self._nodes.get,
            attributes=self._nodes.attributes,
            label_counts=self._nodes.label_counts,
            visible=self._visible(coll, as_of) if self._commits.indexed(coll.id) > as_of else None,
            hidden=lambda level: self._newer(coll, [level], as_of),
            narrow=lambda level, parents: self._narrowing(coll, level, as_of, parents),
            parts=queryparts.source(coll, query),
        )
        return auto.execute(context, query, vector, wanted, plan.route, plan.confined)

    def _narrowing(
        self, coll: Collection, level: Level, as_of: int, parents: np.ndarray | None = None, answers: int = 0
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """For an unfiltered segment search: the segments of the best scenes (``parents``,
        best first, when a routed search has found them already), to score exactly beside
        the graph's answers; None when there are no scenes to narrow by. A page of more
        than a few ``answers`` narrows by more scenes (``search.narrow_count``)."""
        count = self._options.narrow_parents
        if level is not Level.SEGMENT or count <= 0:
            return None
        # Spans are read when the search narrows (unfiltered, above the exact threshold).
        spans = lambda: (self._spans(coll, Level.SCENE), self._spans(coll, Level.SEGMENT))  # noqa: E731
        if parents is not None:
            chosen = parents[:count]
            return lambda vector: search.children_of(*spans(), chosen)
        scenes = self._index(coll, Level.SCENE)
        if len(scenes) == 0:
            return None
        count = search.narrow_count(count, answers)
        visible = None
        if self._commits.indexed(coll.id) > as_of:  # later pages narrow by the scenes the first one saw
            mask = self._visible(coll, as_of)
            visible = lambda keys: mask(Level.SCENE, keys)  # noqa: E731
        return lambda vector: search.children_of_best(scenes, *spans(), vector, count, visible)

    def _visible(self, coll: Collection, as_of: int) -> Callable[[Level, np.ndarray], np.ndarray]:
        """A mask of the keys of a level written at or before commit ``as_of``."""

        def mask(level: Level, keys: np.ndarray) -> np.ndarray:
            seen = self._spans(coll, level).written_by([int(k) for k in keys], as_of)
            return np.array([int(k) in seen for k in keys], bool)

        return mask

    def _spans_of(self, coll: Collection, ranked: list[Ranked]) -> dict[int, tuple[str, int, int]]:
        spans: dict[int, tuple[str, int, int]] = {}
        for level in {r.level for r in ranked}:
            spans.update(self._spans(coll, level).spans([r.key for r in ranked if r.level is level]))
        return spans

    def _unit_vectors(self, coll: Collection, ranked: list[Ranked]) -> np.ndarray:
        """The answers' vectors scaled to unit length, in the order given."""
        out = np.zeros((len(ranked), coll.space.dimension), np.float32)
        keys = np.fromiter((r.key for r in ranked), np.int64, len(ranked))
        levels = {r.level for r in ranked}
        for level in levels:
            rows = np.arange(len(ranked)) if len(levels) == 1 else np.flatnonzero([r.level is level for r in ranked])
            present, vectors = self._index(coll, level).unit_vectors(keys[rows])
            # A node deleted since it was ranked keeps a zero row: alike to nothing.
            out[rows[present]] = vectors
        return out

    def _evidence(
        self, coll: Collection, plan: Plan, ranking: Ranking
    ) -> Callable[[list[tuple[int, Level]]], dict[int, list[answers.Scored]]]:
        source = answers.EvidenceSource(
            self._index(coll, Level.SEGMENT),
            self._moments(coll, Level.SEGMENT, plan.watermark, plan.pins),
            {level: self._spans(coll, level) for level in Level},
            self._index(coll, Level.SCENE),
            plan.query.filter.time_range,
            *answers.explaining(plan.query.filter.labels, ranking, self._label_reads, coll.id),
        )
        return lambda page: answers.evidence_for(source, ranking.event, page)

    def forget_collection(self, cid: int) -> None:
        """Drop what was read or computed for a deleted collection."""
        self._level_moments.forget(cid)
        self._span_cache.forget(cid)
        self._label_reads.forget(cid)

    def warm(self, coll: Collection, levels: list[Level]) -> None:
        """Read now what the first search of each level would otherwise read: the level's
        spans and its calibration statistics. At 1 M segments they made the first search
        after a start take 624 ms against 5 ms for the next (spans 445 ms, statistics 168).
        The collection's text encoder is loaded too (about 1 s; on a machine's first start
        its graph is exported as well, see ``hierarchy.onnxrun``)."""
        self._read(coll, levels)
        if coll.space.text_encoder:
            try:
                get_encoder(coll.space.text_encoder).encode_query("warm")
            except StrataError as exc:  # a model folder gone since: its text queries fail, not the start
                log.warning("text encoder of collection %r not loaded: %s", coll.name, exc)

    def written(self, coll: Collection) -> None:
        """A write to ``coll`` committed: read ahead for its next search once writes settle
        (:mod:`hierarchy.warmer`)."""
        self._warmer.poke(coll.name)

    def close(self) -> None:
        """Stop reading ahead (before the store closes)."""
        self._warmer.close()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no read ahead is due or under way (tests, benchmarks)."""
        return self._warmer.settle(timeout)

    def _read_ahead(self, name: str) -> None:
        coll = self._collection(name)  # NotFound once deleted: nothing to read
        try:
            levels = [level for level in Level if len(self._index(coll, level))]
            self._read(coll, levels)
            for level in levels:
                self._index(coll, level).read_ahead()
            # A routed search naming a side reads the attributes of its best 100 answers.
            self._nodes.read_ahead_attributes(
                [self._spans(coll, level).keys for level in levels if level in auto.SIDED]
            )
        finally:  # deleted (and perhaps made again) meanwhile: its delete may have dropped
            # its caches before this read filled them
            if self._gone(name, coll.id):
                self.forget_collection(coll.id)

    def _gone(self, name: str, cid: int) -> bool:
        try:
            return self._collection(name).id != cid
        except NotFound:
            return True

    def _read(self, coll: Collection, levels: list[Level]) -> None:
        """Each level's spans and calibration statistics, brought up to date."""
        for level in levels:
            self._spans(coll, level)
            index = self._index(coll, level)
            sample = functools.partial(calibrate.sample_of, index)
            visible = self._commits.visible(coll.id)  # (read before the sample: it holds at least that)
            mark = (self._commits.written(coll.id, level), self._commits.rewrites(coll.id, level), index.deleted)
            self._level_moments.prepare(
                (coll.id, int(level)), len(index), sample, visible, deleted=index.deleted, mark=mark
            )

    def _spans(self, coll: Collection, level: Level) -> LevelSpans:
        rewrites = self._commits.rewrites(coll.id, level)  # read before the store: a later rewrite reloads
        written = self._commits.written(coll.id, level)
        return self._span_cache.get(self._store.cursor(), coll.id, level, rewrites, written)

    def _ancestors(
        self, coll: Collection, deadline: float | None
    ) -> Callable[[list[Node]], dict[str, tuple[Node, ...]]]:
        def chains(found: list[Node]) -> dict[str, tuple[Node, ...]]:
            deadlines.check(deadline, "before the answers' ancestors were read")
            return self._navigator.ancestors_of(coll, found)

        return chains

    def _moments(
        self, coll: Collection, level: Level, as_of: int | None = None, pins: dict[int, int] | None = None
    ) -> LevelMoments:
        """Calibration statistics of a level, as a search at commit ``as_of`` saw them: the
        version ``pins`` names while kept (else the latest as of that commit), and the
        version used is pinned for the search's later pages."""
        key = (coll.id, int(level))
        if pins is not None and key[1] in pins and (kept := self._level_moments.pinned(key, pins[key[1]])):
            return kept
        index = self._index(coll, level)
        current = as_of is None or as_of >= self._commits.visible(coll.id)
        sample = functools.partial(calibrate.sample_of, index)
        moments = self._level_moments.get(key, len(index), sample, as_of, current, deleted=index.deleted)
        if pins is not None:  # (again where the named version is gone: a restart, or evicted)
            pins[key[1]] = moments.version
        return moments

    def _encode_one(self, coll: Collection) -> Callable[[str], np.ndarray]:
        # Looked up when a text is embedded, not per search (a realpath of the folder).
        return lambda text: get_encoder(coll.space.text_encoder).encode_query(text)
