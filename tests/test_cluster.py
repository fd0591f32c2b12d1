"""A real Airflow CeleryExecutor cluster on this machine: PostgreSQL, Redis, scheduler, DAG processor,
API server, triggerer and two Celery workers on different queues (``signbridge cluster up``).

Three real clips and a broken file go through it with ``process --executor celery``; the task
instances show that both workers ran tasks, and the outputs equal those of the embedded run. A
worker SIGKILLed while its extraction task runs: the task is retried on the other worker and the
run ends with the same outputs. ``cluster up`` twice changes nothing; ``down`` leaves no process
and no listening port; no credential appears in any log, task output or report.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

CLIPS = ["wlasl_clips/01377.mp4", "wlasl_clips/62746.mp4", "wlasl_clips/53199.mp4"]
QUEUES = ["default,extract", "extract,gpu,tts"]
DAG = "signbridge_videos"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed "
                                "(./sb setup installs postgresql and redis-server as root)")


def _cli(args: list[str], env: dict, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "signbridge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _free_base() -> int:
    from signbridge.storage.embedded import free_base_port

    return free_base_port(3)


@pytest.fixture(scope="module")
def cluster(shared_data, s3_server):
    """The cluster for this module: home in a folder the ``postgres`` user can reach, S3 = the session store."""
    # a private home (0700, like the default one under /root): as root, PostgreSQL's data goes where the
    # `postgres` user can reach it, linked from the home
    root = Path(tempfile.mkdtemp(prefix="sbcluster-"))
    bucket = f"s3://cl-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(root / "home"), "AWS_ENDPOINT_URL": s3_server.s3_endpoint,
                "AWS_ACCESS_KEY_ID": s3_server.s3_access_key, "AWS_SECRET_ACCESS_KEY": s3_server.s3_secret_key,
                "SIGNBRIDGE_UPLOADS": f"{bucket}/uploads", "SIGNBRIDGE_OUTPUT": f"{bucket}/celery",
                "SIGNBRIDGE_TTS": "espeak", "SIGNBRIDGE_RESULTS": "none", "SIGNBRIDGE_CLUSTER_PORT": str(_free_base()),
                # a worker that vanished is noticed after 20 s instead of Airflow's 300
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20"})
    outputs: list[str] = []
    up = _cli(["cluster", "up", "--workers", "2", *[a for q in QUEUES for a in ("--queues", q)]], env)
    outputs += [up.stdout, up.stderr]
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        yield {"env": env, "bucket": bucket, "root": root, "outputs": outputs, "shared": shared_data}
    finally:
        _cli(["cluster", "down"], env, timeout=180)
        data = root / "home" / "cluster" / "postgres" / "data"
        if data.is_symlink():
            shutil.rmtree(data.resolve().parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def _state(cluster) -> dict:
    return json.loads((Path(cluster["env"]["SIGNBRIDGE_HOME"]) / "cluster" / "state.json").read_text())


def _api(cluster):
    from signbridge.cluster.manager import Cluster
    from signbridge.settings import load_settings

    return Cluster(load_settings(env=cluster["env"])).api()


def _folders(store) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for o in store.list(""):
        head, _, rest = o.key.partition("/")
        if rest and not head.startswith(("runs", "_")):
            out.setdefault(head, set()).add(rest)
    return out


def _same_outputs(a, b, folder: str, tmp: Path) -> None:
    """Byte for byte, except result.json (timings) and the landmarks' per-chunk seconds."""
    from signbridge.contracts import read_landmarks_metadata
    from signbridge.extract import read_landmarks

    fa, fb = _folders(a)[folder], _folders(b)[folder]
    assert fa == fb
    for name in sorted(fa - {"result.json", "landmarks.parquet"}):
        assert a.child(folder).get_bytes(name) == b.child(folder).get_bytes(name), (folder, name)
    ta, tb = (read_landmarks(s.child(folder).get_file("landmarks.parquet", tmp / n / "l.parquet"))
              for s, n in ((a, "a"), (b, "b")))
    assert ta.replace_schema_metadata(None).equals(tb.replace_schema_metadata(None)), folder
    ma, mb = ({k: v for k, v in read_landmarks_metadata(t).items() if k != "chunk_seconds"} for t in (ta, tb))
    assert ma == mb, folder


