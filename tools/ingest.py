"""Bulk ingest of JSONL segment files through the client SDK."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from service.client import StrataClient, StrataRpcError


@dataclass
class IngestSummary:
    """What an ingest run did."""

    segments: int = 0
    batches: int = 0
    replayed: int = 0
    videos: int = 0
    video_ids: list[str] = field(default_factory=list)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file (blank lines skipped); ValueError names the file and line of
    one that is not a segment (an object with a video_id and integer times)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield _row(raw, f"{path}:{number}")


def _row(raw: bytes, where: str) -> dict[str, Any]:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise ValueError(f"{where}: a segment is a JSON object, not {type(row).__name__}")
    if not isinstance(row.get("video_id"), str) or not row["video_id"]:
        raise ValueError(f"{where}: video_id is missing or not a string")
    for name in ("start_ms", "end_ms"):
        if not isinstance(row.get(name), int) or isinstance(row[name], bool):
            raise ValueError(f"{where}: {name} is missing or not an integer (milliseconds)")
    for name, kind, what in _OPTIONAL:
        if row.get(name) is not None and not _is(row[name], kind):
            raise ValueError(f"{where}: {name} must be {what}")
    return row


# Optional fields of a row: (name, type, or type of each item for a list), as said in errors.
_OPTIONAL = (
    ("id", str, "a string"),
    ("text", str, "a string"),
    ("labels", [str], "a list of strings"),
    ("attributes", dict, "an object"),
    ("vector", [int | float], "a list of numbers"),
)


def _is(value: Any, kind: Any) -> bool:
    if isinstance(kind, list):
        return isinstance(value, list) and all(_is(item, kind[0]) for item in value)
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


def file_digest(path: Path) -> str:
    """A short digest of a file's content, so re-ingesting the same file replays."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ingest_rows(
    client: StrataClient,
    collection: str,
    rows: Iterable[dict[str, Any]],
    batch_size: int,
    request_prefix: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> IngestSummary:
    """Append rows in atomic batches with request ids ``<prefix>-<n>``; create unknown videos."""
    summary = IngestSummary()
    known: set[str] = set()
    for number, batch in enumerate(_chunks(rows, batch_size)):
        created = []
        for row in batch:
            if row["video_id"] not in known:
                if _ensure_video(client, collection, row):
                    created.append(row["video_id"])
                known.add(row["video_id"])
                summary.video_ids.append(row["video_id"])
        summary.videos += len(created)
        try:
            reply = client.append_segments(collection, batch, request_id=f"{request_prefix}-{number}")
        except StrataRpcError:
            _forget_videos(client, collection, created)  # a refused batch leaves nothing behind
            raise
        summary.batches += 1
        summary.segments += len(batch)
        summary.replayed += len(batch) if reply.replayed else 0
        on_batch(len(batch))
    return summary


def ingest_file(
    client: StrataClient,
    collection: str,
    path: Path,
    batch_size: int = 500,
    on_batch: Callable[[int], None] = lambda n: None,
) -> IngestSummary:
    """Ingest a JSONL file (see :func:`ingest_rows`)."""
    return ingest_rows(client, collection, read_jsonl(path), batch_size, file_digest(path), on_batch)


def _ensure_video(client: StrataClient, collection: str, row: dict[str, Any]) -> int:
    """Create the row's video unless it exists; 1 when created."""
    try:
        client.create_video(collection, row["video_id"], int(row.get("video_duration_ms") or 0))
    except StrataRpcError as exc:
        if exc.code is grpc.StatusCode.ALREADY_EXISTS:
            return 0
        raise
    return 1


def _forget_videos(client: StrataClient, collection: str, video_ids: list[str]) -> None:
    """Delete videos this run created for a batch the server refused (they hold nothing)."""
    for video_id in video_ids:
        try:
            client.delete_video(collection, video_id)
        except StrataRpcError:
            pass  # best effort: the refusal is what the caller must see


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
