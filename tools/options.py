"""The options every ``strata`` command that calls a server takes (``--target``,
``--token``, ``--tls-ca``), a text argument sent to it, and how such a command fails on
the server's refusal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from service.client import StrataRpcError
from tools.arguments import dialled
from tools.connect import DEFAULT_TARGET
from tools.connect import hint as connection_hint
from tools.output import err, escape


def _target(ctx: typer.Context, param: typer.CallbackParam, target: str) -> str:
    """``--target`` as typed, checked before any command dials it: an address that is not
    host:port is a usage error naming the option, or ``STRATA_TARGET`` when it was set."""
    if not target.strip():  # connect() says so, naming both
        return target
    try:
        dialled(target, DEFAULT_TARGET)
    except ValueError as exc:
        # By name: typer carries its own copy of click, whose ParameterSource is not click's.
        source = ctx.get_parameter_source(param.name or "")
        named = "STRATA_TARGET" if source is not None and source.name == "ENVIRONMENT" else "--target"
        raise typer.BadParameter(str(exc), param_hint=named) from None
    return target


Target = Annotated[
    str, typer.Option("--target", envvar="STRATA_TARGET", callback=_target, help="Server address host:port.")
]
Token = Annotated[
    str | None, typer.Option("--token", envvar="STRATA_TOKEN", help="Bearer token, when the server requires one.")
]
TlsCa = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca", envvar="STRATA_TLS_CA", exists=True, dir_okay=False, help="CA certificate (PEM) of a TLS server."
    ),
]

# The counts a command sends (--top-k, --group-size, --similar, --neighbors, --depth) are
# int32 fields of the API: a larger value cannot be put in a request at all, so it is the
# option's bound. Below it the server's own limits hold, and its refusal names the option.
MAX_COUNT = 2**31 - 1
MAX_INT64 = 2**63 - 1  # likewise for the times a command sends (--scene-min-ms)


def fail(exc: StrataRpcError, hint: str = "", where: str = "", given: Mapping[str, str] | None = None) -> NoReturn:
    """End a command on a refused call: ``error CODE: [where: ]message (hint)``, exit 1.
    With no ``hint``: ``given as --option`` for the first of the refused fields that
    ``given`` maps to the option (or argument) that set it; else, for a call that reached
    no server, advice on reaching one."""
    # A server that answered says what to do ("recovering ...; retry shortly", "the store
    # failed ...; restart the server"): the hint about reaching one is for calls that
    # reached none (it asked "is a server running?" of a server that had just answered).
    answered = any(said in exc.message for said in ("retry", "restart the server"))
    # A list's field is named with its index (video_ids[1]); the option takes each of them.
    listed = [re.sub(r"\[\d+\]$", "", field) for field in exc.fields]
    option = next((given[field] for field in listed if field in given), "") if given else ""
    hint = hint or (f"given as {option}" if option else "" if exc.fields or answered else connection_hint(exc))
    message = escape((f"{where}: " if where else "") + exc.message + (f" ({hint})" if hint else ""))
    err.print(f"[red]error[/red] {exc.code.name}: {message}", soft_wrap=True)
    raise typer.Exit(1)


def _utf8(text: str) -> str:
    """A text argument that can be sent: the shell may pass bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise typer.BadParameter("is not valid UTF-8 text") from None
    return text


Text = Annotated[str, typer.Argument(callback=_utf8, show_default=False)]
