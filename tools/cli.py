"""``strata``: the admin command line. Talks gRPC to ``--target``; ``serve`` and ``demo``
run a server in this process."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shlex
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from hierarchy.encoder import DEFAULT_ENCODER
from hierarchy.validate import MAX_DIMENSION
from service.client import METRICS, StrataClient, StrataRpcError
from service.gen.strata.v1 import admin_pb2
from tools.arguments import not_utf8
from tools.build_command import build, operation
from tools.connect import DEFAULT_TARGET, connect
from tools.help_text import use_docstrings
from tools.offline import offline_app
from tools.options import MAX_COUNT, Target, TlsCa, Token, fail
from tools.output import console, directory, err, escape, interrupted, many, quoted, stop
from tools.progress import bars, elapsed
from tools.render import draw_tree, level_name, message_json, metric_flag, node_line, node_sections, stats_table
from tools.search_command import parse_query, search
from tools.signals import stop_event
from tools.video_commands import seal_all, videos_app

if TYPE_CHECKING:
    from tools.ingest import IngestSummary

app = typer.Typer(
    help="Strata: a hierarchical video graph database.", no_args_is_help=True, pretty_exceptions_enable=False
)
collections_app = typer.Typer(help="Create, list and delete collections.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
app.add_typer(videos_app, name="videos")
app.add_typer(offline_app)  # restore, compact: beside the others

# Choices of --metric, so a typo is a usage error listing them.
MetricName = Enum("MetricName", {name: name for name in METRICS}, type=str)  # type: ignore[misc]

_JSON_OBJECT = (
    "Print the reply as one JSON object (fields as in proto/; names of levels and metrics as the options take them)."
)
_JSON_LINES = "Print one JSON object a line, a collection each (fields as in proto/)."


@app.command()
def serve(
    data_dir: Annotated[
        Path | None, typer.Option(parser=directory, help="Data directory (default ~/.strata/data).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port; 0 picks a free one.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    log_level: Annotated[str | None, typer.Option(help="Logging level (default INFO).")] = None,
    auth_tokens_file: Annotated[Path | None, typer.Option(help="Token file (JSON or TOML); turns auth on.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate chain; with --tls-key, serve TLS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(help="PEM CA that client certificates must chain to.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (0 picks one; -1 off, the default).")
    ] = None,
) -> None:
    """Run a server until interrupted; prints ``listening on HOST:PORT`` once bound (and
    ``metrics on URL`` when it serves metrics), then ``ready`` once its indexes are
    recovered and it serves."""
    from hierarchy.errors import StrataError
    from service.server import create_server
    from service.settings import Settings, as_given, as_option

    given = {
        "data_dir": data_dir,
        "port": port,
        "host": host,
        "log_level": log_level,
        "auth_tokens_file": auth_tokens_file,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "tls_client_ca": tls_client_ca,
        "metrics_port": metrics_port,
    }
    try:
        settings = Settings.load(**given)
        logging.basicConfig(
            level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        stopping = stop_event()
        # Bound first (health answers NOT_SERVING), then the indexes recover in the background.
        server = create_server(settings).start(wait=False)
    except StrataError as exc:  # a setting, the data directory, a port: the operator's to fix
        # A setting given as an option and refused (a token or TLS file when read, the data
        # directory when opened) is named as given, in the field and in the message; one set
        # nowhere (TLS needs a key) is named as this command's option, as the operator would
        # give it here (its variable set in the environment keeps the variable's name).
        unset = [name for name in given if not os.environ.get(f"STRATA_{name.upper()}", "").strip()]
        options = [name for name, value in given.items() if value is not None or name in unset]
        field, message = as_option(exc.field or "", options), as_given(exc.message, options)
        stop(f"{field}: {message}" if field else message)
    # A closed stdout (`strata serve | head -1`) raises BrokenPipeError from a print: the
    # server stops cleanly first (else the interpreter exits under gRPC's threads, which
    # aborts it), saying why, and the command ends with exit 1. (Serving on would hold a
    # script's `$(strata serve | head -1)` open for ever.)
    try:
        print(f"listening on {server.address}", flush=True)
        if server.metrics_port is not None:  # the port --metrics-port 0 took is known only now
            print(f"metrics on http://{server.settings.reachable(server.metrics_port)}/metrics", flush=True)
        if server.exposure:
            err.print(f"[yellow]warning[/yellow] {escape(server.exposure)}", soft_wrap=True)
        if note := server.settings.interfaces_note():  # stdout keeps one address to dial, for scripts
            err.print(escape(note), soft_wrap=True)
        _announce_ready(server, stopping)
        stopping.wait()
        logging.getLogger(__name__).info("stopping: the indexes are saved first")  # a record of the log, as the rest
    except BrokenPipeError:
        err.print(
            "[red]error[/red] standard output was closed (whatever read it ended): the server stops; "
            "send its output to a file or read it whole to keep it serving",
            soft_wrap=True,
        )
        raise
    finally:
        server.stop()


def _announce_ready(server: Any, stop: threading.Event) -> None:
    """Print ``ready`` once ``server`` serves; stop it and exit 1 if its recovery fails."""
    ready = False
    try:
        while not ready and not stop.is_set():
            ready = server.wait_ready(timeout=0.2)
    except Exception as exc:
        from service.server import recovery_failure

        # One line, as the log's (a log file or journal keeps it whole); a bug's traceback is above it.
        said = recovery_failure(exc) or f"{exc} (a bug: please report it with the traceback above)"
        err.print(f"[red]error[/red] recovery failed: {escape(said)}", soft_wrap=True)
        server.stop(0)
        raise typer.Exit(1) from exc
    if ready:  # printed outside the try: a closed stdout is no failure of recovery
        print("ready", flush=True)


# The fields of a CreateCollection the server may refuse, by the option that sets each.
_CREATE_OPTIONS = {
    "space.dimension": "--dim",
    "space.metric": "--metric",
    "space.text_encoder": "--encoder",
    "space.model_name": "--model-name",
}


@collections_app.command("create")
def collections_create(
    name: str,
    dim: Annotated[int, typer.Option("--dim", min=0, max=MAX_DIMENSION, help="Vector dimension.")] = 0,
    metric: Annotated[MetricName, typer.Option(help="cos, ip or l2sq.")] = MetricName.cos,
    encoder: Annotated[
        str,
        typer.Option(help="Text encoder: 'default' or a model folder on the server (a relative one from here)."),
    ] = "",
    model_name: Annotated[str, typer.Option(help="Model that produced the vectors.")] = "",
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Create a collection (``--dim D`` for client vectors, ``--encoder default`` for text)."""
    if not dim and not encoder:  # (the server's error names proto fields: space.dimension)
        raise typer.BadParameter("give --dim D (client vectors) or --encoder default (text)", param_hint="--dim")
    if encoder and encoder != DEFAULT_ENCODER:  # the server stores it: where it is, not where it was typed
        encoder = str(Path(encoder).expanduser().absolute())
    with connect(target, token, tls_ca) as client:
        try:
            made = client.create_collection(name, dim, metric.value, encoder, model_name)
        except StrataRpcError as exc:
            fail(exc, given=_CREATE_OPTIONS)
    console.print(f"created collection {escape(made.name)} (dimension {made.space.dimension})")


