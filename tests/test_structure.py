"""The package's shape: no import cycles (imports inside functions included), small modules and functions,
stage options declared once (the fingerprint, the CLI flags and the DAG params all follow the settings table).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from signbridge.settings import SETTINGS_TABLE, STAGE_OPTIONS, load_settings

PKG = Path(__file__).resolve().parent.parent / "signbridge"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every signbridge module ``name`` imports, at any depth of the file (function-level too)."""
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        for t in targets:
            while t and t not in mods:
                t = t.rpartition(".")[0]
            # a submodule importing its own package's __init__ is not a cycle between modules
            if t and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_import_graph_has_no_cycles():
    mods = _modules()
    graph = {m: _imports(m, p, mods) & set(mods) for m, p in mods.items()}
    assert graph["signbridge.pipeline.steps"] >= {"signbridge.pipeline.render"}  # the graph sees real edges
    assert _cycles(graph) == []


def test_modules_and_functions_are_small():
    big_modules = [f"{p.relative_to(PKG.parent)} ({n} lines)" for p in PKG.rglob("*.py")
                   if (n := len(p.read_text().splitlines())) > 500]
    assert not big_modules, "split these along stage lines: " + ", ".join(big_modules)
    long_functions = []
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                if "Long because" not in (ast.get_docstring(node) or ""):
                    long_functions.append(f"{p.relative_to(PKG.parent)}:{node.lineno} {node.name}")
    assert not long_functions, "split these, or say why in the docstring ('Long because ...'): " + \
        ", ".join(long_functions)


def _changed(s) -> object:
    cur = getattr(load_settings(env={}), s.name)
    if s.choices:
        return next(c for c in s.choices if c != cur)
    if s.type is bool:
        return not cur
    if s.type in (int, float):
        return s.type((cur or 0) + 1) if s.maximum is None or (cur or 0) + 1 <= s.maximum else s.type(s.minimum or 0)
    return f"/other/{s.name}"


@pytest.mark.parametrize("s", [s for s in SETTINGS_TABLE if s.output], ids=lambda s: s.name)
def test_every_output_setting_changes_the_fingerprint(s):
    from signbridge.pipeline.fingerprint import fingerprint

    needs = {"gpu_precision": {"extractor": "gpu"}}.get(s.name, {})  # only has an effect with this
    base = load_settings(env={}, **needs)
    assert fingerprint(load_settings(env={}, **needs, **{s.name: _changed(s)})) != fingerprint(base), s.name


@pytest.mark.parametrize("name", ["workers", "device", "batch_size", "recognize_threads", "log_level", "s3_retries"])
def test_settings_that_change_no_output_keep_the_fingerprint(name):
    from signbridge.pipeline.fingerprint import fingerprint
    from signbridge.settings import setting

    s = setting(name)
    assert not s.output
    assert fingerprint(load_settings(env={}, **{name: _changed(s)})) == fingerprint(load_settings(env={}))


def test_stage_options_are_flags_of_run_and_process():
    for cmd in ("run", "process"):
        out = subprocess.run([sys.executable, "-m", "signbridge.cli", cmd, "--help"], capture_output=True,
                             text=True, timeout=120).stdout
        missing = [s.cli_flag for s in STAGE_OPTIONS if s.cli_flag not in out]
        assert not missing, (cmd, missing)


def test_task_params_map_onto_settings():
    from signbridge.orchestrate.tasks import settings_for

    opts = {s.name: _changed(s) for s in STAGE_OPTIONS}
    got = settings_for({**opts, "s3_secret_key": "leak", "home": "/elsewhere"})
    assert all(getattr(got, k) == v for k, v in opts.items())
    # a run's conf reaches stage options only, never credentials or the home folder
    assert got.s3_secret_key != "leak" and got.home != "/elsewhere"
