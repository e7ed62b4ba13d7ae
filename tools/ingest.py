"""Bulk ingest of JSONL segment files through the client SDK."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from hierarchy import validate
from hierarchy.errors import InvalidArgument
from service.client import StrataClient, StrataRpcError, segment_from_dict
from service.gen.strata.v1 import segment_pb2, video_pb2
from service.rows import FIELDS, REQUIRED
from tools.output import many


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
    error names (``file:line``; empty when it names none), and what the run stored
    before that batch."""

    def __init__(self, error: StrataRpcError, where: str, stored: IngestSummary) -> None:
        super().__init__(str(error))
        self.error, self.where, self.stored = error, where, stored

    def hint(self) -> str:
        """What to do about it, and what is stored already."""
        said = [_HINTS.get(self.error.code.name, "")]
        if self.stored.batches:
            said.append(f"{_before(self.stored.segments)} and a re-run with the same --batch-size replays them")
        return "; ".join(part for part in said if part)


# What to do about a batch refused for what the server holds or allows (not for a
# line's content, which the error names).
_HINTS = {
    "ALREADY_EXISTS": "it is stored already: by an earlier run that cut the file into other batches (give that "
    "run's --batch-size), or by another line or file with this id, or this video and start; or another segment "
    "of the video covers part of its time",
    "FAILED_PRECONDITION": "the video is sealed: if an earlier run stored these lines, give that run's "
    "--batch-size (its batches replay); to add to it, reopen it: strata videos reopen COLLECTION VIDEO",
    "RESOURCE_EXHAUSTED": "send smaller batches: lower --batch-size",
}
_SEGMENT_FIELD = re.compile(r"segments\[(\d+)\]")


