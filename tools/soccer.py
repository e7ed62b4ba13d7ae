"""Deterministic synthetic soccer matches with a planted hierarchy, for evaluation.

A match is two halves separated by a break that holds no segments; a half is a run of
possessions (drives) that alternate between the two teams; a possession is one to four
phases (scenes: build-up, attack, set piece, stoppage); a phase is a run of ~2 s atomic
segments, each with one event label and a caption. Everything is drawn from one seed, so
the same arguments give byte-identical files.

Usage: ``python -m tools.soccer --matches 2 --seed 7 --vectors semantic --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tools import soccer_text as text

log = logging.getLogger(__name__)

HALF_MS = 45 * 60_000
BREAK_MS = 15 * 60_000
PHASES = ("build_up", "attack", "set_piece", "stoppage")
EVENTS = (
    "pass", "dribble", "cross", "shot", "save", "corner kick", "free kick", "foul", "throw-in",
    "offside", "goal", "turnover", "substitution", "tackle", "clearance", "header", "kick-off",
    "replay", "injury", "goal kick", "out of play", "booking",
)  # fmt: skip
VECTOR_MODES = ("semantic", "random", "none")
# Per-level noise of the random vectors: video -> half -> drive -> scene -> segment.
NOISE = (0.6, 0.7, 0.8, 1.0)

_SEGMENT_MS = (1500, 2500)
# Segments per scene, by phase: 4 segments is ~8 s, 18 is ~36 s.
_SCENE_SEGMENTS = {"build_up": (5, 18), "attack": (4, 12), "set_piece": (4, 12),
                   "stoppage": (4, 14)}  # fmt: skip
_PHASE_COUNT = (25, 35, 25, 15)  # weights of one to four phases per possession


@dataclass
class Segment:
    """One atomic segment: ~2 s of one event."""

    start_ms: int
    end_ms: int
    label: str
    text: str
    team: str
    period: int
    clock: str
    scene: int


@dataclass
class Scene:
    """One phase of a possession; ``kind`` names the set piece or the reason play stopped."""

    phase: str
    kind: str | None
    team: str
    drive: int
    first: int = 0
    stop: int = 0


@dataclass
class Drive:
    """One possession; its scenes are ``scenes[first:stop]``."""

    team: str
    period: int
    outcome: str
    first: int = 0
    stop: int = 0


@dataclass
class Half:
    """One half; its drives are ``drives[first:stop]``."""

    period: int
    first: int = 0
    stop: int = 0


@dataclass
class Match:
    """The planted tree of one match, with its segments in time order."""

    video_id: str
    home: str
    away: str
    players: dict[str, list[str]]
    segments: list[Segment] = field(default_factory=list)
    scenes: list[Scene] = field(default_factory=list)
    drives: list[Drive] = field(default_factory=list)
    halves: list[Half] = field(default_factory=list)
    goals: list[dict] = field(default_factory=list)

    @property
    def duration_ms(self) -> int:
        """The video ends with the final whistle."""
        return self.segments[-1].end_ms

    def club(self, team: str) -> str:
        """The club name of ``home`` or ``away``."""
        return self.home if team == "home" else self.away

    def scene_span(self, i: int) -> tuple[int, int]:
        """Start and end of scene ``i`` in ms."""
        scene = self.scenes[i]
        return self.segments[scene.first].start_ms, self.segments[scene.stop - 1].end_ms

    def drive_span(self, i: int) -> tuple[int, int]:
        """Start and end of drive ``i`` in ms."""
        drive = self.drives[i]
        return self.scene_span(drive.first)[0], self.scene_span(drive.stop - 1)[1]

    def half_span(self, i: int) -> tuple[int, int]:
        """Start and end of half ``i`` in ms."""
        half = self.halves[i]
        return self.drive_span(half.first)[0], self.drive_span(half.stop - 1)[1]

    def score(self) -> tuple[int, int]:
        """Final score as (home, away)."""
        home = sum(1 for g in self.goals if g["team"] == "home")
        return home, len(self.goals) - home

    def stoppage_time_winner(self) -> bool:
        """True when the last goal falls in second-half stoppage time and wins the match."""
        if not self.goals or self.goals[-1]["period"] != 2:
            return False
        last = self.goals[-1]
        if last["start_ms"] - self.half_span(1)[0] < HALF_MS:
            return False
        home, away = self.score()
        return abs(home - away) == 1 and (home > away) == (last["team"] == "home")


@dataclass
class SoccerDataset:
    """Segments in the ingest format, the planted truth tree, and the query set."""

    segments: list[dict]
    truth: dict
    queries: list[dict]


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small means of football scores.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k, p = k + 1, p * rng.random()
    return k


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _other(team: str) -> str:
    return "away" if team == "home" else "home"


class _MatchBuilder:
    """Builds one match forward in time from its own random stream."""

    def __init__(self, index: int, seed: int) -> None:
        # One stream per match, so match-0000 is the same whatever the number of matches.
        self.rng = random.Random(seed * 1_000_003 + index)
        self.index = index
        home, away = self.rng.sample(text.CLUBS, 2)
        players = self.rng.sample(text.SURNAMES, 2 * text.SQUAD)
        squads = {"home": players[: text.SQUAD], "away": players[text.SQUAD :]}
        self.match = Match(f"match-{index:04d}", home, away, squads)
        self.t = 0
        self.half_start = 0
        self.names: dict[str, str] = {}

    def build(self) -> Match:
        """Generate both halves and the break between them."""
        stoppage = [self.rng.randint(0, 5 * 60_000) for _ in range(2)]
        plan = self._plan_goals(stoppage)
        for period in (1, 2):
            if period == 2:
                self.t += BREAK_MS + self.rng.randint(0, 2 * 60_000)
            goals = [(ms, team) for ms, p, team in plan if p == period]
            self._half(period, HALF_MS + stoppage[period - 1], goals)
        return self.match

    def _plan_goals(self, stoppage: list[int]) -> list[tuple[int, int, str]]:
        """Goal times (ms into the half), halves and teams; the drives place them."""
        rng = self.rng
        late = None
        # Every fifth match is won in stoppage time and every seventh ends goalless, so even
        # a small set has truth for those video queries.
        if self.index % 5 == 1 or rng.random() < 0.1:
            stoppage[1] = max(stoppage[1], rng.randint(150_000, 300_000))
            late_ms = HALF_MS + rng.randint(30_000, stoppage[1] - 60_000)
            late = (late_ms, 2, rng.choice(["home", "away"]))
            level = rng.randint(0, 2)
            counts = {"home": level, "away": level}
        elif self.index % 7 == 3:
            counts = {"home": 0, "away": 0}
        else:
            counts = {"home": _poisson(rng, 1.3), "away": _poisson(rng, 1.0)}
            while counts["home"] + counts["away"] > 5:
                counts[max(counts, key=counts.get)] -= 1
        # Regular goals stay well before 45:00, so only a planned late goal lands in stoppage.
        plan = [(rng.randint(90_000, 38 * 60_000), rng.randint(1, 2), team)
                for team, n in counts.items() for _ in range(n)]  # fmt: skip
        return sorted(plan) + ([late] if late else [])

    def _half(self, period: int, target_ms: int, goals: list[tuple[int, str]]) -> None:
        """Alternate possessions until the half's length is reached and its goals placed."""
        self.half_start = self.t
        half = Half(period, first=len(self.match.drives))
        pending = deque(sorted(goals))
        team, outcome = ("home" if period == 1 else "away"), None
        while self.t - self.half_start < target_ms or pending:
            due = bool(pending) and pending[0][0] <= self.t - self.half_start
            scores = due and pending[0][1] == team
            if scores:
                pending.popleft()
            outcome = self._drive(team, period, outcome, scores)
            team = _other(team)
        half.stop = len(self.match.drives)
        self.match.halves.append(half)

    def _drive(self, team: str, period: int, previous: str | None, goal: bool) -> str:
        """One possession; returns how it ended."""
        plan, opener = self._phase_plan(previous, goal)
        last_phase, last_kind = plan[-1]
        outcome = "goal" if goal else (last_kind or "")
        if not goal and last_phase != "stoppage":
            outcome = _pick(self.rng, text.ENDINGS[last_phase])
        drive = Drive(team, period, outcome, first=len(self.match.scenes))
        self.match.drives.append(drive)
        for i, (phase, kind) in enumerate(plan):
            first = opener if i == 0 else None
            last = outcome if i == len(plan) - 1 and last_phase != "stoppage" else None
            self._scene(Scene(phase, kind, team, len(self.match.drives) - 1), first, last)
        drive.stop = len(self.match.scenes)
        if goal:
            self._record_goal(team, period)
        return outcome

    def _phase_plan(self, previous: str | None, goal: bool) -> tuple[list[tuple[str, str | None]], str | None]:
        """The phases of one possession and the label of its first segment."""
        phase, kind, opener = self._opening(previous)
        plan = [(phase, kind)]
        count = self.rng.choices(range(1, 5), weights=_PHASE_COUNT)[0]
        while len(plan) < count:
            plan.append(self._next_phase(*plan[-1]))
        end_phase, end_kind = plan[-1]
        if goal and end_phase not in ("attack", "set_piece"):
            plan.append(("attack", None))
        elif end_phase == "stoppage" and end_kind not in ("foul", "offside"):
            # A possession that ends in a stoppage ends on an infringement by its team.
            plan[-1] = ("stoppage", self.rng.choice(["foul", "offside"]))
        return plan, opener

    def _opening(self, previous: str | None) -> tuple[str, str | None, str | None]:
        """How a possession starts, given how the previous one ended."""
        rng = self.rng
        if previous in (None, "goal"):
            return "build_up", None, "kick-off"
        if previous in ("foul", "offside"):
            return "set_piece", "free kick", None
        if previous == "out of play" and rng.random() < 0.5:
            return "set_piece", "throw-in", None
        if previous in ("shot", "header", "out of play"):
            return "build_up", None, "goal kick"
        if previous == "save" or rng.random() < 0.6:
            return "build_up", None, None
        return "attack", None, None  # a counter-attack straight after winning the ball

    def _next_phase(self, phase: str, kind: str | None) -> tuple[str, str | None]:
        if phase == "stoppage" and kind == "foul":
            return "set_piece", "free kick"
        nxt = _pick(self.rng, text.TRANSITIONS[phase])
        if nxt == "set_piece":
            return nxt, _pick(self.rng, text.SET_PIECES)
        return nxt, (_pick(self.rng, text.PAUSES) if nxt == "stoppage" else None)

    def _scene(self, scene: Scene, first: str | None, last: str | None) -> None:
        """Append one scene and its segments."""
        n = self.rng.randint(*_SCENE_SEGMENTS[scene.phase])
        labels = [first or scene.kind or _pick(self.rng, text.BODY[scene.phase])]
        body = text.BODY[scene.kind or scene.phase]
        while len(labels) < n - (last is not None):
            labels.append(self._next_label(labels, body))
        if last is not None:
            labels.append(last)
        scene.first = len(self.match.segments)
        self.match.scenes.append(scene)
        for label in labels:
            self._segment(label, scene)
        scene.stop = len(self.match.segments)

    def _next_label(self, labels: list[str], body: dict[str, int]) -> str:
        roll = self.rng.random()
        for label, chance in text.FOLLOW.get(labels[-1], {}).items():
            roll -= chance
            if roll < 0:
                if label in text.FLOW or label not in labels:
                    return label
                break
        while True:
            label = _pick(self.rng, body)
            if label in text.FLOW or label not in labels:
                return label

    def _segment(self, label: str, scene: Scene) -> None:
        start = self.t
        self.t += self.rng.randint(*_SEGMENT_MS)
        period = self.match.drives[scene.drive].period
        clock = _clock(start - self.half_start + (period - 1) * HALF_MS)
        self.names = self._names(scene.team)
        caption = text.caption(self.rng, scene.phase, label, self.names)
        scene_index = len(self.match.scenes) - 1
        seg = Segment(start, self.t, label, caption, scene.team, period, clock, scene_index)
        self.match.segments.append(seg)

    def _names(self, team: str) -> dict[str, str]:
        squad, rivals = self.match.players[team], self.match.players[_other(team)]
        # The first of a squad keeps goal; the keeper named is the one facing the attack.
        return {"team": self.match.club(team), "opp": self.match.club(_other(team)),
                "player": self.rng.choice(squad[1:]), "rival": self.rng.choice(rivals[1:]),
                "keeper": rivals[0]}  # fmt: skip

    def _record_goal(self, team: str, period: int) -> None:
        seg, scorer = self.match.segments[-1], self.names["player"]
        goal = {"team": team, "period": period, "clock": seg.clock, "start_ms": seg.start_ms,
                "end_ms": seg.end_ms, "player": scorer}  # fmt: skip
        self.match.goals.append(goal)


