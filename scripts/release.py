"""Build the release artefact HACS installs: ``dist/balance.zip`` and the same tree unpacked.

HACS (``hacs.json``: ``zip_release``, ``filename``) unpacks the zip into
``<config>/custom_components/balance/``, and Home Assistant then installs only the manifest's
requirements from PyPI. The project's own libraries are not on PyPI, so they travel inside the
integration as subpackages under ``libs/``, and every import of them, in the integration and in
the libraries themselves, becomes a relative import. No ``sys.path`` tricks: the bundled code is
importable as ``custom_components.balance.libs.<package>`` and nothing else.

Imports are found with ``ast`` (at any depth: lazy imports inside functions too) and only their
source spans are rewritten, so line numbers, comments and formatting stay as they were.

    python -m scripts.release [--out dist]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import shutil
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = Path("custom_components/balance")
DOMAIN = "balance"
LIBS_DIR = "libs"

BUNDLED: tuple[str, ...] = ("dmesh_lib", "dlm", "balance_analytics", "balance_openadr")
"""The project's libraries the integration imports, bundled under ``libs/`` (in this order).

``balance_openadr`` is the household's OpenADR client; a listed package that is not in the
source tree is skipped with a note, so the list can name it before it lands."""

EXCLUDED: tuple[str, ...] = ("dmesh_lib/simulator",)
"""Parts of bundled packages the integration never imports (the simulator needs pandas and
demandlib, which a Home Assistant install does not have)."""

SKIPPED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Every zip entry gets this timestamp, so the same sources always give the same bytes."""


class ReleaseError(RuntimeError):
    """The artefact cannot be built as asked; the message says what to change."""


@dataclass(slots=True)
class BuildResult:
    tree: Path
    archive: Path | None
    bundled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rewritten: dict[str, int] = field(default_factory=dict)
    """Imports rewritten per file (path relative to the integration)."""


# -- the import rewriter


def _top(module: str) -> str:
    return module.split(".", 1)[0]


_FROM_MODULE = re.compile(rb"\Afrom(?:\s|\\\r?\n)+([A-Za-z_][\w.]*)")


def _from_replacement(segment: bytes, node: ast.ImportFrom, prefix: str) -> bytes:
    """``from pkg.sub import (...)`` with only the module name changed, the rest kept verbatim."""
    match = _FROM_MODULE.match(segment)
    if match is None or match.group(1).decode() != node.module:
        raise ReleaseError(f"cannot find the module name of {segment.decode()!r}")
    start, end = match.span(1)
    return segment[:start] + f"{prefix}{node.module}".encode() + segment[end:]


def _import_replacement(
    node: ast.Import, prefix: str, bundled: frozenset[str], where: str
) -> bytes:
    """``import pkg.sub as m`` → ``from <prefix>pkg import sub as m``; others stay as they are."""
    parts: list[str] = []
    plain: list[str] = []
    for alias in node.names:
        if _top(alias.name) not in bundled:
            plain.append(alias.name if alias.asname is None else f"{alias.name} as {alias.asname}")
            continue
        if alias.asname is None:
            raise ReleaseError(
                f"{where}: `import {alias.name}` binds the absolute name {_top(alias.name)!r}, "
                "which a bundled package cannot have; write "
                f"`from {alias.name.rpartition('.')[0] or _top(alias.name)} import ...` or "
                f"`import {alias.name} as name` instead"
            )
        package, _, name = alias.name.rpartition(".")
        base = prefix.rstrip(".") if not package else f"{prefix}{package}"
        parts.append(f"from {base} import {name} as {alias.asname}")
    if plain:
        parts.insert(0, "import " + ", ".join(plain))
    return "; ".join(parts).encode()