def test_batch_runs_on_both_workers_with_the_embedded_outputs(cluster, s3_server, tmp_path):
    from signbridge.storage import open_store

    env, bucket = cluster["env"], cluster["bucket"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4000))
    clips = [str(cluster["shared"] / c) for c in CLIPS]
    # --batch-seconds 0.5: each clip is its own extraction task, for both workers to take
    res = _cli(["process", "--json", "--executor", "celery", "--batch-seconds", "0.5", *clips, str(broken)], env)
    cluster["outputs"] += [res.stdout, res.stderr]
    assert res.returncode == 1, res.stderr[-3000:]  # exit 1: one video failed
    doc = json.loads(res.stdout)
    assert doc["dag_state"] == "success"
    by_name = {Path(v["input_uri"]).name: v for v in doc["manifest"]["videos"]}
    assert [by_name[Path(c).name]["status"] for c in CLIPS] == ["ok"] * 3
    assert by_name["broken.mp4"]["status"] == "failed" and by_name["broken.mp4"]["failed_stage"] == "extract"
    assert "not a readable video" in by_name["broken.mp4"]["error"]

    tasks = doc["tasks"]
    assert all(t["state"] == "success" for t in tasks), tasks
    hosts = {t["task_id"]: t["hostname"].split("@")[0] for t in tasks}
    assert hosts["discover"] == "worker1" and hosts["recognize"] == "worker2"  # by their queues
    assert {t["hostname"].split("@")[0] for t in tasks} == {"worker1", "worker2"}
    assert len([t for t in tasks if t["task_id"] == "extract"]) == 3  # one per clip; the broken file fails its probe
    # publish told the cluster's Airflow about the new results (what downstream DAGs schedule on)
    assert [(e["asset"], e["task_id"]) for e in doc["asset_events"]] == [("signbridge_results", "publish")]
    assert doc["asset_events"][0]["extra"]["manifest"] == doc["manifest_uri"]

    # the embedded run (dag.test in one process) of the same clips, into another prefix
    emb = _cli(["process", "--json", "--batch-seconds", "0.5", "-o", f"{bucket}/embedded", *clips], env)
    cluster["outputs"] += [emb.stdout, emb.stderr]
    assert emb.returncode == 0, emb.stderr[-3000:]
    a, b = open_store(f"{bucket}/celery", s3_server), open_store(f"{bucket}/embedded", s3_server)
    assert set(_folders(a)) == set(_folders(b)) and len(_folders(a)) == 3
    for folder in _folders(a):
        _same_outputs(a, b, folder, tmp_path / folder)


def test_killed_worker_task_retried_on_the_other(cluster, s3_server, tmp_path):
    """SIGKILL the worker (and every process below it) while the extraction task runs on it."""
    from signbridge import processes
    from signbridge.cluster import procs
    from signbridge.storage import open_store

    env, bucket = cluster["env"], cluster["bucket"]
    env_k = dict(env, SIGNBRIDGE_OUTPUT=f"{bucket}/killed")
    clips = [str(cluster["shared"] / c) for c in CLIPS]  # one extraction task for all three: a few seconds long
    before = _state(cluster)["components"]
    proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "process", "--json", "--executor", "celery",
                             *clips], env=env_k, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    api = _api(cluster)
    try:
        def extract_ti(pred):
            runs = [r for r in api.get(f"/dags/{DAG}/dagRuns?limit=100")["dag_runs"]
                    if (r.get("conf") or {}).get("output") == env_k["SIGNBRIDGE_OUTPUT"]]
            if not runs:
                return None
            tis = [t for t in api.task_instances(DAG, runs[0]["dag_run_id"]) if t["task_id"] == "extract"]
            return next((t for t in tis if pred(t)), None)

        first = procs.wait_for(lambda: extract_ti(lambda t: t["state"] == "running" and t["hostname"]), 240,
                               "the extraction task running on a worker")
        victim = first["hostname"].split("@")[0]
        other = ({"worker1", "worker2"} - {victim}).pop()
        killed = processes.kill_tree(before[victim]["pid"], signal.SIGKILL)
        assert len(killed) >= 2 and not any(processes.alive(p) for p in killed)
        retried = procs.wait_for(lambda: extract_ti(lambda t: t["try_number"] >= 2 and t["hostname"]
                                                    and t["hostname"].startswith(other + "@")), 240,
                                 "the extraction task retried on the other worker")
        assert retried["try_number"] == first["try_number"] + 1

        # `cluster up` again: only the killed worker is started, everything else keeps its PID
        up = _cli(["cluster", "up"], env)
        cluster["outputs"] += [up.stdout, up.stderr]
        assert up.returncode == 0, up.stderr[-3000:]
        after = _state(cluster)["components"]
        assert after[victim]["pid"] != before[victim]["pid"]
        assert {n: c["pid"] for n, c in after.items() if n != victim} == \
               {n: c["pid"] for n, c in before.items() if n != victim}
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    cluster["outputs"] += [out, err]
    assert proc.returncode == 0, err[-3000:]
    doc = json.loads(out)
    assert [v["status"] for v in doc["manifest"]["videos"]] == ["ok"] * 3
    a, b = open_store(f"{bucket}/celery", s3_server), open_store(env_k["SIGNBRIDGE_OUTPUT"], s3_server)
    assert set(_folders(b)) == set(_folders(a))
    for folder in _folders(b):
        _same_outputs(a, b, folder, tmp_path / folder)

    again = _cli(["cluster", "up"], env)  # everything running: nothing started
    assert again.returncode == 0 and "already running" in again.stdout
    assert {n: c["pid"] for n, c in _state(cluster)["components"].items()} == \
           {n: c["pid"] for n, c in after.items()}


