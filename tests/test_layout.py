"""The pipeline is the folder tree: stage import boundaries (checked on the source with ``ast``),
and a real non-editable install exposes every stage as ``journeytrace.<stage>``.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"receivers": "journeytrace.receivers", "correlator": "journeytrace.correlator",
          "storage": "journeytrace.storage", "query": "journeytrace.query"}  # fmt: skip
ORDER = ["receivers", "correlator", "storage", "query"]
WIRING = {"journeytrace.server", "journeytrace.cli", "journeytrace.__main__", "journeytrace.receiving"}
"""Core modules that wire the stages together; no stage may import them."""


def _package_of(path: Path) -> str:
    folder = path.parent.relative_to(ROOT).parts[0]
    return STAGES.get(folder, "journeytrace")


def _module_of(path: Path) -> str:
    package = _package_of(path)
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


def imports_of(source: str, package: str) -> set[str]:
    """Every journeytrace module a source file imports (relative imports resolved; dynamic
    ``importlib.import_module("journeytrace....")`` calls included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from journeytrace import storage` imports the module journeytrace.storage.
            found.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return {m for m in found if m == "journeytrace" or m.startswith("journeytrace.")}


def _stage_of(module: str) -> str | None:
    for stage, package in STAGES.items():
        if module == package or module.startswith(package + "."):
            return stage
    return None


def _is_core(module: str) -> bool:
    return _stage_of(module) is None and module.split(".")[:2] != ["journeytrace", "_native"]


def _sources(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    return files


def violations(folder: str, allowed: set[str | None]) -> list[str]:
    """Imports of files under ``folder`` that reach a stage not in ``allowed`` (None = core) or the wiring."""
    problems = []
    for path in _sources(folder):
        for module in imports_of(path.read_text(), _package_of(path) if path.stem != "__init__" else _module_of(path)):
            stage = _stage_of(module)
            if module in WIRING or any(module.startswith(w + ".") for w in WIRING):
                problems.append(f"{path.relative_to(ROOT)} imports {module} (the server wiring)")
            elif stage not in allowed:
                problems.append(f"{path.relative_to(ROOT)} imports {module}")
    return problems


# --- the checker itself can fail ------------------------------------------------------------------


def test_import_checker_sees_every_form_of_import():
    source = """
import journeytrace.storage.store
from journeytrace.query import app
from journeytrace import correlator
from .. import storage as s
from ..receivers.otlp import export
import importlib
importlib.import_module("journeytrace.query.params")
import os, grpc
"""
    found = imports_of(source, "journeytrace.receivers")
    assert {"journeytrace.storage.store", "journeytrace.query", "journeytrace.correlator", "journeytrace.storage",
            "journeytrace.receivers.otlp", "journeytrace.query.params"} <= found  # fmt: skip
    assert "os" not in found and "grpc" not in found


# --- the boundaries ------------------------------------------------------------------------------


def test_receivers_import_only_the_core_and_themselves():
    assert violations("receivers", {None, "receivers"}) == []


def test_storage_never_imports_receivers_or_query():
    assert violations("storage", {None, "storage", "correlator"}) == []


def test_query_never_imports_receivers():
    assert violations("query", {None, "query", "storage", "correlator"}) == []


@pytest.mark.parametrize("stage", ORDER)
def test_each_stage_depends_only_on_the_core_and_the_stage_before_it(stage):
    """The README's rule: receivers → correlator → storage → query."""
    index = ORDER.index(stage)
    allowed: set[str | None] = {None, stage}
    if index:
        allowed.add(ORDER[index - 1])
    assert violations(stage, allowed) == []


def test_the_core_imports_no_stage():
    """Receivers may import the core, so the core (except the wiring in server/cli) must not
    reach any stage, or receivers would import storage through it."""
    problems = []
    for path in _sources("journeytrace"):
        module = _module_of(path)
        if module in WIRING:
            continue
        problems += [f"{path.name} imports {m}" for m in imports_of(path.read_text(), "journeytrace") if not _is_core(m)]
    assert problems == []


def test_every_stage_folder_is_a_package_of_the_distribution():
    text = (ROOT / "pyproject.toml").read_text()
    for folder, package in STAGES.items():
        assert (ROOT / folder / "__init__.py").exists()
        assert f'"{package}" = "{folder}"' in text, f"{package} is not mapped to {folder}/ in pyproject.toml"


# --- a real install ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_non_editable_install_exposes_every_stage(tmp_path):
    """``pip install --target`` of the project (from a clean copy of the tree, so the build leaves
    nothing behind in the work tree) gives importable stages and the C decoder."""
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                      ".hypothesis", "data", "tests", "*.so", "bench"),
    )  # fmt: skip
    target = tmp_path / "target"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # -S: no site-packages processing, so the editable install of the work tree cannot shadow the
    # installed copy; the dependencies come from the venv's site-packages as plain paths.
    paths = [str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = """
import sys, journeytrace
import journeytrace.receivers, journeytrace.correlator, journeytrace.storage, journeytrace.query
import journeytrace.receivers.otlp_grpc, journeytrace.receivers.otlp_http, journeytrace.storage.store
import journeytrace.query.app, journeytrace.server, journeytrace.cli, journeytrace.spans
target = sys.argv[1]
for module in (journeytrace, journeytrace.receivers, journeytrace.correlator, journeytrace.storage, journeytrace.query):
    assert module.__file__.startswith(target), (module.__name__, module.__file__)
assert journeytrace.spans._fastdecode is not None, "the C extension was not built or not installed"
assert journeytrace.spans._fastdecode.__file__.startswith(target)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    run = subprocess.run([sys.executable, "-S", "-c", code, str(target)], capture_output=True, text=True, env=env,
                         cwd=str(tmp_path), timeout=120)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr

    # The installed command line works too.
    help_run = subprocess.run([sys.executable, "-S", "-m", "journeytrace", "serve", "--help"], capture_output=True,
                              text=True, env=env, cwd=str(tmp_path), timeout=120)  # fmt: skip
    assert help_run.returncode == 0 and "--otlp-grpc-port" in help_run.stdout, help_run.stderr
