"""The package as users install it: a built wheel (not editable) in a fresh environment runs
`signbridge process` on a clip; the wheel carries the DAGs, `py.typed` and its version; `python -m
signbridge` works; the top-level `dags/` stays the one copy of the DAG files.

The fresh environment is a `venv --without-pip` whose only link to the installed dependencies is a .pth
line naming this virtualenv's site-packages (a plain path line: that folder's own .pth files, the editable
install of this checkout among them, are not run). The wheel goes in with `pip install --no-deps`, so the
test takes seconds instead of reinstalling torch and Airflow, and the `signbridge` it runs can only be the
wheel's: nothing on its path leads back to this checkout.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest


def _source_copy(repo: Path, dest: Path) -> Path:
    """The files git tracks or would track (the working tree as it is, no build leftovers); links stay links."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src, out = repo / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            out.symlink_to(os.readlink(src))
        else:
            out.write_bytes(src.read_bytes())
    return dest


@pytest.fixture(scope="module")
def wheel(repo_root, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = _source_copy(repo_root, work / "src")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(work / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (whl,) = (work / "dist").glob("signbridge-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    py = root / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "signbridge-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=300, env=_clean_env())
    assert res.returncode == 0, res.stderr[-2000:]
    return root


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


def test_dags_folder_is_the_one_copy(repo_root):
    """`signbridge/_dags` links to the top-level `dags/`: there is no second copy to drift."""
    from signbridge.orchestrate.airflow_env import dags_folder

    link = repo_root / "signbridge" / "_dags"
    assert link.is_symlink() and os.readlink(link) == "../dags"
    assert dags_folder() == (repo_root / "dags").resolve()
    dag_files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=repo_root,
                               capture_output=True, text=True, check=True).stdout.split()
    assert [f for f in dag_files if f.endswith("signbridge_videos.py")] == ["dags/signbridge_videos.py"]


def test_wheel_carries_dags_types_and_version(wheel, repo_root):
    z = zipfile.ZipFile(wheel)
    names = set(z.namelist())
    dag_files = sorted((repo_root / "dags").glob("*.py"))
    assert dag_files
    for p in dag_files:
        assert z.read(f"signbridge/_dags/{p.name}") == p.read_bytes(), p.name
    assert {"signbridge/py.typed", "signbridge/__main__.py"} <= names
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"\nVersion: {version}\n" in meta


def test_installed_wheel_runs_process_on_a_clip(venv, wheel, repo_root, s3_server, s3_bucket, shared_data, tmp_path):
    py, sb = venv / "bin" / "python", venv / "bin" / "signbridge"
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    # the airflow and weed programs of the dependencies live beside this interpreter, as they would beside
    # the wheel's in a normal install
    env = _clean_env(PATH=f"{venv / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                     SIGNBRIDGE_HOME=str(tmp_path / "home"), SIGNBRIDGE_RESULTS=str(tmp_path / "results"),
                     SIGNBRIDGE_TTS="espeak", SIGNBRIDGE_WORKERS="1", AWS_ENDPOINT_URL=s3_server.s3_endpoint,
                     AWS_ACCESS_KEY_ID=s3_server.s3_access_key, AWS_SECRET_ACCESS_KEY=s3_server.s3_secret_key,
                     SIGNBRIDGE_UPLOADS=f"{s3_bucket}/uploads", SIGNBRIDGE_OUTPUT=f"{s3_bucket}/outputs")
    where = subprocess.run([str(py), "-c", "import signbridge; from signbridge.orchestrate.airflow_env import "
                            "dags_folder; print(signbridge.__file__); print(dags_folder()); print(signbridge.__version__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    pkg, dags, got_version = where.stdout.split()
    assert Path(pkg).is_relative_to(venv) and Path(dags).is_relative_to(venv), where.stdout
    assert got_version == version
    assert subprocess.run([str(py), "-m", "signbridge", "--version"], cwd=tmp_path, env=env, capture_output=True,
                          text=True).stdout.strip() == f"signbridge {version}"

    clip = tmp_path / "clip.mp4"
    clip.write_bytes((shared_data / "wlasl_clips" / "01377.mp4").read_bytes())
    res = subprocess.run([str(sb), "process", str(clip), "--quiet"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[ok]" in res.stdout or "[no_signing]" in res.stdout, res.stdout[-3000:]
    videos = list((tmp_path / "results").glob("*/video.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 10_000