def test_down_leaves_nothing_and_no_credential_leaked(cluster):
    from signbridge import processes
    from signbridge.cluster import procs

    env = cluster["env"]
    home = Path(env["SIGNBRIDGE_HOME"])
    state = _state(cluster)
    tree = {p for c in state["components"].values() for p in processes.tree(c["pid"])}
    ports = [int(env["SIGNBRIDGE_CLUSTER_PORT"]) + i for i in range(3)]
    assert all(procs.port_in_use(p) for p in ports)
    down = _cli(["cluster", "down"], env, timeout=180)
    cluster["outputs"] += [down.stdout, down.stderr]
    assert down.returncode == 0, down.stderr
    assert not [p for p in tree if processes.alive(p)]
    assert not [p for p in ports if procs.port_in_use(p)]
    st = _cli(["cluster", "status"], env)
    assert st.returncode == 3 and "not running" in st.stdout

    # the cluster is down: `process --executor celery` says so at once instead of waiting
    res = _cli(["process", "--executor", "celery", str(cluster["shared"] / CLIPS[0])], env, timeout=60)
    assert res.returncode != 0 and "no Airflow API server answers" in res.stderr, res.stderr[-2000:]

    secrets = json.loads((home / "cluster" / "secrets.json").read_text())
    assert (home / "cluster" / "secrets.json").stat().st_mode & 0o077 == 0
    creds = {k: v for k, v in secrets.items() if k != "admin_user"}
    creds["s3_secret"] = env["AWS_SECRET_ACCESS_KEY"]
    # everything written: component logs, task logs, reports, the CLI's output (not the 0600 secret files
    # and configs that exist to hold them, nor the databases' own files)
    private = {"secrets.json", "passwords.json", "redis.conf", "state.json"}
    texts = {f"cli output {i}": t for i, t in enumerate(cluster["outputs"])}
    for p in home.rglob("*"):
        if p.is_file() and p.name not in private and "postgres/data" not in str(p) and "/s3/" not in str(p):
            texts[str(p)] = p.read_text(errors="replace")
    assert any("attempt=" in k for k in texts), "no task log found to check"
    leaks = [(name, k) for name, t in texts.items() for k, v in creds.items() if v and v in t]
    assert not leaks, leaks


def test_port_in_use_is_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "SIGNBRIDGE_CLUSTER_PORT": str(port - 1),
                "SIGNBRIDGE_RESULTS": "none",
                    "SIGNBRIDGE_OUTPUT": str(tmp_path / "out"), "SIGNBRIDGE_UPLOADS": str(tmp_path / "up")})
        res = _cli(["cluster", "up"], env, timeout=60)
    assert res.returncode != 0
    assert f"port {port} (postgres) on 127.0.0.1 is already in use" in res.stderr, res.stderr
    assert "SIGNBRIDGE_CLUSTER_PORT" in res.stderr


def test_worker_queues_must_cover_the_dag():
    from signbridge.cluster.deploy import QUEUES as ALL, worker_specs
    from signbridge.errors import ConfigError

    specs = worker_specs(2, QUEUES)
    assert [s.queues for s in specs] == [tuple(q.split(",")) for q in QUEUES]
    assert worker_specs(1, None)[0].queues == ALL
    with pytest.raises(ConfigError, match="no worker serves queue.*tts"):
        worker_specs(2, ["default,extract", "gpu"])
    with pytest.raises(ConfigError, match="unknown queue.*cpu"):
        worker_specs(1, ["cpu"])


def test_missing_debian_package_says_what_to_install(monkeypatch):
    from signbridge.cluster.services import redis_binary
    from signbridge.errors import ConfigError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match=r"Redis is not installed.*apt-get install -y postgresql redis-server"):
        redis_binary()
