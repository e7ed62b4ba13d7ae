"""Regenerate the Python gRPC stubs in ``service/gen`` from ``proto/``.

Usage: ``python -m tools.gen_stubs`` writes the stubs; ``python -m tools.gen_stubs --check``
exits 1 when the committed stubs differ from what the protos generate.

grpcio-tools has no standalone plugin for ``buf generate``, so protoc runs from the
``grpc_tools`` package and the generated absolute imports (``from strata.v1 import``)
are rewritten to the package path the stubs live at.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "service" / "gen"
_IMPORT = re.compile(r"^from strata\.v1 import", re.MULTILINE)


def generate(out_dir: Path) -> None:
    """Run protoc over every ``.proto`` under ``proto/`` into ``out_dir``."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    _rewrite_imports(out_dir)
    _add_package_markers(out_dir)


def _rewrite_imports(out_dir: Path) -> None:
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        path.write_text(_IMPORT.sub("from service.gen.strata.v1 import", text))


def _add_package_markers(out_dir: Path) -> None:
    for folder in [out_dir, out_dir / "strata", out_dir / "strata" / "v1"]:
        marker = folder / "__init__.py"
        if not marker.exists():
            marker.write_text('"""Generated gRPC stubs; regenerate with python -m tools.gen_stubs."""\n')


def _differences(left: Path, right: Path) -> list[str]:
    """Relative paths whose content differs between two trees (missing counts)."""
    names = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    names |= {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    names = {n for n in names if "__pycache__" not in n.parts}
    return sorted(
        str(n)
        for n in names
        if not ((left / n).is_file() and (right / n).is_file() and filecmp.cmp(left / n, right / n, shallow=False))
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: generate, or with ``--check`` verify the committed stubs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regeneration changes anything")
    args = parser.parse_args(argv)
    if not args.check:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        generate(OUT_DIR)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = _differences(Path(tmp), OUT_DIR)
    if stale:
        print("stubs are stale; run `python -m tools.gen_stubs`: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