def _line_offsets(source: bytes) -> list[int]:
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def rewrite_imports(
    source: str, *, level: int, bundled: Iterable[str], where: str = "<source>"
) -> tuple[str, int]:
    """Rewrite absolute imports of ``bundled`` packages into relative imports of ``libs.<pkg>``.

    ``level`` is the file's package depth below the integration plus one (1 for a module at the
    top of the integration). Returns the new source and how many statements changed.
    """
    names = frozenset(bundled)
    tree = ast.parse(source, filename=where)
    encoded = source.encode()
    offsets = _line_offsets(encoded)
    prefix = "." * level + LIBS_DIR + "."
    edits: list[tuple[int, int, bytes]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level or node.module is None or _top(node.module) not in names:
                continue
        elif isinstance(node, ast.Import):
            if not any(_top(a.name) in names for a in node.names):
                continue
        else:
            continue
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        # ast's column offsets count UTF-8 bytes, hence the byte-level edits
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        here = f"{where}:{node.lineno}"
        if isinstance(node, ast.ImportFrom):
            replacement = _from_replacement(encoded[start:end], node, prefix)
        else:
            replacement = _import_replacement(node, prefix, names, here)
        edits.append((start, end, replacement))
    for start, end, replacement in sorted(edits, reverse=True):
        encoded = encoded[:start] + replacement + encoded[end:]
    return encoded.decode(), len(edits)


# -- checks of the built tree


def _module_exists(base: Path, parts: Sequence[str]) -> bool:
    target = base.joinpath(*parts)
    return (target / "__init__.py").is_file() or target.with_suffix(".py").is_file()


def _absolute_problem(where: str, module: str, bundled: frozenset[str]) -> str:
    if _top(module) in bundled:
        return f"{where}: absolute import of bundled {module!r} was not rewritten"
    return (
        f"{where}: imports {module!r}, but {_top(module)} is not bundled (BUNDLED in "
        "scripts/release.py) and is not on PyPI"
    )


def check_tree(
    tree: Path, project_packages: Iterable[str], bundled: Iterable[str] = ()
) -> list[str]:
    """What is wrong with a built integration tree: empty when it is fit to ship.

    Every file parses; no absolute import of a project package remains (a bundled one would be
    the rewriter's bug, another one a library the integration needs and the bundle lacks); every
    relative import stays inside the integration and names a module that is there.
    """
    project = frozenset(project_packages)
    bundled_names = frozenset(bundled)
    problems: list[str] = []
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(tree)
        try:
            module = ast.parse(path.read_bytes(), filename=str(rel))
        except SyntaxError as err:
            problems.append(f"{rel}: does not parse: {err}")
            continue
        for node in ast.walk(module):
            if isinstance(node, ast.Import):
                problems += [
                    _absolute_problem(f"{rel}:{node.lineno}", a.name, bundled_names)
                    for a in node.names
                    if _top(a.name) in project
                ]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if _top(node.module) in project:
                    problems.append(
                        _absolute_problem(f"{rel}:{node.lineno}", node.module, bundled_names)
                    )
            elif isinstance(node, ast.ImportFrom):
                package = rel.parent.parts
                if node.level - 1 > len(package):
                    problems.append(f"{rel}:{node.lineno}: relative import leaves the integration")
                    continue
                base = tree.joinpath(*package[: len(package) - (node.level - 1)])
                module_parts = node.module.split(".") if node.module else []
                if module_parts and not _module_exists(base, module_parts):
                    # `from . import x` / `from .pkg import sub` may name a submodule
                    problems.append(
                        f"{rel}:{node.lineno}: relative import of "
                        f"{'.' * node.level}{node.module} names no module in the bundle"
                    )
    return problems


# -- manifest


def ha_constraints() -> dict[str, str]:
    """Package → version Home Assistant pins (its ``package_constraints.txt``), lower-cased."""
    spec = importlib.util.find_spec("homeassistant")
    if spec is None or not spec.submodule_search_locations:
        raise ReleaseError("homeassistant is not importable: run with the project's venv")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_constraints.txt"
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        for spec_item in req.specifier:
            if spec_item.operator in ("==", "==="):
                pins[canonicalize_name(req.name)] = spec_item.version
    return pins


def check_requirements(
    requirements: Iterable[str], *, own_distributions: Iterable[str], pins: dict[str, str]
) -> list[str]:
    """Manifest requirements HA can install from PyPI next to its own pinned packages."""
    own = {canonicalize_name(n) for n in own_distributions}
    problems: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as err:
            problems.append(f"requirement {text!r} is not a PEP 508 requirement: {err}")
            continue
        name = canonicalize_name(req.name)
        if req.url:
            problems.append(f"requirement {text!r} is a direct URL; HA installs from PyPI only")
        if name in own:
            problems.append(
                f"requirement {text!r} is this project's own distribution, which is not on "
                "PyPI: its libraries are bundled under libs/ instead"
            )
        if name in pins:
            if any(s.operator in ("==", "===") for s in req.specifier):
                problems.append(
                    f"requirement {text!r} pins a package Home Assistant pins itself "
                    f"({req.name}=={pins[name]}): give a range that contains HA's version"
                )
            elif not req.specifier.contains(pins[name], prereleases=True):
                problems.append(
                    f"requirement {text!r} excludes the version Home Assistant pins "
                    f"({req.name}=={pins[name]})"
                )
    return problems


def _project_distribution(root: Path) -> str:
    import tomllib

    with (root / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["name"])


def rewrite_manifest(manifest: dict[str, object], bundled: Iterable[str]) -> dict[str, object]:
    names = frozenset(bundled)
    loggers = manifest.get("loggers")
    if isinstance(loggers, list):
        manifest["loggers"] = [
            f"custom_components.{DOMAIN}.{LIBS_DIR}.{name}"
            if isinstance(name, str) and _top(name) in names
            else name
            for name in loggers
        ]
    return manifest


# -- the build


def project_packages(root: Path) -> list[str]:
    """Top-level Python packages of the repository (what must never be imported absolutely)."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in ("scripts", "tests")
    )


def _copy_tree(source: Path, target: Path, excluded: Sequence[Path]) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in SKIPPED_NAMES for part in rel.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        if any(path == e or e in path.parents for e in excluded):
            continue
        if path.is_dir():
            (target / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / rel)


def _python_files(tree: Path) -> Iterator[Path]:
    yield from sorted(tree.rglob("*.py"))


def write_zip(tree: Path, archive: Path) -> None:
    """Sorted entries, one fixed timestamp, fixed modes: reproducible byte for byte."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=ZIP_DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode above is honoured on extraction
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(archive)


def build(
    root: Path = ROOT,
    out: Path | None = None,
    *,
    bundled: Sequence[str] = BUNDLED,
    excluded: Sequence[str] = EXCLUDED,
    archive: bool = True,
    say: bool = True,
    expect_version: str | None = None,
) -> BuildResult:
    """Build ``<out>/balance/`` and ``<out>/balance.zip`` from the sources in ``root``."""
    out = root / "dist" if out is None else out
    tree = out / DOMAIN
    source = root / INTEGRATION
    if not (source / "manifest.json").is_file():
        raise ReleaseError(f"{source} has no manifest.json")
    # a failed build must not leave the previous artefact behind to be uploaded by mistake
    if tree.exists():
        shutil.rmtree(tree)
    (out / f"{DOMAIN}.zip").unlink(missing_ok=True)
    result = BuildResult(tree=tree, archive=None)

    _copy_tree(source, tree, [])
    for package in bundled:
        if not (root / package / "__init__.py").is_file():
            result.skipped.append(package)
            if say:
                print(f"note: {package} is not in {root}; not bundled", file=sys.stderr)
            continue
        excluded_here = [root / e for e in excluded if _top(e.replace("/", ".")) == package]
        _copy_tree(root / package, tree / LIBS_DIR / package, excluded_here)
        result.bundled.append(package)
    if result.bundled:
        (tree / LIBS_DIR / "__init__.py").write_text(
            '"""The project\'s own libraries, bundled by scripts/release.py."""\n'
        )

    for path in _python_files(tree):
        rel = path.relative_to(tree)
        level = len(rel.parent.parts) + 1
        text, count = rewrite_imports(
            path.read_text(encoding="utf-8"), level=level, bundled=result.bundled, where=str(rel)
        )
        if count:
            path.write_text(text, encoding="utf-8")
            result.rewritten[rel.as_posix()] = count

    manifest_path = tree / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    problems: list[str] = []
    if expect_version is not None and manifest.get("version") != expect_version:
        problems.append(
            f"manifest.json version {manifest.get('version')!r} is not the release's "
            f"{expect_version!r}"
        )
    problems += check_requirements(
        manifest.get("requirements", []),
        own_distributions=[_project_distribution(root)],
        pins=ha_constraints(),
    )
    manifest = rewrite_manifest(manifest, result.bundled)
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")

    problems += check_tree(tree, project_packages(root), result.bundled)
    if problems:
        raise ReleaseError("the release is not installable:\n  " + "\n  ".join(problems))
    if archive:
        result.archive = out / f"{DOMAIN}.zip"
        write_zip(tree, result.archive)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory")
    parser.add_argument(
        "--expect-version", help="fail unless manifest.json has this version (the release tag)"
    )
    args = parser.parse_args(argv)
    try:
        result = build(ROOT, args.out, expect_version=args.expect_version)
    except ReleaseError as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    files = sum(1 for p in result.tree.rglob("*") if p.is_file())
    print(
        f"release: {result.archive} ({files} files; bundled {', '.join(result.bundled)}; "
        f"{sum(result.rewritten.values())} imports rewritten in {len(result.rewritten)} files)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
