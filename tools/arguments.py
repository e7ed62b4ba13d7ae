"""What the command line is given: the address to dial, and arguments no server could
take."""

from __future__ import annotations

import os
import re

# A host or an address with no port.
_BARE_HOST = re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]")
# Commands that run here and send no names to a server (their paths are local).
_LOCAL_COMMANDS = frozenset({"serve", "demo", "restore", "compact", "bench"})


def dialled(target: str, default: str) -> str:
    """The address to dial: a host given with no port gets ``default``'s port (gRPC
    would dial 443)."""
    return f"{target}:{default.rpartition(':')[2]}" if _BARE_HOST.fullmatch(target) else target


def not_utf8(args: list[str]) -> str | None:
    """The first argument (shown as its bytes, ``x\\xff``) a server could not be sent,
    or None. The shell passes bytes that are not UTF-8 as surrogates, which no name, id,
    path or text sent to a server can hold: a usage error, not a traceback later. Local
    paths may hold them: those of the commands that run here, and the file ingest reads."""
    if not args or args[0] in _LOCAL_COMMANDS:
        return None
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            if not (args[0] == "ingest" and os.path.isfile(arg)):
                return repr(arg.encode("utf-8", "surrogateescape"))[2:-1]
    return None