def build_matches(matches: int, seed: int) -> list[Match]:
    """The planted trees of ``matches`` matches; match ``i`` depends only on ``seed`` and ``i``."""
    return [_MatchBuilder(i, seed).build() for i in range(matches)]


def match_truth(match: Match) -> dict:
    """The truth.json record of one match: its halves, drives, scenes and goals in ms."""
    m = match
    drives = [dict(zip(("start_ms", "end_ms"), m.drive_span(i), strict=True), team=d.team,
                   period=d.period, outcome=d.outcome) for i, d in enumerate(m.drives)]  # fmt: skip
    scenes = [dict(zip(("start_ms", "end_ms"), m.scene_span(i), strict=True), phase=s.phase,
                   kind=s.kind, team=s.team) for i, s in enumerate(m.scenes)]  # fmt: skip
    return {
        "video_id": m.video_id,
        "duration_ms": m.duration_ms,
        "home": m.home,
        "away": m.away,
        "score": list(m.score()),
        "stoppage_time_winner": m.stoppage_time_winner(),
        "halves": [list(m.half_span(i)) for i in range(len(m.halves))],
        "drives": drives,
        "scenes": scenes,
        "goals": m.goals,
    }


def tree_parents(matches: Sequence[Match]) -> tuple[list[np.ndarray], np.ndarray]:
    """Child-to-parent index arrays of the matches' trees, top down, and segment label ids.

    The arrays are half -> video, drive -> half, scene -> drive, segment -> scene, each
    indexing the level above across all matches; label ids index ``EVENTS``.
    """
    parents: list[list[int]] = [[], [], [], []]
    for v, m in enumerate(matches):
        h0, d0, s0 = (len(level) for level in parents[:3])
        parents[0] += [v] * len(m.halves)
        parents[1] += [h0 + i for i, h in enumerate(m.halves) for _ in range(h.first, h.stop)]
        parents[2] += [d0 + scene.drive for scene in m.scenes]
        parents[3] += [s0 + seg.scene for seg in m.segments]
    event_id = {e: i for i, e in enumerate(EVENTS)}
    labels = np.array([event_id[s.label] for m in matches for s in m.segments], dtype=np.int64)
    return [np.asarray(level, dtype=np.int64) for level in parents], labels


