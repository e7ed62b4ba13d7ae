"""Turn a batch of client segments into validated node rows, or refuse it whole."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

import duckdb
import numpy as np

from hierarchy import catalog, deadlines, nodes, validate
from hierarchy.encoder import TextEncoder, get_encoder
from hierarchy.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from hierarchy.types import AppendResult, Collection, Level, SegmentInput, VideoState

# Texts embedded between two looks at whether the batch should stop (the database is
# closing, or its caller's deadline passed): 128 long transcripts take about 5 s on two
# cores, a caller's deadline is often seconds away, and a multiple of the encoder's own
# batch (64) embeds as fast as one chunk of them all.
ENCODE_CHUNK = 128


def _go() -> None:
    """A batch no one stops."""


def encoder_of(coll: Collection) -> TextEncoder | None:
    """The text encoder of ``coll``, loaded on first use; None when it has none."""
    return get_encoder(coll.space.text_encoder) if coll.space.text_encoder else None


def stopper(closing: Callable[[], bool], deadline: float | None) -> Callable[[], None]:
    """What stops a batch not yet committed: the database closing, its caller's deadline
    (``time.monotonic()``) passed."""

    def stop_if_due() -> None:
        if closing():
            raise Unavailable("the database is closing; send the batch again once it is back")
        deadlines.check(deadline, "before the batch was stored", "nothing of it was; send it again with more time")

    return stop_if_due


def default_segment_id(video_id: str, start_ms: int) -> str:
    """The id of a segment the client did not name: unique, since segments never overlap."""
    return f"{video_id}@{start_ms}"


@dataclass(frozen=True)
class Checked:
    """A batch whose checks that read nothing stored have passed: its segments, their
    ids, their vectors (unit length for cosine) and which segments sent none (their rows
    zero until :func:`embedded` fills them)."""

    segments: list[SegmentInput]
    ids: list[str]
    vectors: np.ndarray
    missing: list[int]


def check(coll: Collection, segments: list[SegmentInput]) -> Checked:
    """Validate ``segments`` against the request alone: fields, ids, overlaps inside the
    batch, the vectors sent. Reads nothing stored, so it runs outside the collection's
    write lock: a batch's checks and vector scaling (8 ms of a 1,000-segment append) do
    not hold up another writer's commit."""
    for i, seg in enumerate(segments):
        _check_fields(seg, f"segments[{i}]")
    ids = [seg.id or default_segment_id(seg.video_id, seg.start_ms) for seg in segments]
    _check_unique_ids(ids)
    _check_no_overlap_in_batch(segments)
    vectors, missing = _given_vectors(coll, segments)
    return Checked(segments, ids, vectors, missing)


def against_store(cur: duckdb.DuckDBPyConnection, coll: Collection, checked: Checked) -> None:
    """Refuse a checked batch the store's state does not take: a video missing, sealed
    or shorter than a segment's end; a stored segment it overlaps or whose id it takes."""
    _check_videos(cur, coll, checked.segments)
    _check_against_store(cur, coll, checked.segments, checked.ids)


def embedded(
    coll: Collection, checked: Checked, encoder: TextEncoder | None, halt: Callable[[], None] = _go
) -> Checked:
    """The batch with the vectors it did not send embedded from its texts; ``halt`` is
    called between chunks and raises to stop the batch (the database is closing, the
    caller stopped waiting)."""
    if not checked.missing:
        return checked
    if encoder is None:
        raise InvalidArgument(
            f"segments[{checked.missing[0]}].vector",
            f"is missing and collection {coll.name!r} has no text encoder; send vectors",
        )
    vectors = checked.vectors.copy()
    vectors[checked.missing] = _embed([checked.segments[i].text for i in checked.missing], encoder, halt)
    return replace(checked, vectors=vectors, missing=[])


def checked(
    cur: duckdb.DuckDBPyConnection,
    coll: Collection,
    segments: list[SegmentInput],
    encoder: Callable[[Collection], TextEncoder | None],
    halt: Callable[[], None] = _go,
) -> Checked:
    """A batch as it goes to the write lock: :func:`check`, and for texts to embed
    :func:`against_store` first (refused before seconds of embedding, if at all), then
    :func:`embedded` (``encoder(coll)`` is asked only then). :func:`prepare` checks it against
    the store again under the lock."""
    batch = check(coll, segments)
    if batch.missing:
        against_store(cur, coll, batch)
        batch = embedded(coll, batch, encoder(coll), halt)
    return batch


