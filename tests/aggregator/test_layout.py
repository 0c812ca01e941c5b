"""The aggregator's shape: layers import downwards only, no module imports itself round a circle,
every module imports on its own in any order, and the OpenADR schema is written once."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "balance_aggregator"

#: lower layers first; a module may import its own layer and the layers before it
LAYERS = (
    ("balance_aggregator.config", "balance_aggregator.metrics", "balance_aggregator.logs"),
    ("balance_aggregator.auth", "balance_aggregator.errors"),
    ("balance_aggregator.grid",),
    ("balance_aggregator.storage",),
    ("balance_aggregator.services",),
    ("balance_aggregator.http", "balance_aggregator.operator"),
    ("balance_aggregator.vtn",),
    ("balance_aggregator.cli", "balance_aggregator.__main__"),
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(name: str) -> set[str]:
    """Modules of the package that ``name`` imports anywhere (top level, functions,
    TYPE_CHECKING blocks alike), with the packages importing them initialises."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{a.name}" for a in node.names)
    own = set(_ancestors(name))
    found: set[str] = set()
    for target in targets:
        if target not in MODULES:
            continue
        found.update(a for a in _ancestors(target) if a in MODULES and a not in own)
        found.add(target)
    found.discard(name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in layer):
            return index
    return -1  # the package itself


def test_no_module_imports_itself_round_a_circle() -> None:
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                circle = [*path[path.index(dep) :], dep]
                pytest.fail("import circle: " + " -> ".join(circle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name)


def test_layers_import_downwards_only() -> None:
    upward = [
        f"{name} -> {dep}"
        for name, deps in GRAPH.items()
        for dep in deps
        if _layer(dep) > _layer(name) >= 0
    ]
    assert not upward, upward
    # the domain services and the storage know no web framework
    for name, path in MODULES.items():
        if _layer(name) <= _layer("balance_aggregator.services"):
            assert "aiohttp import web" not in path.read_text(), name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_module_imports_in_any_order(seed: int) -> None:
    names = sorted(MODULES)
    random.Random(seed).shuffle(names)
    script = f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_openadr_schema_is_written_once() -> None:
    writers = [
        name for name, path in MODULES.items() if "CREATE TABLE oadr_object" in path.read_text()
    ]
    assert writers == ["balance_aggregator.storage.schema"]


def test_the_integration_does_not_import_the_aggregator() -> None:
    users = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "custom_components").rglob("*.py")
        if "balance_aggregator" in p.read_text()
    ]
    assert not users, users