def scale_tree(n_segments: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A match-shaped tree of ``n_segments`` segments built without per-segment Python.

    Returns the same arrays as ``tree_parents``: for scale tests, where captions and
    timings are not needed, only the planted structure.
    """
    if n_segments < 1:
        raise ValueError("n_segments must be at least 1")
    rng = np.random.default_rng([seed, 1])
    segment_scene = _runs(rng, n_segments, *_SCENE_SEGMENTS["build_up"])
    scene_drive = _runs(rng, int(segment_scene[-1]) + 1, 1, 4)
    drive_half = _runs(rng, int(scene_drive[-1]) + 1, 50, 80)
    half_video = np.arange(int(drive_half[-1]) + 1, dtype=np.int64) // 2
    labels = rng.integers(0, len(EVENTS), n_segments, dtype=np.int64)
    return [half_video, drive_half, scene_drive, segment_scene], labels


def _runs(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Parent index of ``n`` children cut into consecutive runs of ``lo``..``hi``."""
    sizes = rng.integers(lo, hi + 1, size=n // lo + 1)
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)[:n]


def random_vectors(
    parents: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    *,
    dim: int = 512,
    seed: int = 0,
    noise: Sequence[float] = NOISE,
    label_weight: float = 0.6,
) -> np.ndarray:
    """Unit float32 vectors for the bottom level of a tree, with the structure planted.

    ``parents[k][i]`` is the parent (in level k) of item ``i`` of level k + 1; level 0
    holds the roots. Each root gets a random direction and each child is
    ``normalise(parent + noise[k] * gaussian)``; a bottom-level item also gets
    ``label_weight`` times its label's direction, so events are recoverable too.
    """
    if len(noise) < len(parents):
        raise ValueError(f"need {len(parents)} noise levels, got {len(noise)}")
    rng = np.random.default_rng([seed, 2])
    roots = int(parents[0].max()) + 1 if len(parents[0]) else 0
    level = _unit(rng.standard_normal((roots, dim), dtype=np.float32))
    for parent, sigma in zip(parents[:-1], noise, strict=False):
        level = _children(rng, level, parent, sigma)
    extra = None
    if labels is not None:
        directions = _unit(rng.standard_normal((int(labels.max()) + 1, dim), dtype=np.float32))
        extra = (directions * np.float32(label_weight), labels)
    return _children(rng, level, parents[-1], noise[len(parents) - 1], extra)


def _children(
    rng: np.random.Generator,
    above: np.ndarray,
    parent: np.ndarray,
    sigma: float,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    chunk: int = 1 << 15,
) -> np.ndarray:
    # Chunked, in place in the output: fresh 64 MB temporaries cost page faults that take
    # longer than the arithmetic. Centred uniform noise with a Gaussian's variance is
    # three times faster to draw, and plants the same structure once normalised.
    dim = above.shape[1]
    out = np.empty((len(parent), dim), dtype=np.float32)
    gathered = np.empty((min(chunk, len(parent)), dim), dtype=np.float32)
    scale = np.float32(sigma * math.sqrt(12.0 / dim))
    for lo in range(0, len(parent), chunk):
        rows = parent[lo : lo + chunk]
        part, tmp = out[lo : lo + len(rows)], gathered[: len(rows)]
        rng.random(out=part, dtype=np.float32)
        part -= np.float32(0.5)
        part *= scale
        # mode="clip" lets take() write straight into ``tmp`` instead of buffering a copy.
        part += np.take(above, rows, axis=0, out=tmp, mode="clip")
        if extra is not None:
            part += np.take(extra[0], extra[1][lo : lo + chunk], axis=0, out=tmp, mode="clip")
        _unit(part)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return x


def semantic_vectors(texts: Sequence[str], encoder: str = "default") -> np.ndarray:
    """Embed ``texts`` with a project text encoder, each distinct text once."""
    from hierarchy.encoder import get_encoder

    unique = sorted(set(texts))
    log.info("embedding %d distinct captions of %d", len(unique), len(texts))
    matrix = get_encoder(encoder).encode(unique)
    row = {t: i for i, t in enumerate(unique)}
    return matrix[[row[t] for t in texts]]


def _vectors(matches: list[Match], mode: str, dim: int, seed: int) -> np.ndarray | None:
    if mode == "none":
        return None
    if mode == "semantic":
        return semantic_vectors([s.text for m in matches for s in m.segments])
    parents, labels = tree_parents(matches)
    return random_vectors(parents, labels, dim=dim, seed=seed)


def _segment_rows(matches: list[Match], vectors: np.ndarray | None) -> list[dict]:
    """Segments in the ingest format, vectors rounded to 6 decimals."""
    rounded = None if vectors is None else np.round(vectors.astype(np.float64), 6)
    pairs = [(m, s) for m in matches for s in m.segments]
    return [
        {"video_id": m.video_id, "start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text,
         **({} if rounded is None else {"vector": rounded[k].tolist()}),
         "labels": [s.label], "attributes": {"team": s.team, "period": s.period, "clock": s.clock},
         "video_duration_ms": m.duration_ms}
        for k, (m, s) in enumerate(pairs)
    ]  # fmt: skip


def generate(matches: int = 2, seed: int = 0, vectors: str = "semantic", dim: int = 512) -> SoccerDataset:
    """Generate ``matches`` matches, their truth and their queries from ``seed``.

    ``vectors`` is ``semantic`` (captions embedded by the default text encoder; ``dim``
    is then the encoder's), ``random`` (planted-structure vectors of ``dim``) or ``none``.
    """
    if vectors not in VECTOR_MODES:
        raise ValueError(f"vectors must be one of {VECTOR_MODES}, got {vectors!r}")
    if matches < 1:
        raise ValueError("matches must be at least 1")
    built = build_matches(matches, seed)
    rows = _segment_rows(built, _vectors(built, vectors, dim, seed))
    truth = {"seed": seed, "matches": [match_truth(m) for m in built]}
    queries = text.make_queries(built, seed)
    log.info("generated %d matches, %d segments, %d queries", matches, len(rows), len(queries))
    return SoccerDataset(rows, truth, queries)


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write(dataset: SoccerDataset, out_dir: str | Path) -> Path:
    """Write ``segments.jsonl``, ``truth.json`` and ``queries.jsonl`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(_dumps(row) + "\n" for row in dataset.segments)
    (out / "segments.jsonl").write_text(lines, encoding="utf-8")
    (out / "truth.json").write_text(_dumps(dataset.truth) + "\n", encoding="utf-8")
    queries = "".join(_dumps(q) + "\n" for q in dataset.queries)
    (out / "queries.jsonl").write_text(queries, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: generate a data set and write it to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m tools.soccer", description=__doc__)
    parser.add_argument("--matches", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vectors", choices=VECTOR_MODES, default="semantic")
    parser.add_argument("--dim", type=int, default=512, help="dimension of random vectors")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    dataset = generate(args.matches, args.seed, args.vectors, args.dim)
    write(dataset, args.out)
    print(
        f"wrote {len(dataset.segments)} segments of {args.matches} matches and "
        f"{len(dataset.queries)} queries to {args.out} in {time.perf_counter() - began:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
