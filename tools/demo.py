"""``strata demo``: an embedded server on a data directory, sample matches, their trees,
and searches at every level."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from service.client import StrataClient
from service.gen.strata.v1 import video_pb2
from service.server import create_server
from service.settings import Settings
from tools import soccer
from tools.ingest import ingest_rows
from tools.output import escape
from tools.progress import bars
from tools.render import draw_tree, print_hits

COLLECTION = "soccer-demo"
SEED = 7
# One query per level, then the same kind of questions left to the router (AUTO).
QUERIES = [
    ("segment", "corner kick for the away side"),
    ("scene", "a set piece delivered into the box"),
    ("drive", "a long spell of possession that ends with a shot"),
    ("half", "a half with several fouls and bookings"),
    ("video", "a match decided by a late goal"),
    ("auto", "corner kick"),
    ("auto", "a long home possession that ends in a shot"),
    ("auto", "first half with multiple turnovers"),
    ("auto", "the half with the most corners"),
    ("auto", "a match with a stoppage-time winner"),
    ("auto", "the visitors earn a corner"),
    ("auto", "a match the hosts won"),
    ("auto", "a goal in the second half"),
    ("auto", "a foul then a replay"),
    ("auto", "every goal of match-0001"),
]


def run_demo(data_dir: Path, matches: int, out: Console) -> None:
    """Serve ``data_dir`` in-process, load and seal sample matches, draw a tree, search."""
    began = time.perf_counter()
    out.print(f"[bold]Strata demo[/bold]: data directory {escape(str(data_dir))}")
    server = create_server(Settings.load(data_dir=data_dir, port=0)).start()
    try:
        out.print(f"embedded server listening on {server.address}")
        with StrataClient(server.address) as client:
            videos = _load(client, matches, out)
            _show_tree(client, videos[0], out)
            for level, text in QUERIES:
                print_hits(out, text, client.search(COLLECTION, text, level=level, top_k=3))
            _show_stats(client, out)
    finally:
        server.stop()
    out.print(f"done in {time.perf_counter() - began:.1f}s")


def _load(client: StrataClient, matches: int, out: Console) -> list[str]:
    names = {c.name for c in client.list_collections()}
    if COLLECTION not in names:
        client.create_collection(COLLECTION, text_encoder="default", model_name="all-MiniLM-L6-v2")
        out.print(f"created collection {COLLECTION} with the built-in text encoder")
    data = soccer.generate(matches=matches, seed=SEED, vectors="none")
    out.print(f"generated {matches} matches: {len(data.segments)} segments of ~2 s with captions")
    by_video: dict[str, list[dict[str, Any]]] = {}
    for row in data.segments:
        by_video.setdefault(row["video_id"], []).append(row)
    # Match n is the same whatever the count asked for: a run asking for more matches
    # than the last keeps the sealed ones and adds the rest (a video is ingested and
    # sealed in turn; one stopped half-way replays its stored batches).
    sealed = {v.id for v in client.list_videos(COLLECTION) if v.state == video_pb2.VIDEO_STATE_SEALED}
    added = present = 0
    with bars(out) as progress:  # drawn on a terminal only, as every command's
        task = progress.add_task("ingest, seal and build trees", total=len(data.segments))
        for video_id, rows in by_video.items():
            if video_id in sealed:
                present += len(rows)
                progress.advance(task, len(rows))
                continue
            placed = ((f"{video_id} row {i}", row) for i, row in enumerate(rows, start=1))
            summary = ingest_rows(client, COLLECTION, placed, 500, f"demo-{SEED}", lambda n: progress.advance(task, n))
            added, present = added + summary.segments - summary.replayed, present + summary.replayed
            client.seal_video(COLLECTION, video_id)
    out.print(f"ingested {added} new segments ({present} already present from an earlier run); trees built")
    return list(by_video)


def _show_tree(client: StrataClient, video_id: str, out: Console) -> None:
    """The top of one match's tree, and one possession down to its segments."""
    out.print(f"\n[bold]strata tree {COLLECTION} {video_id} --depth 1[/bold]")
    out.print(draw_tree(client.subtree(COLLECTION, f"{video_id}/video/0", 1)))
    drive = next(iter(client.list_children(COLLECTION, f"{video_id}/half/0", page_size=1)))
    out.print(f"\n[bold]the first possession, {drive.id}, down to its segments[/bold]")
    out.print(draw_tree(client.subtree(COLLECTION, drive.id, 2)))


def _show_stats(client: StrataClient, out: Console) -> None:
    stats = client.stats(COLLECTION).collections[0]
    levels = ", ".join(f"{lv.node_count} {_PLURAL[lv.level]}" for lv in stats.levels)
    out.print(f"{stats.video_count} videos: {levels}")


_PLURAL = ["", "segments", "scenes", "drives", "halves", "videos"]
