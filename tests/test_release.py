"""The release artefact (scripts/release.py): the import rewriter and the bundle it builds.

The bundle must import as ``custom_components.balance`` with nothing of the project on
``sys.path``: the check runs in a subprocess from a temporary config directory, and fails if any
module of a project package was imported under its absolute name (the dev venv's editable
install would otherwise hide a missed rewrite).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts import release

ROOT = release.ROOT
INTEGRATION = ROOT / release.INTEGRATION
PROJECT = release.project_packages(ROOT)


def rewrite(source: str, level: int = 1, bundled: tuple[str, ...] = ("pkg", "other")) -> str:
    text, _ = release.rewrite_imports(textwrap.dedent(source), level=level, bundled=bundled)
    return text


@pytest.mark.parametrize(
    ("source", "level", "expected"),
    [
        ("from pkg import a\n", 1, "from .libs.pkg import a\n"),
        ("from pkg.sub import a as b\n", 1, "from .libs.pkg.sub import a as b\n"),
        ("from pkg.sub import a\n", 3, "from ...libs.pkg.sub import a\n"),
        ("import pkg.sub as m\n", 1, "from .libs.pkg import sub as m\n"),
        ("import pkg.sub.deep as m\n", 2, "from ..libs.pkg.sub import deep as m\n"),
        ("import pkg as p\n", 1, "from .libs import pkg as p\n"),
        ("from pkg import a  # noqa: F401\n", 1, "from .libs.pkg import a  # noqa: F401\n"),
        (
            "from pkg import (\n    a,  # the first\n    b as c,\n)\n",
            1,
            "from .libs.pkg import (\n    a,  # the first\n    b as c,\n)\n",
        ),
        (
            "def f():\n    if True:\n        from pkg.sub import x\n    return x\n",
            1,
            "def f():\n    if True:\n        from .libs.pkg.sub import x\n    return x\n",
        ),
        ("import os, pkg.sub as m\n", 1, "import os; from .libs.pkg import sub as m\n"),
        ("if x: import pkg.a as m\n", 1, "if x: from .libs.pkg import a as m\n"),
        ("from \\\n  pkg import a\n", 1, "from \\\n  .libs.pkg import a\n"),
        # not ours, or already relative: untouched
        ("from pkgx import a\nimport pkgx\nfrom .pkg import b\n", 1, None),
        ("from __future__ import annotations\nimport os.path\n", 1, None),
        ('s = "from pkg import a"  # in a string\n', 1, None),
        # ast counts columns in UTF-8 bytes: a non-ASCII line before must not shift the edit
        ('x = "m³ × °"; from pkg import a\n', 1, 'x = "m³ × °"; from .libs.pkg import a\n'),
    ],
)
def test_rewriter_table(source: str, level: int, expected: str | None) -> None:
    assert rewrite(source, level) == (source if expected is None else expected)


@pytest.mark.parametrize("source", ["import pkg\n", "import pkg.sub\n", "import os, pkg\n"])
def test_rewriter_refuses_what_it_cannot_rewrite(source: str) -> None:
    with pytest.raises(release.ReleaseError, match="binds the absolute name 'pkg'"):
        rewrite(source)


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: (
        s not in ("pkg", "if", "in", "is", "as", "or", "and", "not", "def", "for", "del")
        and not s.startswith(("import", "from"))
    )
)


@given(
    sub=st.lists(IDENT, max_size=3),
    names=st.lists(st.tuples(IDENT, st.none() | IDENT), min_size=1, max_size=4),
    level=st.integers(1, 4),
    parenthesised=st.booleans(),
    indent=st.sampled_from(["", "    "]),
    comment=st.booleans(),
)
def test_rewriter_keeps_names_and_points_at_libs(
    *,
    sub: list[str],
    names: list[tuple[str, str | None]],
    level: int,
    parenthesised: bool,
    indent: str,
    comment: bool,
) -> None:
    module = ".".join(["pkg", *sub])
    items = [n if a is None else f"{n} as {a}" for n, a in names]
    body = f"(\n{indent}    " + f",\n{indent}    ".join(items) + ",\n" + indent + ")"
    stmt = f"from {module} import {body if parenthesised else ', '.join(items)}"
    tail = "  # keep me" if comment else ""
    source = (f"def f():\n{indent}{stmt}{tail}\n" if indent else f"{stmt}{tail}\n") + "y = 1\n"
    new = rewrite(source, level)
    node = next(n for n in ast.walk(ast.parse(new)) if isinstance(n, ast.ImportFrom))
    assert node.level == level
    assert node.module == f"libs.{module}"
    assert [(a.name, a.asname) for a in node.names] == names
    assert new.count("# keep me") == int(comment)
    assert new.endswith("y = 1\n")


# -- the bundle


def _absolute_project_imports(tree: Path) -> list[str]:
    found = []
    for path in tree.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_bytes())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            found += [f"{path}: {n}" for n in names if n.split(".")[0] in PROJECT]
    return found


IMPORT_CHECK = """
import importlib, json, sys
project = set(sys.argv[2].split(","))
for name in sys.argv[1].split(","):
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in project)
print(json.dumps(leaked))
"""


def _import_in_subprocess(
    config: Path, modules: list[str], call: str = ""
) -> tuple[list[str], str]:
    """Import ``modules`` (then run ``call``) in a fresh interpreter in ``config``.

    Returns the modules of project packages imported under their absolute names, and what
    ``call`` printed."""
    code = IMPORT_CHECK + call
    out = subprocess.run(
        [sys.executable, "-c", code, ",".join(modules), ",".join(PROJECT)],
        cwd=config,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    first, _, rest = out.stdout.partition("\n")
    return list(json.loads(first)), rest.strip()


FAKE_BUNDLE = ("dmesh_lib", "dlm", "balance_analytics", "not_here_yet")
"""The mechanism's tests bundle these (one missing, as balance_openadr may be), whatever
BUNDLED says today."""


def _fake_root(tmp_path: Path) -> Path:
    """A repository with the real libraries and a small integration that imports them in every
    form the rewriter supports, lazily too."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root)
    for package in ("dmesh_lib", "dlm", "balance_analytics"):
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    integration = root / release.INTEGRATION
    integration.mkdir(parents=True)
    (integration / "manifest.json").write_text(
        json.dumps({"domain": "balance", "loggers": ["dmesh_lib", "other"], "requirements": []})
    )
    (integration / "__init__.py").write_text(
        textwrap.dedent(
            """\
            from dmesh_lib import (  # the codec
                ConcentratorClient,
            )
            import dmesh_lib.messages as messages
            from dlm import EngineMode as Mode
            from .sub.deeper import carriers


            def lazy():
                from balance_analytics.series import HourlySeries  # noqa: F401

                return HourlySeries
            """
        )
    )
    (integration / "sub").mkdir()
    (integration / "sub" / "__init__.py").write_text("")
    (integration / "sub" / "deeper.py").write_text(
        "from balance_analytics import carriers  # noqa: F401\n"
    )
    return root


