"""Reopening a sealed video on a real server whose read caches are warm: a reopen changes
only the video's state (it commits no nodes, so no commit sequence, and no read cache
keys on it), and every answer after it, after appends to the reopened video and after
its next seal is what a server started cold on a snapshot of the same data answers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy import snapshot as snapshots
from service.client import StrataClient
from service.gen.strata.v1 import common_pb2, video_pb2
from tests.service.conftest import DIM, rows, start_server, unit_vectors
from tools.soccer import SoccerDataset

COLLECTION = "replay"
LEVELS = ("segment", "scene", "drive", "half", "video")
PROBES = unit_vectors(2, seed=21)
ANCESTORS = [common_pb2.LEVEL_SCENE, common_pb2.LEVEL_DRIVE, common_pb2.LEVEL_HALF, common_pb2.LEVEL_VIDEO]


def node(n: common_pb2.Node) -> tuple:
    """What a client reads of a node (its id, place in the tree, times and counts)."""
    return (n.id, n.level, n.start_ms, n.end_ms, n.parent_id, n.child_count, dict(n.label_counts))


def look(client: StrataClient, video_id: str) -> dict[str, Any]:
    """Everything a client can read of the collection that caches stand behind: searches
    of each level with their evidence and ancestors (one level's scores are raw
    similarities, so a cold server gives them exactly; a routed search's calibration is
    kept until a level changes by a tenth, by design, so it is left out), a label and
    time filter, the video's tree, its state, the stats and Verify."""
    seen: dict[str, Any] = {}
    for level in LEVELS:
        for i, probe in enumerate(PROBES):
            reply = client.search(COLLECTION, vector=probe, level=level, top_k=12, include_ancestors=True)
            seen[f"{level}/{i}"] = [
                (node(h.node), round(h.score, 5), [e.node.id for e in h.evidence], [a.id for a in h.ancestors])
                for h in reply.hits
            ]
        reply = client.search(COLLECTION, vector=PROBES[0], level=level, top_k=12, labels=["shot", "goal"],
                              time_range=(0, 1_800_000))  # fmt: skip
        seen[f"{level}/filtered"] = [(node(h.node), [e.node.id for e in h.evidence]) for h in reply.hits]
    seen["tree"] = [(node(s.node), s.depth) for s in client.subtree(COLLECTION, f"{video_id}/video/0", 4)]
    seen["videos"] = [(v.id, v.state, v.segment_count) for v in client.list_videos(COLLECTION)]
    [stats] = client.stats(COLLECTION).collections
    seen["stats"] = [(s.level, s.node_count, s.indexed_count, s.indexed_sequence) for s in stats.levels]
    seen["problems"] = list(client.verify(COLLECTION).problems)
    return seen


def cold(client: StrataClient, tmp: Path, video_id: str) -> dict[str, Any]:
    """What a server started on a snapshot of the live one answers (no cache warm)."""
    made = Path(tempfile.mkdtemp(dir=tmp))
    snap, data = made / "snapshot", made / "data"
    client.create_snapshot(str(snap))
    snapshots.restore(snap, data)
    server = start_server(data)
    try:
        with StrataClient(server.address, timeout=60) as fresh:
            return look(fresh, video_id)
    finally:
        server.stop(0)


def pages(client: StrataClient, level: str, token: str = "") -> tuple[list[str], str]:
    reply = client.search(COLLECTION, vector=PROBES[1], level=level, top_k=5, page_token=token)
    return [h.node.id for h in reply.hits], reply.next_page_token


def test_a_reopen_between_warm_searches_appends_and_a_seal_serves_what_a_cold_server_does(
    client: StrataClient, soccer: SoccerDataset, tmp_path: Path
) -> None:
    video_id = soccer.truth["matches"][0]["video_id"]
    # Held back for after the reopen: the match's last 150 segments, and every tenth of its
    # first 600 (gaps inside its scenes' spans).
    late = set(range(len(soccer.segments) - 150, len(soccer.segments))) | set(range(0, 600, 10))
    early = [s for i, s in enumerate(soccer.segments) if i not in late]
    held = [soccer.segments[i] for i in sorted(late)]
    client.create_collection(COLLECTION, dimension=DIM)
    for name in (video_id, "other"):
        client.create_video(COLLECTION, name)
    for at in range(0, len(early), 2000):
        client.append_segments(COLLECTION, early[at : at + 2000])
    client.append_segments(COLLECTION, rows("other", unit_vectors(80, seed=22)))
    for name in (video_id, "other"):
        client.seal_video(COLLECTION, name)
    sealed = look(client, video_id)  # every read cache filled
    first = {level: pages(client, level) for level in LEVELS}
    second = {level: pages(client, level, first[level][1]) for level in LEVELS}
    assert not sealed["problems"]

    # Reopened: only its state changed; the tree stays, and so does every answer.
    answer = client.reopen_video(COLLECTION, video_id)
    assert answer.state == video_pb2.VIDEO_STATE_OPEN
    assert client.get_video(COLLECTION, video_id).state == video_pb2.VIDEO_STATE_OPEN
    reopened = look(client, video_id)
    assert reopened == {**sealed, "videos": reopened["videos"]}
    assert (video_id, video_pb2.VIDEO_STATE_OPEN, len(early)) in reopened["videos"]
    assert {level: pages(client, level, first[level][1]) for level in LEVELS} == second
    assert reopened == cold(client, tmp_path, video_id)

    # Appended to (a search between two batches): each new segment finds itself, with no
    # parent until the next build, and the parent levels answer as before.
    client.append_segments(COLLECTION, held[:40])
    look(client, video_id)
    client.append_segments(COLLECTION, held[40:])
    for segment in held[::25]:
        [hit] = client.search(COLLECTION, vector=np.asarray(segment["vector"], np.float32), level="segment",
                              top_k=1, video_ids=[video_id], include_ancestors=True).hits  # fmt: skip
        assert (hit.node.start_ms, hit.node.parent_id, list(hit.ancestors)) == (segment["start_ms"], "", [])
    appended = look(client, video_id)
    assert not appended["problems"]
    for level in LEVELS[1:]:
        assert [hit[0] for hit in appended[f"{level}/0"]] == [hit[0] for hit in sealed[f"{level}/0"]], level
    # Later pages of a search begun before the reopen answer as of its first page.
    assert {level: pages(client, level, first[level][1]) for level in LEVELS} == second
    assert appended == cold(client, tmp_path, video_id)

    # Sealed again: the new tree covers every segment, searched warm as cold.
    client.seal_video(COLLECTION, video_id)
    resealed = look(client, video_id)
    assert not resealed["problems"]
    root = resealed["tree"][0][0]
    assert (root[2], root[3]) == (soccer.segments[0]["start_ms"], soccer.segments[-1]["end_ms"])
    assert sum(1 for n, _ in resealed["tree"] if n[1] == common_pb2.LEVEL_SCENE) > 0
    for segment in held[::25]:  # the segments appended while it was open are in it now
        [hit] = client.search(COLLECTION, vector=np.asarray(segment["vector"], np.float32), level="segment",
                              top_k=1, video_ids=[video_id], include_ancestors=True).hits  # fmt: skip
        assert hit.node.parent_id and [a.level for a in hit.ancestors] == ANCESTORS
    assert resealed == cold(client, tmp_path, video_id)
