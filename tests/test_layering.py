"""Issue 10 "architecture": no package imports from a package above it. Parsed with ast, so
imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A package may import from itself and from any package before it.
LAYERS = ["models", "scheduler", "dispatch", "sms_gateway", "workflow", "replies", "bot",
          "service"]


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def violations() -> set[tuple[str, str]]:
    found = set()
    for rank, package in enumerate(LAYERS):
        for path in (ROOT / package).rglob("*.py"):
            for other in imported_packages(path):
                if LAYERS.index(other) > rank:
                    found.add((str(path.relative_to(ROOT)), other))
    return found


def test_no_package_imports_from_a_package_above_it():
    assert violations() == set()
