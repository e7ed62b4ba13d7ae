"""``strata videos``: list, seal and delete the videos of a collection (reopen is beside the
other commands in ``tools.cli``), without the ingest file that made them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer
from rich.table import Column, Table

from service.client import StrataRpcError
from service.gen.strata.v1 import video_pb2
from tools.connect import DEFAULT_TARGET, connect
from tools.options import Target, TlsCa, Token, fail
from tools.output import console, err, escape, many
from tools.progress import bars
from tools.render import clock

videos_app = typer.Typer(help="Work on the videos of a collection.", no_args_is_help=True)

SEALERS = 2  # concurrent SealVideo calls: the server builds several videos' trees at once


def state_name(state: int) -> str:
    """``open`` or ``sealed`` (a newer server's state: its number)."""
    name = video_pb2.VideoState.Name(state) if state in video_pb2.VideoState.values() else str(state)
    return name.removeprefix("VIDEO_STATE_").lower()


@videos_app.command("list")
def videos_list(
    collection: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object a line, a video each.")] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """List a collection's videos: state (open videos take segments; sealed ones have their
    tree), segments, duration and when each was created."""
    table = Table(Column("video", overflow="fold"), "state", "segments", "duration", "created (UTC)")
    with connect(target, token, tls_ca) as client:
        try:
            for video in client.list_videos(collection):
                if as_json:
                    print(json.dumps(_video_json(video)), flush=True)
                    continue
                created = video.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
                duration = clock(video.duration_ms) if video.duration_ms else "-"
                table.add_row(escape(video.id), state_name(video.state), str(video.segment_count), duration, created)
        except StrataRpcError as exc:
            fail(exc)
    if not as_json:
        console.print(table)


def _video_json(video: video_pb2.Video) -> dict[str, object]:
    return {
        "video_id": video.id,
        "state": state_name(video.state),
        "segment_count": video.segment_count,
        "duration_ms": video.duration_ms,
        "create_time": video.create_time.ToJsonString(),
    }


@videos_app.command("seal")
def videos_seal(
    collection: str,
    video: Annotated[list[str], typer.Argument(help="Videos to seal (one or more).")],
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Seal videos: each is marked complete (appends are refused until it is reopened) and
    its tree built, with a progress bar; each answers once every level is searchable."""
    wanted = list(dict.fromkeys(video))
    with connect(target, token, tls_ca) as client, bars(err) as progress:
        task = progress.add_task("seal", total=len(wanted))
        try:
            with ThreadPoolExecutor(SEALERS) as pool:
                for _ in pool.map(lambda one: client.seal_video(collection, one), wanted):
                    progress.advance(task)
        except StrataRpcError as exc:
            progress.stop()
            fail(exc)
    console.print(f"sealed {many(len(wanted), 'video')}")


@videos_app.command("delete")
def videos_delete(
    collection: str, video: str, target: Target = DEFAULT_TARGET, token: Token = None, tls_ca: TlsCa = None
) -> None:
    """Delete a video: its segments, its tree and their index entries."""
    with connect(target, token, tls_ca) as client:
        try:
            client.delete_video(collection, video)
        except StrataRpcError as exc:
            fail(exc)
    console.print(f"deleted video {escape(video)} of {escape(collection)}")
