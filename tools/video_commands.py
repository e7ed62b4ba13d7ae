"""``strata videos``: list, seal, reopen and delete the videos of a collection, without the
ingest file that made them; and the sealing ``strata ingest --seal`` shares."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Column, Table

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import video_pb2
from tools.connect import DEFAULT_TARGET, connect
from tools.options import Target, TlsCa, Token, fail
from tools.output import console, err, escape, interrupted, many
from tools.progress import bars
from tools.render import clock, message_json

videos_app = typer.Typer(help="Work on the videos of a collection.", no_args_is_help=True)

SEALERS = 2  # concurrent SealVideo calls: the server builds several videos' trees at once


def state_name(state: int) -> str:
    """``open`` or ``sealed`` (a newer server's state: its number)."""
    name = video_pb2.VideoState.Name(state) if state in video_pb2.VideoState.values() else str(state)
    return name.removeprefix("VIDEO_STATE_").lower()


@videos_app.command("list")
def videos_list(
    collection: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object a line, a video each (fields as in proto/).")
    ] = False,
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
                    print(json.dumps(message_json(video)), flush=True)
                    continue
                created = video.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
                duration = clock(video.duration_ms) if video.duration_ms else "-"
                table.add_row(escape(video.id), state_name(video.state), str(video.segment_count), duration, created)
        except StrataRpcError as exc:
            fail(exc)
    if not as_json:
        console.print(table)


@videos_app.command("seal")
def videos_seal(
    collection: str,
    video: Annotated[list[str], typer.Argument(help="Videos to seal (one or more).")],
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Seal videos: each is marked complete (appends are refused until it is reopened) and
    its tree built, with a progress bar; each answers once every level is searchable. Every
    video is looked up first: a name that is wrong seals none of them."""
    wanted = list(dict.fromkeys(video))
    with connect(target, token, tls_ca) as client:
        try:
            for one in wanted:
                client.get_video(collection, one)
        except StrataRpcError as exc:
            fail(exc)
        seal_all(client, collection, wanted, "the same command seals the others")
    console.print(f"sealed {many(len(wanted), 'video')}")


def seal_all(client: StrataClient, collection: str, videos: Sequence[str], go_on: str) -> None:
    """Seal ``videos``, ``SEALERS`` at a time, with a progress bar. A refusal ends the
    command naming the videos sealed before it; Ctrl-C ends it at once (the seals under way
    finish in the server), saying how many are sealed and, in ``go_on``, how to seal the
    rest."""
    sealed: list[str] = []
    with bars(err) as progress:
        task = progress.add_task("seal", total=len(videos))
        ended, stop = _sealing(client, collection, videos)
        try:
            for _ in videos:
                video, refused = _next(ended)
                if refused is not None:
                    raise refused
                sealed.append(video)
                progress.advance(task)
        except KeyboardInterrupt:
            stop.set()
            progress.stop()
            interrupted(f"{len(sealed)} of {many(len(videos), 'video')} sealed (and maybe those under way); {go_on}")
        except StrataRpcError as exc:
            stop.set()
            progress.stop()
            fail(exc, f"sealed before it: {', '.join(sealed)}" if sealed else "")


def _sealing(
    client: StrataClient, collection: str, videos: Sequence[str]
) -> tuple[queue.Queue[tuple[str, StrataRpcError | None]], threading.Event]:
    """Seal ``videos`` on ``SEALERS`` threads: each outcome (video, refusal or None) is put
    on the queue as it comes; setting the event stops them taking more. The threads are
    daemons, so an interrupted command exits without waiting for the calls under way (a
    pool's threads are joined at exit, a build at a time)."""
    ended: queue.Queue[tuple[str, StrataRpcError | None]] = queue.Queue()
    stop = threading.Event()
    todo = iter(list(videos))
    taking = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with taking:
                video = next(todo, None)
            if video is None:
                return
            try:
                client.seal_video(collection, video)
                ended.put((video, None))
            except StrataRpcError as exc:
                ended.put((video, exc))

    for _ in range(SEALERS):
        threading.Thread(target=work, name="strata-seal", daemon=True).start()
    return ended, stop


def _next(ended: queue.Queue[tuple[str, StrataRpcError | None]]) -> tuple[str, StrataRpcError | None]:
    """The next outcome, waited for in steps: the main thread stays where Ctrl-C reaches it."""
    while True:
        try:
            return ended.get(timeout=0.2)
        except queue.Empty:
            continue


@videos_app.command("reopen")
def videos_reopen(
    collection: str, video: str, target: Target = DEFAULT_TARGET, token: Token = None, tls_ca: TlsCa = None
) -> None:
    """Reopen a sealed video so that it takes segments again; its tree stays until the
    next seal or build. A video open already stays open, and the command says so."""
    with connect(target, token, tls_ca) as client:
        try:
            # The server reopens an open video without a word (the call is idempotent, and
            # answers the video, open, either way): its state is read before the call.
            was_open = client.get_video(collection, video).state == video_pb2.VIDEO_STATE_OPEN
            reopened = client.reopen_video(collection, video)
        except StrataRpcError as exc:
            fail(exc)
    shown = f"video {escape(reopened.id)} ({reopened.segment_count} segments)"
    console.print(
        f"{shown} was open already: it takes segments" if was_open else f"reopened {shown}: it takes segments again"
    )


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