def replayed(
    cur: duckdb.DuckDBPyConnection, coll: Collection, request_id: str, segments: list[SegmentInput]
) -> AppendResult | None:
    """The answer of the append that already carried ``request_id``, if one did, when
    ``segments`` are the ones it stored (by id, or video and start): a retry. Their other
    fields are not compared (a retry is answered before any check); a batch of other
    segments under a used id (a client's counter reset) is refused, not answered OK."""
    done = nodes.find_request(cur, coll.id, request_id) if request_id else None
    if done is None:
        return None
    stored = done[1]["segment_ids"]
    named = [seg.id or default_segment_id(seg.video_id, seg.start_ms) for seg in segments]
    if named != stored:
        if sorted(named) == sorted(stored):  # its answer lists them in the first one's order
            raise InvalidArgument(
                "request_id",
                "was used by an earlier batch of these segments in another order; a retry resends the batch "
                "as it was sent (its segment_ids answer in that order)",
            )
        what = f"{len(stored)} segments from {stored[0]!r}" if stored else "no segments"
        raise InvalidArgument(
            "request_id",
            f"was used by an earlier batch of other segments ({what}); a retry resends the same batch: "
            "send this one under a new request_id",
        )
    return AppendResult(stored, done[0], replayed=True)


def prepare(cur: duckdb.DuckDBPyConnection, coll: Collection, checked: Checked) -> nodes.NodeBatch:
    """A checked and embedded batch's node rows, once checked :func:`against_store`
    (under the collection's write lock, so no write comes between the check and them)."""
    assert not checked.missing, "embed the batch first"
    against_store(cur, coll, checked)
    segments, ids = checked.segments, checked.ids
    return nodes.NodeBatch(
        keys=np.zeros(0, np.int64),
        node_ids=ids,
        level=Level.SEGMENT,
        video_ids=[s.video_id for s in segments],
        start_ms=np.array([s.start_ms for s in segments], np.int64),
        end_ms=np.array([s.end_ms for s in segments], np.int64),
        texts=[s.text for s in segments],
        # Each label once, in the order first given: a parent counts the segments carrying
        # a label, not the times it was given.
        labels=[list(dict.fromkeys(s.labels)) for s in segments],
        attributes=[s.attributes for s in segments],
        shot_cuts=[s.shot_cut for s in segments],
        vectors=checked.vectors,
    )


def _check_fields(seg: SegmentInput, field: str) -> None:
    validate.identifier(seg.video_id, f"{field}.video_id")
    validate.segment_id(seg.id, f"{field}.id", default_segment_id(seg.video_id, seg.start_ms))
    validate.segment_times(seg, field)
    validate.text(seg.text, f"{field}.text")
    validate.labels(seg.labels, f"{field}.labels")
    validate.attributes(seg.attributes, f"{field}.attributes")
    if seg.vector is None and not seg.text.strip():
        raise InvalidArgument(f"{field}.vector", "give a vector, or text for the collection's encoder to embed")


