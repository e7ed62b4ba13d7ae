"""``strata demo``: an embedded server on a data directory, sample matches, searches."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from service.client import StrataClient
from service.server import create_server
from service.settings import Settings
from tools import soccer
from tools.cli import print_hits
from tools.ingest import ingest_rows

COLLECTION = "soccer-demo"
SEED = 7
QUERIES = [
    "corner kick for the away side",
    "the keeper makes a save",
    "a foul stops play",
    "a player heads the ball",
    "the ball goes in the net",
]


def run_demo(data_dir: Path, matches: int, out: Console) -> None:
    """Serve ``data_dir`` in-process, load ``matches`` sample matches, run the queries."""
    began = time.perf_counter()
    out.print(f"[bold]Strata demo[/bold]: data directory {data_dir}")
    server = create_server(Settings.load(data_dir=data_dir, port=0)).start()
    try:
        out.print(f"embedded server listening on {server.address}")
        with StrataClient(server.address) as client:
            _load(client, matches, out)
            for text in QUERIES:
                print_hits(out, text, client.search(COLLECTION, text, level="segment", top_k=3))
            stats = client.stats(COLLECTION).collections[0]
            out.print(
                f"{stats.video_count} videos, "
                + ", ".join(f"{lv.node_count} nodes at level {lv.level}" for lv in stats.levels)
            )
    finally:
        server.stop()
    out.print(f"done in {time.perf_counter() - began:.1f}s")


def _load(client: StrataClient, matches: int, out: Console) -> None:
    names = {c.name for c in client.list_collections()}
    if COLLECTION not in names:
        client.create_collection(COLLECTION, text_encoder="default", model_name="all-MiniLM-L6-v2")
        out.print(f"created collection {COLLECTION} with the built-in text encoder")
    data = soccer.generate(matches=matches, seed=SEED, vectors="none")
    out.print(f"generated {matches} matches: {len(data.segments)} segments of ~2 s with captions")
    progress = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), console=out)
    with progress:
        task = progress.add_task("ingest", total=len(data.segments))
        summary = ingest_rows(
            client,
            COLLECTION,
            data.segments,
            500,
            f"demo-{SEED}-{matches}",
            on_batch=lambda n: progress.advance(task, n),
        )
    out.print(
        f"ingested {summary.segments - summary.replayed} new segments "
        f"({summary.replayed} already present from an earlier run)"
    )