@collections_app.command("list")
def collections_list(
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_LINES)] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """List collections with their counts."""
    table = Table(
        Column("name", overflow="fold"), "dimension", "metric", Column("encoder", overflow="fold"), "videos", "segments"
    )
    with connect(target, token, tls_ca) as client:
        try:
            for c in client.list_collections():
                if as_json:
                    print(json.dumps(message_json(c)), flush=True)
                    continue
                table.add_row(
                    escape(c.name),
                    str(c.space.dimension),
                    metric_flag(c.space.metric),
                    escape(c.space.text_encoder or "-"),
                    str(c.video_count),
                    str(c.segment_count),
                )
        except StrataRpcError as exc:
            fail(exc)
    if not as_json:
        console.print(table)


@collections_app.command("delete")
def collections_delete(name: str, target: Target = DEFAULT_TARGET, token: Token = None, tls_ca: TlsCa = None) -> None:
    """Delete a collection and everything in it."""
    with connect(target, token, tls_ca) as client:
        try:
            client.delete_collection(name)
        except StrataRpcError as exc:
            fail(exc)
    console.print(f"deleted collection {escape(name)}")


# Each batch's deadline: a batch of texts is embedded by the server (a 1.4 kB transcript
# in about 40 ms on two cores, far longer under load), so the SDK's default minute is short.
BATCH_TIMEOUT = 600.0