def _check_unique_ids(ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, node_id in enumerate(ids):
        if node_id in seen:
            raise InvalidArgument(
                f"segments[{i}].id", f"{node_id!r} repeats segments[{seen[node_id]}] in the same batch"
            )
        seen[node_id] = i


def _check_videos(cur: duckdb.DuckDBPyConnection, coll: Collection, segments: list[SegmentInput]) -> None:
    known = catalog.video_states(cur, coll.id, sorted({s.video_id for s in segments}))
    for i, seg in enumerate(segments):
        if seg.video_id not in known:
            raise NotFound(
                f"video {seg.video_id!r} does not exist in {coll.name!r}; create it first",
                f"segments[{i}].video_id",
            )
        state, duration = known[seg.video_id]
        if state == VideoState.SEALED.value:
            raise FailedPrecondition(
                f"video {seg.video_id!r} is sealed; reopen it to append", f"segments[{i}].video_id"
            )
        if duration and seg.end_ms > duration:
            raise InvalidArgument(f"segments[{i}].end_ms", f"is {seg.end_ms}, past the video's duration {duration}")


def _check_no_overlap_in_batch(segments: list[SegmentInput]) -> None:
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, seg in enumerate(segments):
        by_video[seg.video_id].append(i)
    for members in by_video.values():
        members.sort(key=lambda i: segments[i].start_ms)
        for prev, nxt in zip(members, members[1:], strict=False):
            if segments[nxt].start_ms < segments[prev].end_ms:
                raise InvalidArgument(f"segments[{nxt}].start_ms", f"overlaps segments[{prev}] of the same video")


def _check_against_store(
    cur: duckdb.DuckDBPyConnection, coll: Collection, segments: list[SegmentInput], ids: list[str]
) -> None:
    # A segment the client did not name is named by its video and start, so a stored one
    # of that name overlaps it and the overlap query finds it. Only named segments are
    # looked up by id: that query reads every id of the collection (21 ms a batch of
    # 1,000 at 1 M segments, against 4 ms for the overlaps). A named segment elsewhere
    # that holds a default name is caught by the store's unique ids (see taken_id).
    named = [node_id for node_id, seg in zip(ids, segments, strict=True) if seg.id]
    if named and (taken := nodes.existing_ids(cur, coll.id, named)):
        _refuse_taken(ids, taken)
    starts = np.array([s.start_ms for s in segments], np.int64)
    ends = np.array([s.end_ms for s in segments], np.int64)
    clash = nodes.first_overlap(cur, coll.id, [s.video_id for s in segments], starts, ends)
    if clash is not None and clash[1] == ids[clash[0]]:
        if segments[clash[0]].id:
            _refuse_taken(ids, {clash[1]})
        # Sent without an id, it clashes on its start: the caller never named an id.
        seg = segments[clash[0]]
        raise AlreadyExists(
            f"video {seg.video_id!r} holds a segment starting at {seg.start_ms} ms already ({clash[1]!r})",
            f"segments[{clash[0]}].start_ms",
        )
    if clash is not None:
        raise AlreadyExists(
            f"overlaps the stored segment {clash[1]!r}; segments of a video never overlap",
            f"segments[{clash[0]}].start_ms",
        )


def taken_id(cur: duckdb.DuckDBPyConnection, coll: Collection, ids: list[str]) -> None:
    """Name the first of ``ids`` already stored (after the store refused the batch for a
    repeated id the checks let through); nothing when none is."""
    if taken := nodes.existing_ids(cur, coll.id, ids):
        _refuse_taken(ids, taken)


def _refuse_taken(ids: list[str], taken: set[str]) -> None:
    i = next(i for i, node_id in enumerate(ids) if node_id in taken)
    raise AlreadyExists(f"segment {ids[i]!r} already exists", f"segments[{i}].id")


def _given_vectors(coll: Collection, segments: list[SegmentInput]) -> tuple[np.ndarray, list[int]]:
    """The vectors sent, checked and scaled, in their rows (the others zero), and the
    positions of the segments that sent none."""
    space = coll.space
    out = np.zeros((len(segments), space.dimension), np.float32)
    given = [i for i, seg in enumerate(segments) if seg.vector is not None]
    missing = [i for i, seg in enumerate(segments) if seg.vector is None]
    if given:
        sent = [segments[i].vector for i in given]
        out[given] = validate.vectors(sent, space.dimension, space.metric, lambda at: f"segments[{given[at]}].vector")
    return out, missing


def _embed(texts: list[str], encoder: TextEncoder, halt: Callable[[], None]) -> np.ndarray:
    """The vectors of ``texts``, embedded in chunks with ``halt`` called before each."""
    # Each distinct text once (captions repeat), in chunks: a closing database is not held
    # past its grace by a batch to embed (10,000 captions take about 20 s on two cores)
    # that would then meet a closed store, nor a server's cores by a batch whose caller
    # has given up (and may be sending it again).
    distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    embedded = []
    for lo in range(0, len(distinct), ENCODE_CHUNK):
        halt()
        embedded.append(encoder.encode([str(t) for t in distinct[lo : lo + ENCODE_CHUNK]]))
    return np.concatenate(embedded)[inverse.reshape(-1)]
