"""Bulk ingest of JSONL and Parquet segment files through the client SDK."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from service.client import StrataClient, StrataRpcError, segment_from_dict
from service.gen.strata.v1 import segment_pb2, video_pb2
from tools.jsonl import count_rows, read_jsonl
from tools.output import many
from tools.parquet import count_parquet, is_parquet, read_parquet


@dataclass
class IngestSummary:
    """What an ingest run did."""

    segments: int = 0
    batches: int = 0
    replayed: int = 0
    videos: int = 0
    video_ids: list[str] = field(default_factory=list)


class IngestRefused(Exception):
    """A batch the server refused: its error, the place in the input of the segment the
    error names (``file:line``; empty when it names none), what the run stored before
    that batch, and the place of the batch's first line."""

    def __init__(
        self, error: StrataRpcError, where: str, stored: IngestSummary, first: str = "", kept: list[str] | None = None
    ) -> None:
        super().__init__(str(error))
        self.error, self.where, self.stored, self.first = error, where, stored, first
        self.kept = kept or []  # videos the run made for the batch, kept: another client wrote to them

    def hint(self) -> str:
        """What to do about it, what is stored already, and the videos made for the batch
        that were kept (another client has written to them since)."""
        if too_large(self.error):
            said = [self._smaller_batches()]  # which says what is stored, and from which line to go on
        else:
            said = [_HINTS.get(self.error.code.name, "")]
            if _collection_gone(self.error) and (self.stored.batches or self.stored.videos):  # deleted meanwhile
                said = ["the collection is gone, with every segment stored in it; create it again to ingest anew"]
            elif self.stored.batches:
                said.append(f"{_before(self.stored.segments)} and a re-run with the same --batch-size replays them")
        return "; ".join(part for part in [*said, kept_note(self.kept)] if part)

    def _smaller_batches(self) -> str:
        """Advice on a batch too large: a lower --batch-size, for the lines not yet stored
        (a re-run cutting the stored ones into other batches is refused for them)."""
        if not self.stored.batches:
            return "send smaller batches: lower --batch-size"
        return (
            f"send smaller batches: {_before(self.stored.segments)}, and a lower --batch-size would cut them into "
            f"other batches, refused as stored already; ingest the lines from {self.first or 'its first line'} on, "
            "in a file of their own, with a lower --batch-size"
        )


def kept_note(kept: list[str]) -> str:
    """What a refused batch's undo left of the videos it made (another client has written
    to them since), or "" when it left none."""
    if not kept:
        return ""
    them = "it" if len(kept) == 1 else "them"
    return f"kept {', '.join(map(repr, kept))}, made for this batch: another client has stored segments in {them} since"


def too_large(error: StrataRpcError) -> bool:
    """Whether a batch was refused for its size: the server's limit of segments a batch
    (which names the field ``segments``) or gRPC's of bytes a message, on this side or the
    server's. Not a full disk, also RESOURCE_EXHAUSTED, where smaller batches would not
    replay what is stored."""
    exhausted = error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    return exhausted and ("segments" in error.fields or _MESSAGE_TOO_LARGE.search(error.message) is not None)


# What to do about a batch refused for what the server holds or allows (not for a
# line's content, which the error names). A full disk's message says to make room.
_HINTS = {
    "ALREADY_EXISTS": "it is stored already: by an earlier run that cut the file into other batches (give that "
    "run's --batch-size) or that ran before another video of this batch was deleted (a batch's id holds its "
    "videos: ingest the deleted video's lines in a file of their own), or by another line or file with this id, "
    "or this video and start; or another segment of the video covers part of its time",
    "FAILED_PRECONDITION": "the video is sealed: if an earlier run stored these lines, give that run's "
    "--batch-size (its batches replay); to add to it, reopen it: strata videos reopen COLLECTION VIDEO",
    "DEADLINE_EXCEEDED": "the server took longer than --timeout (it embeds the texts of a batch that sends no "
    "vectors) and most likely dropped the batch unstored; re-run with a longer --timeout (a batch it did store "
    "replays), or the same command once the server is less busy",
    "UNAVAILABLE": "the server is out of reach or restarting; run the same command once it serves again",
}
# gRPC's words for a message past its limit: "Sent message larger than max (N vs. M)"
# from this side, "Received message larger than max" from the server.
_MESSAGE_TOO_LARGE = re.compile(r"message larger than max")
_SEGMENT_FIELD = re.compile(r"segments\[(\d+)\]")


