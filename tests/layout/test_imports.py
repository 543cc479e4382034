"""The layout's import rules, checked on the source: no cycles anywhere (imports inside
functions count: a cycle held together by a late import is still a cycle), and each package
imports only what its README allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("emulators", "harness", "pipeline", "loadtest", "contract_tests", "parity", "ingest",
            "deploy")

#: What each package must never import (its README says what it may).
FORBIDDEN = {
    "emulators": ("pipeline", "harness", "apache_beam", "loadtest", "contract_tests", "parity",
                  "ingest", "deploy"),
    "pipeline": ("emulators", "loadtest", "contract_tests", "parity", "ingest", "deploy"),
    "harness": ("loadtest", "contract_tests", "parity"),
    "ingest": ("emulators", "harness", "loadtest", "contract_tests", "parity", "deploy"),
    # the harness provisions through deploy, so deploy must not depend on the harness
    "deploy": ("harness", "emulators", "loadtest", "contract_tests", "parity", "ingest"),
}
#: ``pipeline`` may import exactly one module of the harness: the Beam-patch registry.
ALLOWED_EXCEPTIONS = {("pipeline", "harness.beam_local")}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports, wherever in the file the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # the longest known module the target names (``from a import b`` may name a module)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            # a package's __init__ importing its own submodules is not a cycle of the code
            if nxt.startswith(node + "."):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_anywhere():
    assert cycles(graph()) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_their_readme_allows(package):
    external_roots = set(FORBIDDEN[package]) - set(PACKAGES)
    bad = []
    for name, path in modules().items():
        if not (name == package or name.startswith(package + ".")):
            continue
        if name == "emulators.__main__":
            continue  # the deprecated `python -m emulators` alias runs the harness via runpy
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                root = target.split(".")[0]
                if root in FORBIDDEN[package] and (package, target) not in ALLOWED_EXCEPTIONS:
                    if root in external_roots or root in PACKAGES:
                        bad.append(f"{name} imports {target}")
    assert bad == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