@app.command()
def ingest(
    collection: str,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            allow_dash=True,
            path_type=str,  # as typed: typer takes "-" for standard input only in a str, not in a Path
            help="JSONL, one segment a line (- reads standard input), or Parquet (*.parquet), a segment a row.",
        ),
    ],
    batch_size: Annotated[int, typer.Option(min=1, help="Segments per atomic batch.")] = 500,
    seal: Annotated[
        bool, typer.Option("--seal", help="Seal every video of the file afterwards (builds trees).")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            min=1,
            max=86_400,
            help="Seconds the server may take over one batch; past them it drops the batch unstored. "
            "A batch of texts is embedded there: 500 long transcripts take 20 s on two idle cores, more under load.",
        ),
    ] = BATCH_TIMEOUT,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Ingest a JSONL or Parquet file; unknown videos are created on first sight.
    Re-running the same file with the same --batch-size is safe: a batch's request id
    derives from its segments, so the batches stored before replay. A JSONL file is read
    once: it may be standard input (-), a pipe or a FIFO (<(zcat segments.jsonl.gz)),
    whose progress then shows no total. A Parquet file's columns are a line's fields
    (attributes a struct, a map or a JSON string)."""
    with connect(target, token, tls_ca) as client:
        summary = _ingested(client.with_timeout(timeout), collection, Path(file), batch_size)
        if seal:
            again = f"the same command (--batch-size {batch_size}) replays its batches and seals every video"
            seal_all(client, collection, summary.video_ids, again)
    console.print(
        f"ingested {many(summary.segments - summary.replayed, 'new segment')} in {many(summary.batches, 'batch')} "
        f"({summary.replayed} already present), {many(summary.videos, 'new video')}"
        + (f"; sealed {many(len(summary.video_ids), 'video')}" if seal else "")
    )


def _ingested(client: StrataClient, collection: str, file: Path, batch_size: int) -> IngestSummary:
    """Ingest ``file`` with a progress bar; a refusal, a bad line or Ctrl-C ends the
    command saying what is stored and how to go on."""
    from tools.ingest import IngestRefused, count_file, ingest_file

    stored = 0
    try:
        total = count_file(file)
    except ValueError as exc:  # a .parquet file that is not Parquet
        stop(str(exc))
    with bars(err) as progress:
        task = progress.add_task("ingest", total=total)

        def acknowledged(count: int) -> None:
            nonlocal stored
            progress.advance(task, count)
            stored += count

        try:
            return ingest_file(client, collection, file, batch_size, on_batch=acknowledged)
        except KeyboardInterrupt:
            progress.stop()
            interrupted(
                f"{many(stored, 'segment')} acknowledged (and maybe the batch under way); the same command "
                f"(--batch-size {batch_size}) replays them and goes on"
            )
        except IngestRefused as refused:
            progress.stop()
            fail(refused.error, refused.hint(), refused.where)
        except StrataRpcError as exc:
            progress.stop()
            fail(exc)
        except ValueError as exc:  # a line of the file that is not a segment
            progress.stop()
            stop(str(exc))


# Beside ingest, as before: search by text, and how a routed search reads a text.
app.command()(search)
app.command(name="parse")(parse_query)
app.command()(build)
app.command()(operation)


@app.command()
def tree(
    collection: str,
    video: str,
    depth: Annotated[
        int, typer.Option(min=1, max=MAX_COUNT, help="Levels below the video to draw (1: its halves).")
    ] = 2,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Draw a video's tree: levels, times, child counts and top labels."""
    with connect(target, token, tls_ca) as client:
        try:
            nodes = client.subtree(collection, f"{video}/video/0", depth)
        except StrataRpcError as exc:
            if exc.code.name == "NOT_FOUND":  # of the root: say whether the video is missing or only its tree
                _no_tree(client, collection, video)
            fail(exc)
    console.print(draw_tree(nodes))