def batch_request_id(prefix: str, segments: Iterable[segment_pb2.Segment], born: dict[str, int]) -> str:
    """``<prefix>-<digest>``: the request id of one batch, a digest of its segments and of
    when each of their videos was created (``born``: video id -> creation time, ms).

    The server answers a known id with its first answer and writes nothing, so the id
    must change with anything the batch sends (a re-run cutting the file into other
    batches, an edited line) and with the video it goes to (one deleted and made again
    keeps the old ids), and stay the same otherwise: the same batch then replays."""
    digest = hashlib.sha256()
    videos: dict[str, None] = {}
    for segment in segments:
        data = segment.SerializeToString(deterministic=True)  # map fields (attributes) in key order
        digest.update(len(data).to_bytes(8, "little") + data)
        videos[segment.video_id] = None
    digest.update(json.dumps([[video, born[video]] for video in videos]).encode())
    return f"{prefix}-{digest.hexdigest()[:32]}"


def ingest_rows(
    client: StrataClient,
    collection: str,
    rows: Iterable[tuple[str, dict[str, Any]]],
    batch_size: int,
    request_prefix: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> IngestSummary:
    """Append rows, each given with its place in the input, in atomic batches, each with a
    request id made from its segments and videos (see :func:`batch_request_id`); create
    unknown videos. A refused batch raises :class:`IngestRefused`."""
    summary = IngestSummary()
    try:
        _append_all(client, collection, rows, batch_size, request_prefix, on_batch, summary)
    except ValueError as exc:  # a line that is not a segment: what came before it is stored
        if summary.batches:
            raise ValueError(
                f"{exc} ({_before(summary.segments)} and a re-run with the same --batch-size replays them)"
            ) from exc
        raise
    return summary


def _append_all(
    client: StrataClient,
    collection: str,
    rows: Iterable[tuple[str, dict[str, Any]]],
    batch_size: int,
    request_prefix: str,
    on_batch: Callable[[int], None],
    summary: IngestSummary,
) -> None:
    """The loop of :func:`ingest_rows`, counting what it stores into ``summary``."""
    known: dict[str, _Seen] = {}  # the videos seen
    for placed in _chunks(rows, batch_size):
        batch = [row for _, row in placed]
        segments = [segment_from_dict(row) for row in batch]
        created = _videos_of(client, collection, placed, known, summary)
        born = {row["video_id"]: known[row["video_id"]].video.create_time.ToMilliseconds() for row in batch}
        request_id = batch_request_id(request_prefix, segments, born)
        try:
            reply = client.append_segments(collection, segments, request_id=request_id)
        except StrataRpcError as exc:
            kept = _forget_videos(client, collection, created)  # a refused batch leaves nothing behind
            places = [where for where, _ in placed]
            raise IngestRefused(exc, _place(exc, places), summary, places[0], kept) from exc
        summary.batches += 1
        summary.segments += len(batch)
        summary.replayed += len(batch) if reply.replayed else 0
        on_batch(len(batch))


def ingest_file(
    client: StrataClient,
    collection: str,
    path: Path,
    batch_size: int = 500,
    on_batch: Callable[[int], None] = lambda n: None,
) -> IngestSummary:
    """Ingest a JSONL or Parquet file (see :func:`ingest_rows`)."""
    rows = read_parquet(path) if is_parquet(path) else read_jsonl(path)
    return ingest_rows(client, collection, rows, batch_size, "ingest", on_batch)


def count_file(path: Path) -> int | None:
    """The segments of a JSONL or Parquet file (a progress bar's total); None where the
    file can be read only once (standard input, a pipe)."""
    return count_parquet(path) if is_parquet(path) else count_rows(path)


def _place(error: StrataRpcError, places: list[str]) -> str:
    """The place of the batch's segment the error names (``segments[i]``), if it names one."""
    for name in error.fields:
        if (found := _SEGMENT_FIELD.match(name)) and int(found[1]) < len(places):
            return places[int(found[1])]
    return ""


@dataclass(frozen=True)
class _Seen:
    """A video as the run first saw it: as created (from the line ``created_from``) or as
    found (``created_from`` empty)."""

    video: video_pb2.Video
    created_from: str = ""


def _videos_of(
    client: StrataClient,
    collection: str,
    placed: list[tuple[str, dict[str, Any]]],
    known: dict[str, _Seen],
    summary: IngestSummary,
) -> list[str]:
    """Create the videos of a batch's rows not seen before (or find those that exist),
    into ``known``; the ids of those created. A video refused, or a row whose
    video_duration_ms is not its video's, undoes them (the batch leaves nothing behind):
    the one raises :class:`IngestRefused` naming its row's line, the other ValueError."""
    created: list[str] = []
    for where, row in placed:
        if (video_id := row["video_id"]) not in known:
            try:
                video, made = _ensure_video(client, collection, row)
            except StrataRpcError as exc:
                kept = _forget_videos(client, collection, created)
                of_row = bool(exc.fields) and "collection" not in exc.fields  # the video's fields, not the collection
                raise IngestRefused(exc, where if of_row else "", summary, placed[0][0], kept) from exc
            known[video_id] = _Seen(video, where if made else "")
            if made:
                created.append(video_id)
            summary.video_ids.append(video_id)
        if problem := _duration_problem(row, known[video_id]):
            kept = kept_note(_forget_videos(client, collection, created))
            raise ValueError(f"{where}: {problem}" + (f"; {kept}" if kept else ""))
    summary.videos += len(created)
    return created


def _duration_problem(row: dict[str, Any], seen: _Seen) -> str:
    """What is wrong with a row's video_duration_ms, or "": it differs from its video's.
    A video's duration is set when it is created; the server would ignore another."""
    given, held = row.get("video_duration_ms") or 0, seen.video.duration_ms  # 0: not known
    if not given or given == held:
        return ""
    had = f"duration_ms {held}" if held else "no duration (0: unknown)"
    was = f"was created with {had} from {seen.created_from}" if seen.created_from else f"exists with {had}"
    return (
        f"video_duration_ms: is {given}, but video {row['video_id']!r} {was}; a video's duration is set once, when "
        "it is created: give each of its lines that one, or none"
    )


def _ensure_video(client: StrataClient, collection: str, row: dict[str, Any]) -> tuple[video_pb2.Video, bool]:
    """The row's video, created unless it exists; and whether it was created."""
    try:
        return client.create_video(collection, row["video_id"], int(row.get("video_duration_ms") or 0)), True
    except StrataRpcError as exc:
        if exc.code is not grpc.StatusCode.ALREADY_EXISTS:
            raise
    return client.get_video(collection, row["video_id"]), False


def _forget_videos(client: StrataClient, collection: str, video_ids: list[str]) -> list[str]:
    """Delete videos this run created for a batch the server refused, each only while it
    holds no segment: another client may have stored one in it since it was created. The
    videos kept for that reason."""
    kept = []
    for video_id in video_ids:
        try:
            client.delete_video(collection, video_id, only_if_empty=True)
        except StrataRpcError as exc:  # best effort: the refusal is what the caller must see
            if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
                kept.append(video_id)
    return kept


def _chunks(rows: Iterable[tuple[str, dict[str, Any]]], size: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    batch: list[tuple[str, dict[str, Any]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _collection_gone(error: StrataRpcError) -> bool:
    """Whether ``error`` says the collection does not exist (deleted while the run went on)."""
    return error.code is grpc.StatusCode.NOT_FOUND and "collection" in error.fields


def _before(count: int) -> str:
    """What a run stopped by a batch had stored: ``the 4 segments before its batch are stored``."""
    return f"the {many(count, 'segment')} before its batch {'is' if count == 1 else 'are'} stored"
