"""The command line as a user meets it, and CI running exactly the README's test command."""
from __future__ import annotations

import os
import re
import subprocess
import sys

EXPECTED = ["extract", "recognize", "compose", "speak", "mux", "run", "storage", "dataset", "train", "eval",
            "vocab", "probe", "bench"]


def _sb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "signbridge.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_help_lists_the_stage_commands():
    out = _sb("--help")
    assert out.returncode == 0
    listed = set(re.findall(r"^    (\S+)", out.stdout, flags=re.M))
    missing = [c for c in EXPECTED if c not in listed]
    assert not missing, f"commands missing from --help: {missing}\n{out.stdout}"


def test_failure_is_one_line_and_nonzero(tmp_path):
    env = {**os.environ, "SIGNBRIDGE_HOME": str(tmp_path)}
    out = _sb("storage", "ls", "ftp://nowhere/x", env=env)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "unsupported storage URI 'ftp://nowhere/x'" in out.stderr


def test_bad_setting_is_one_line(tmp_path):
    env = {**os.environ, "SIGNBRIDGE_HOME": str(tmp_path), "SIGNBRIDGE_S3_PORT": "eighty"}
    out = _sb("storage", "status", env=env)
    assert out.returncode == 1 and "SIGNBRIDGE_S3_PORT='eighty' is not a valid int" in out.stderr
    assert "Traceback" not in out.stderr


def test_ci_runs_the_readme_test_command(repo_root):
    readme = (repo_root / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    commands = [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    test_cmds = [c for c in commands if c.startswith("./sb test")]
    assert test_cmds == ["./sb test"], f"README should give exactly one test command, found {test_cmds}"
    ci = (repo_root / ".ci" / "run").read_text()
    ci_cmds = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert ci_cmds[-1] == "exec ./sb test", ci_cmds
    assert all(c.startswith(("set ", "cd ", "exec ./sb test")) for c in ci_cmds), f"CI does more than the README: {ci_cmds}"


def test_setup_is_idempotent_and_fast_on_second_run(repo_root):
    """`./sb setup` on an already set-up checkout installs nothing (stamp check)."""
    import time

    t = time.monotonic()
    out = subprocess.run([str(repo_root / "sb"), "setup"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "installing" not in out.stderr, "second setup run reinstalled packages"
    assert time.monotonic() - t < 60


def test_bench_lists_runs_and_refuses_an_unknown_benchmark(tmp_path, repo_root, capsys):
    """`signbridge bench` finds every script in benchmarks/ and runs one with its arguments (a small CPU run)."""
    import json

    from signbridge.cli import main

    assert main(["bench"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == {p.stem[len("bench_"):] for p in (repo_root / "benchmarks").glob("bench_*.py")}
    assert main(["bench", "no_such"]) == 1
    assert "no benchmark named 'no_such'" in capsys.readouterr().err
    out = tmp_path / "sweep.json"
    assert main(["bench", "probe_sweep", "--small", "--images", "8", "--classes", "2", "--repeats", "1",
                 "--folds", "2", "--jobs", "1", "--device", "cpu", "--json-out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["images"] == 8 and doc["layers"] == 5 and doc["probe_fits"] > 0 and doc["cpus"] >= 1, doc