def _no_tree(client: StrataClient, collection: str, video: str) -> None:
    """Fail ``strata tree`` on a video without a root: it does not exist (the server says
    so), has no segments, or has not been sealed or built yet."""
    try:
        found = client.get_video(collection, video)
    except StrataRpcError as exc:
        fail(exc)
    if not found.segment_count:
        stop(f"video {quoted(video)} has no segments yet, so no tree: ingest some, then seal or build it")
    build = f"strata build {shlex.quote(collection)} --video {shlex.quote(video)}"
    seal = f"strata videos seal {shlex.quote(collection)} {shlex.quote(video)}"
    stop(f"video {quoted(video)} has no tree yet: run `{build}`, or `{seal}` once it has all its segments")


@app.command()
def node(
    collection: str,
    node_id: str,
    children: Annotated[bool, typer.Option("--children", help="List its children.")] = False,
    ancestors: Annotated[bool, typer.Option("--ancestors", help="List its ancestors.")] = False,
    neighbors: Annotated[
        int, typer.Option("--neighbors", min=0, max=MAX_COUNT, help="List N neighbours each side.")
    ] = 0,
    similar: Annotated[
        int, typer.Option("--similar", min=0, max=MAX_COUNT, help="List the N most similar nodes of its level.")
    ] = 0,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Show one node, and optionally its children, ancestors, neighbours or look-alikes."""
    with connect(target, token, tls_ca) as client:
        try:  # every call answered before anything is printed: a refusal is the only output
            shown = node_line(client.get_node(collection, node_id))
            sections = node_sections(client, collection, node_id, children, ancestors, neighbors, similar)
        except StrataRpcError as exc:
            fail(exc, given={"top_k": "--similar", "before": "--neighbors", "after": "--neighbors"})
    console.print(shown)
    for title, lines in sections:
        if not lines:  # asked for and empty (a segment's children, a root's ancestors): said, not a bare heading
            console.print(f"[bold]{title}[/bold]: none")
            continue
        console.print(f"[bold]{title}[/bold]")
        for line in lines:
            console.print(f"  {line}")


@app.command()
def stats(
    collection: Annotated[str, typer.Argument()] = "",
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_OBJECT)] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Counts per collection and level, index coverage and disk use."""
    with connect(target, token, tls_ca) as client:
        try:
            reply = client.stats(collection)
        except StrataRpcError as exc:
            fail(exc)
    if as_json:
        print(json.dumps(message_json(reply)))
        return
    console.print(stats_table(reply))
    # A token limited to some collections is not told the server-wide figures: they come
    # back zero, and a full answer's disk use never is (the directory holds the store).
    told = (
        f"commit sequence {reply.commit_sequence}, disk {reply.disk_bytes / 1e6:.1f} MB, " if reply.disk_bytes else ""
    )
    console.print(f"{told}version {reply.version}")


OPERATION_TIMEOUT = 3600.0  # verify and snapshot read or copy everything: allow large databases


@app.command()
def verify(
    collection: Annotated[str, typer.Argument(help="Only this collection (default: all).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_OBJECT)] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Check that the store, the indexes and the trees agree; exits 1 on any problem."""
    with connect(target, token, tls_ca) as client:
        try:
            with elapsed(err, "verify"):  # the reply says nothing until the end
                reply = client.verify(collection, timeout=OPERATION_TIMEOUT)
        except StrataRpcError as exc:
            fail(exc)
    if as_json:
        print(json.dumps(message_json(reply)))
        raise typer.Exit(1 if reply.problems else 0)
    if reply.problems:
        table = Table("collection", "level", "problem", "detail")
        for p in reply.problems:
            kind = admin_pb2.VerifyProblemKind.Name(p.kind).removeprefix("VERIFY_PROBLEM_KIND_").lower()
            table.add_row(escape(p.collection), level_name(p.level), kind, escape(p.message))
        console.print(table)
    console.print(
        f"checked {many(reply.collections_checked, 'collection')}, {many(reply.levels_checked, 'level')}, "
        f"{many(reply.nodes_checked, 'node')}, {many(reply.vectors_compared, 'vector')}, "
        f"{many(reply.videos_checked, 'tree')}: "
        + (f"[red]{many(len(reply.problems), 'problem')}[/red]" if reply.problems else "no problems")
    )
    if reply.problems:
        raise typer.Exit(1)


@app.command()
def snapshot(
    # An empty PATH (an unset $BACKUP_DIR) would be sent as the working directory: refused.
    path: Annotated[
        Path, typer.Argument(parser=directory, metavar="PATH", help="A new or empty directory on the server's machine.")
    ],
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Copy the server's data consistently to PATH while it runs (writes pause meanwhile).
    A relative PATH is taken from the current directory."""
    with connect(target, token, tls_ca) as client:
        try:
            with elapsed(err, "snapshot"):  # the reply says nothing until the end
                reply = client.create_snapshot(str(path.expanduser().absolute()), timeout=OPERATION_TIMEOUT)
        except StrataRpcError as exc:
            fail(exc)
    size = sum(f.size_bytes for f in reply.files)
    console.print(
        f"snapshot of commit sequence {reply.commit_sequence} in {escape(reply.destination_dir)}: "
        f"{len(reply.files)} files, {size / 1e6:.1f} MB"
    )


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(parser=directory, help="Data directory (default ~/.strata/demo).")
    ] = None,
    matches: Annotated[
        int, typer.Option(min=1, max=100, help="Sample matches to generate (each ~2,700 segments; at most 100).")
    ] = 2,
) -> None:
    """Start an embedded server, ingest sample matches and run a few searches."""
    from hierarchy.errors import StrataError
    from tools.demo import run_demo
    from tools.ingest import IngestRefused

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        run_demo(data_dir or Path.home() / ".strata" / "demo", matches, console)
    except StrataError as exc:  # e.g. a data directory that cannot be used
        stop(str(exc))
    except IngestRefused as refused:
        fail(refused.error, refused.hint(), refused.where)
    except StrataRpcError as exc:
        fail(exc)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def bench(ctx: typer.Context) -> None:
    """Run the performance benchmark (``python -m tools.bench``; ``strata bench --help`` for its options)."""
    from tools.bench.run import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args)))


# The evaluations ``strata eval`` runs, by name: (module, what it measures).
EVALUATIONS = {
    "retrieval": ("tools.evaluate.retrieval", "flat, fixed windows, collapsed, each level, AUTO and the oracle"),
    "segmentation": ("tools.evaluate.segmentation", "scene boundaries against the true ones, and fixed windows"),
}


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def evaluate(ctx: typer.Context) -> None:
    """Run a quality evaluation: ``strata eval retrieval`` or ``strata eval segmentation``
    (``python -m tools.evaluate.NAME``; ``strata eval NAME --help`` for its options)."""
    name, rest = (ctx.args[0], ctx.args[1:]) if ctx.args else ("", [])
    if name in EVALUATIONS:
        raise typer.Exit(importlib.import_module(EVALUATIONS[name][0]).main(rest))
    listed = "\n".join(f"  {key:<13} {what}" for key, (_, what) in EVALUATIONS.items())
    usage = f"usage: strata eval NAME [OPTIONS]  (strata eval NAME --help for its options)\n\n{listed}"
    if name in ("--help", "-h"):
        console.print(usage, markup=False, highlight=False)
        raise typer.Exit(0)
    problem = f"no evaluation {name!r}" if name else "name an evaluation"
    err.print(f"{usage}\n\nerror: {problem}; use one of {', '.join(EVALUATIONS)}", markup=False, highlight=False)
    raise typer.Exit(2)


# Once every command is registered: help from the docstrings, literals without backticks.
use_docstrings(app)


def main() -> None:
    """Console-script entry point."""
    if (shown := not_utf8(sys.argv[1:])) is not None:
        err.print(f"[red]error[/red] argument '{escape(shown)}' is not valid UTF-8", soft_wrap=True)
        raise SystemExit(2)
    app()


if __name__ == "__main__":
    main()
