"""What a BuildHierarchy request builds, and the operation that builds it: the named
videos (each once, every one known and holding segments) or every video with segments,
one tree after another; a video deleted before its turn came is left out, not a failure
of the rest."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from hierarchy import catalog, validate
from hierarchy.errors import FailedPrecondition, NotFound, Unavailable
from hierarchy.operations import Progress
from hierarchy.types import Collection


def targets(cur: duckdb.DuckDBPyConnection, coll: Collection, video_ids: list[str]) -> list[str]:
    """The videos to build: ``video_ids`` each once in the order first named (the request
    is refused naming the first that does not exist or has no segments), or, when none
    are named, every video of the collection that has segments."""
    if not video_ids:
        return catalog.video_ids_with_segments(cur, coll.id)
    known = catalog.video_states(cur, coll.id, video_ids)
    held = catalog.videos_with_segments(cur, coll.id, list(known))
    for i, video_id in enumerate(video_ids):
        validate.identifier(video_id, f"video_ids[{i}]")
        if video_id not in known:
            raise NotFound(f"video {video_id!r} does not exist in collection {coll.name!r}", f"video_ids[{i}]")
        if video_id not in held:
            raise FailedPrecondition(
                f"video {video_id!r} has no segments to build a tree from; append some or leave it out",
                f"video_ids[{i}]",
            )
    return list(dict.fromkeys(video_ids))


def work(
    videos: list[str], build: Callable[[str], object], stopped: Callable[[], bool], alive: Callable[[], bool]
) -> Callable[[Progress], None]:
    """The operation's work: ``build`` each video in turn, reporting progress; a video
    gone (or emptied) since the request is reported as skipped while the collection is
    ``alive()``, and the operation fails NOT_FOUND once it is not. Stops with UNAVAILABLE
    once ``stopped()`` (the server is closing)."""

    def run(advance: Progress) -> None:
        for video_id in videos:
            if stopped():
                raise Unavailable("the server stopped before the build finished; run it again")
            try:
                build(video_id)
            except (NotFound, FailedPrecondition) as exc:
                if exc.field != "video_id":  # the collection is gone: nothing more to build
                    raise
                if not alive():  # its videos read as gone because the collection went
                    raise NotFound("the collection was deleted while the build ran", "collection") from exc
                advance(1, skipped=video_id)
                continue
            advance(1)

    return run
