"""The core package ``hierarchy`` stays transport-neutral: it never imports gRPC code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HIERARCHY = Path(__file__).resolve().parents[1] / "hierarchy"
FORBIDDEN = ("grpc", "google.protobuf", "service")


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an ``import`` or ``from ... import`` anywhere in ``tree`` names."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)


def test_the_walk_sees_nested_and_dotted_imports() -> None:
    source = "def f():\n    import grpc.aio\n    from google import protobuf\n    from service.errors import x\n"
    assert [m for m in imported_modules(ast.parse(source)) if is_forbidden(m)] == [
        "grpc.aio",
        "google.protobuf",
        "service.errors",
        "service.errors.x",
    ]


@pytest.mark.parametrize("path", sorted(HIERARCHY.rglob("*.py")), ids=lambda p: p.name)
def test_hierarchy_module_imports_no_transport(path: Path) -> None:
    bad = [m for m in imported_modules(ast.parse(path.read_text(), str(path))) if is_forbidden(m)]
    assert bad == [], f"{path.name} imports {bad}; hierarchy/ must not depend on gRPC or service/"


def test_hierarchy_has_modules() -> None:
    assert len(list(HIERARCHY.rglob("*.py"))) >= 10