def test_bundle_of_the_real_libraries_imports_with_relative_imports(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    result = release.build(root, tmp_path / "dist", bundled=FAKE_BUNDLE, say=False)
    assert result.bundled == ["dmesh_lib", "dlm", "balance_analytics"]
    assert result.skipped == ["not_here_yet"]
    tree = result.tree
    assert not (tree / "libs" / "dmesh_lib" / "simulator").exists()
    assert (tree / "libs" / "dmesh_lib" / "py.typed").exists()
    assert _absolute_project_imports(tree) == []
    assert release.check_tree(tree, PROJECT, result.bundled) == []
    manifest = json.loads((tree / "manifest.json").read_text())
    assert manifest["loggers"] == ["custom_components.balance.libs.dmesh_lib", "other"]

    config = tmp_path / "config"
    (config / "custom_components").mkdir(parents=True)
    assert result.archive is not None
    with zipfile.ZipFile(result.archive) as zf:
        zf.extractall(config / "custom_components" / "balance")
    leaked, printed = _import_in_subprocess(
        config,
        ["custom_components.balance"],
        call="import custom_components.balance as b; print(b.lazy().__module__)\n",
    )
    assert leaked == []
    assert printed == "custom_components.balance.libs.balance_analytics.series"


def test_zip_is_reproducible(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    first = release.build(root, tmp_path / "a", bundled=FAKE_BUNDLE, say=False).archive
    second = release.build(root, tmp_path / "b", bundled=FAKE_BUNDLE, say=False).archive
    assert first is not None
    assert second is not None
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert "manifest.json" in names
        assert {i.date_time for i in zf.infolist()} == {release.ZIP_DATE}


def test_build_fails_on_an_unbundled_project_import(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    (root / release.INTEGRATION / "ven.py").write_text("from balance_grid import x\n")
    (root / "balance_grid").mkdir()
    (root / "balance_grid" / "__init__.py").write_text("")
    with pytest.raises(release.ReleaseError, match="balance_grid is not bundled"):
        release.build(root, tmp_path / "dist", bundled=FAKE_BUNDLE, say=False)


@pytest.mark.parametrize(
    ("requirement", "problem"),
    [
        ("balance-ha==0.1.0", "own distribution"),
        ("serialx @ https://example.com/serialx.whl", "direct URL"),
        ("numpy==2.3.2", "pins a package Home Assistant pins"),
        ("numpy>=2.4", "excludes the version Home Assistant pins"),
        ("numpy>=2.2,<3", None),
        ("somethingelse==1.0", None),
    ],
)
def test_manifest_requirements(requirement: str, problem: str | None) -> None:
    problems = release.check_requirements(
        [requirement], own_distributions=["balance-ha"], pins={"numpy": "2.3.2"}
    )
    assert (problems == []) if problem is None else (problem in problems[0])


def _integration_imports_unbundled() -> list[str]:
    unbundled = set(PROJECT) - set(release.BUNDLED)
    return [
        i
        for i in _absolute_project_imports(INTEGRATION)
        if i.split(": ")[1].split(".")[0] in unbundled
    ]


def test_release_of_this_repository(tmp_path: Path) -> None:
    """The real artefact: builds, and every platform module imports from the bundle alone."""
    # the household side needs nothing of the utility's server (balance_aggregator, balance_grid)
    assert _integration_imports_unbundled() == []
    result = release.build(ROOT, tmp_path / "dist", say=False)
    assert _absolute_project_imports(result.tree) == []
    config = tmp_path / "config"
    (config / "custom_components").mkdir(parents=True)
    shutil.copytree(result.tree, config / "custom_components" / "balance")
    modules = sorted(
        f"custom_components.balance.{p.stem}"
        for p in result.tree.glob("*.py")
        if p.stem != "__init__"
    )
    assert _import_in_subprocess(config, ["custom_components.balance", *modules])[0] == []
