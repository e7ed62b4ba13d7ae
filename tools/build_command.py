"""``strata build`` and ``strata operation``: tree builds run by the server as long-running
operations, which outlive the command that started them (an interrupted ``build`` stops
watching; the server builds on), and are watched again by name."""

from __future__ import annotations

from typing import Annotated

import typer

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import hierarchy_pb2
from tools.connect import DEFAULT_TARGET, connect
from tools.options import MAX_INT64, Target, TlsCa, Token, fail
from tools.output import console, err, escape, interrupted, many
from tools.progress import bars


def build(
    collection: str,
    video: Annotated[list[str] | None, typer.Option("--video", help="Only this video (repeatable).")] = None,
    scene_penalty: Annotated[float | None, typer.Option(help="Scene boundary penalty (noise units).")] = None,
    scene_min_ms: Annotated[int | None, typer.Option(max=MAX_INT64, help="Shortest scene, ms.")] = None,
    scene_max_ms: Annotated[int | None, typer.Option(max=MAX_INT64, help="Longest scene, ms.")] = None,
    drive_attribute: Annotated[str | None, typer.Option(help="Attribute that ends a drive; '' to detect.")] = None,
    half_attribute: Annotated[str | None, typer.Option(help="Attribute naming the half; '' to detect.")] = None,
    drive_side_separation: Annotated[
        float | None, typer.Option(help="Two sides' separation that ends drives without the attribute; 0: off.")
    ] = None,
    aggregator: Annotated[str | None, typer.Option(help="Parent embedding: mean or uniform.")] = None,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """(Re)build the trees of a collection's videos, with a progress bar. Parameters given
    here are stored with the collection for later builds. The server runs the build: Ctrl-C
    stops watching it, not the build (strata operation NAME --wait watches it again)."""
    given = {
        "scene_penalty": scene_penalty,
        "scene_min_ms": scene_min_ms,
        "scene_max_ms": scene_max_ms,
        "drive_attribute": drive_attribute,
        "half_attribute": half_attribute,
        "drive_side_separation": drive_side_separation,
        "aggregator": aggregator,
    }
    config = {k: v for k, v in given.items() if v is not None}
    with connect(target, token, tls_ca) as client:
        try:
            op = client.build_hierarchy(collection, video or (), **config)
        except StrataRpcError as exc:
            options = {f"config.{key}": "--" + key.replace("_", "-") for key in config}
            fail(exc, given=options | {"video_ids": "--video"})
        except KeyboardInterrupt:  # before the server answered: it may have started the build
            interrupted(f"the server may have started the build; strata stats {collection} shows its trees")
        final = _watch(client, op)
    _report(final)


def operation(
    name: Annotated[str, typer.Argument(help="The operation's name, as `strata build` printed it: operations/ID.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it with a progress bar until it ends.")] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Show a long-running operation (a tree build): what it does and how far it is; with
    --wait, follow it to its end and report it as build does. Operations live in the
    server's memory: a restarted server knows none (the trees built before are kept)."""
    with connect(target, token, tls_ca) as client:
        try:
            op = client.get_operation(name)
        except StrataRpcError as exc:
            fail(exc)
        if wait and not op.done:
            op = _watch(client, op, "watching")
    if wait or op.done:
        _report(op)
        return
    console.print(f"{escape(op.description)}: {op.progress} of {op.total} done, running")


def _watch(client: StrataClient, op: hierarchy_pb2.Operation, said: str = "started") -> hierarchy_pb2.Operation:
    """Poll ``op`` to its end with a progress bar; Ctrl-C stops watching (exit 130) and says
    how to watch again; a server that stops meanwhile ends the command with what is kept."""
    with bars(err) as progress:
        task = progress.add_task("build", total=None)
        try:
            # Named as the watch starts: one cut short (a lost terminal) left the name to watch again.
            progress.console.print(f"{said} {escape(op.name)}: {escape(op.description)}", soft_wrap=True)
            return client.wait_operation(
                op.name, on_progress=lambda o: progress.update(task, completed=o.progress, total=o.total or 1)
            )
        except KeyboardInterrupt:
            progress.stop()
            interrupted(
                f"stopped watching: the server goes on with {op.name} ({op.description}); "
                f"watch it again with: strata operation {op.name} --wait"
            )
        except StrataRpcError as exc:
            progress.stop()
            gone = exc.code.name in ("UNAVAILABLE", "NOT_FOUND")  # a server stopped, or one started since
            fail(exc, "the server stopped during the build: the trees it built are kept; build again" if gone else "")


def _report(final: hierarchy_pb2.Operation) -> None:
    """A finished operation's outcome: exit 1 on its error; the videos it left out."""
    if final.error:
        err.print(f"[red]error[/red] {escape(final.error)}")
        raise typer.Exit(1)
    skipped = list(final.skipped)
    console.print(f"built the trees of {many(final.progress - len(skipped), 'video')}")
    if skipped:
        gone = escape(", ".join(skipped))
        err.print(f"[yellow]left out[/yellow] {len(skipped)} deleted since the build started: {gone}")
