"""The ``strata`` command's entry point: small, so that a Ctrl-C while the CLI's modules
load (a few tenths of a second: gRPC, NumPy, DuckDB) ends the command as any Ctrl-C does,
exit code 130 and no traceback."""

from __future__ import annotations

import errno
import os
import sys

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped
# Errors of writing the output that the command cannot help (a full disk, /dev/full, a
# device gone): said in one line; any other OSError is a bug and keeps its traceback.
_OUTPUT_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


def main() -> None:
    """Run ``strata``: load the CLI, then run it; a Ctrl-C while it loads, or an output
    that cannot be written, ends it in one line."""
    try:
        from tools.cli import main as run
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None
    try:
        run()
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRORS:
            raise
        _quiet_stdout()
        print(f"error cannot write the output: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from None


def _quiet_stdout() -> None:
    """Point standard output at /dev/null: what is still buffered for the output that failed
    would fail again, with a traceback, as the interpreter flushes it on exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":  # python -m tools.entry, as the strata command
    main()