def count_rows(path: Path) -> int:
    """The lines of a JSONL file that are not blank (a progress bar's total)."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL file with their places (``file:line``; blank lines skipped);
    ValueError names the file, line and field of one that is not a segment (see
    :func:`check_row`)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                where = f"{path}:{number}"
                yield where, _row(raw, where)


def _row(raw: bytes, where: str) -> dict[str, Any]:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
    except ValueError as exc:  # an integer of thousands of digits; not the advice to a programmer after ";"
        raise ValueError(f"{where}: {str(exc).split(';')[0]}") from exc
    except RecursionError as exc:  # arrays in arrays thousands deep
        raise ValueError(f"{where}: nested too deeply") from exc
    if not isinstance(row, dict):
        raise ValueError(f"{where}: a segment is a JSON object, not {type(row).__name__}")
    problem = check_row(row)
    if problem:
        raise ValueError(f"{where}: {problem}")
    return row


def check_row(row: dict[str, Any]) -> str:
    """What is wrong with a segment row, as ``field: problem``; empty when nothing is.

    Checked before the row's batch is sent, so the error can name the file and line:
    the client would otherwise trip over some values (a duration of ``[1]`` or ``1e400``,
    a time past int64) and silently misread others (``"shot_cut": "no"`` is true)."""
    for name in REQUIRED:
        if row.get(name) is None:
            return f"{name}: is missing"
    if unknown := sorted(set(row) - FIELDS):  # a misspelt field ("label") would be dropped unseen
        return f"{unknown[0]}: is not a segment field; use {', '.join(sorted(FIELDS))}"
    for name, check in _FIELDS:
        if row.get(name) is not None and (problem := check(row[name])):
            return f"{name}: {problem}"
    if row["end_ms"] <= row["start_ms"]:
        return f"end_ms: must be after start_ms (is {row['end_ms']}, start_ms {row['start_ms']})"
    try:
        validate.attributes(row.get("attributes") or {}, "attributes")
    except InvalidArgument as exc:  # NaN or infinity inside, an empty key, too deep
        return str(exc)
    return ""


def _time(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer (milliseconds)"
    # The server's range: times stay exact in every client language, and the protobuf
    # int64 setter never sees a larger one.
    if not 0 <= value <= validate.MAX_TIME_MS:
        return f"must be between 0 and {validate.MAX_TIME_MS}, not {value}"
    return ""


def _vector(value: Any) -> str:
    if isinstance(value, list) and all(_float32(x) for x in value):
        return ""
    return "must be a list of numbers, each finite and within float32 range"


def _float32(value: Any) -> bool:
    # A vector is sent as float32: a larger number would arrive as infinity. An int is
    # compared as it is: float() raises on one like 10**400.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and abs(value) <= _FLOAT32_MAX


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _kind(check: Callable[[Any], bool], what: str) -> Callable[[Any], str]:
    return lambda value: "" if check(value) else what


_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Each field of a row, checked when present (not null): its problem, or "".
_FIELDS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("video_id", _kind(lambda v: isinstance(v, str) and v != "", "must be a non-empty string")),
    ("start_ms", _time),
    ("end_ms", _time),
    ("video_duration_ms", _time),
    ("id", _kind(lambda v: isinstance(v, str), "must be a string")),
    ("text", _kind(lambda v: isinstance(v, str), "must be a string")),
    ("shot_cut", _kind(lambda v: isinstance(v, bool), "must be true or false")),
    ("labels", _kind(_strings, "must be a list of strings")),
    ("attributes", _kind(lambda v: isinstance(v, dict), "must be an object")),
    ("vector", _vector),
)


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
    born: dict[str, int] = {}  # the videos seen: when each was created (ms)
    for placed in _chunks(rows, batch_size):
        batch = [row for _, row in placed]
        segments = [segment_from_dict(row) for row in batch]
        created = []
        for row in batch:
            if row["video_id"] not in born:
                video, made = _ensure_video(client, collection, row)
                if made:
                    created.append(row["video_id"])
                born[row["video_id"]] = video.create_time.ToMilliseconds()
                summary.video_ids.append(row["video_id"])
        summary.videos += len(created)
        request_id = batch_request_id(request_prefix, segments, born)
        try:
            reply = client.append_segments(collection, segments, request_id=request_id)
        except StrataRpcError as exc:
            _forget_videos(client, collection, created)  # a refused batch leaves nothing behind
            raise IngestRefused(exc, _place(exc, [where for where, _ in placed]), summary) from exc
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
    """Ingest a JSONL file (see :func:`ingest_rows`)."""
    return ingest_rows(client, collection, read_jsonl(path), batch_size, "ingest", on_batch)


def _place(error: StrataRpcError, places: list[str]) -> str:
    """The place of the batch's segment the error names (``segments[i]``), if it names one."""
    for name in error.fields:
        if (found := _SEGMENT_FIELD.match(name)) and int(found[1]) < len(places):
            return places[int(found[1])]
    return ""


def _ensure_video(client: StrataClient, collection: str, row: dict[str, Any]) -> tuple[video_pb2.Video, bool]:
    """The row's video, created unless it exists; and whether it was created."""
    try:
        return client.create_video(collection, row["video_id"], int(row.get("video_duration_ms") or 0)), True
    except StrataRpcError as exc:
        if exc.code is not grpc.StatusCode.ALREADY_EXISTS:
            raise
    return client.get_video(collection, row["video_id"]), False


def _forget_videos(client: StrataClient, collection: str, video_ids: list[str]) -> None:
    """Delete videos this run created for a batch the server refused (they hold nothing)."""
    for video_id in video_ids:
        try:
            client.delete_video(collection, video_id)
        except StrataRpcError:
            pass  # best effort: the refusal is what the caller must see


def _chunks(rows: Iterable[tuple[str, dict[str, Any]]], size: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    batch: list[tuple[str, dict[str, Any]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _before(count: int) -> str:
    """What a run stopped by a batch had stored: ``the 4 segments before its batch are stored``."""
    return f"the {many(count, 'segment')} before its batch {'is' if count == 1 else 'are'} stored"
