"""A real executor: LocalExecutor worker processes (with Airflow's execution API server on 127.0.0.1,
SQLite metadata DB) run the mapped extraction tasks of ``signbridge_videos`` in parallel.

Proof of parallelism is a barrier (signbridge.testhooks): each extract task waits there until two have arrived,
which a serial executor can never get past; Airflow's own task-instance records then show three task processes
(three PIDs) with overlapping [start, end] intervals. After the command returns, no process of the run is left.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

CLIPS = ["wlasl_clips/01377.mp4", "wlasl_clips/62746.mp4", "wlasl_clips/53199.mp4"]


def test_mapped_extraction_runs_in_parallel_processes(shared_data, s3_server, tmp_path):
    from signbridge.records import RunManifest

    bucket = f"s3://exec-{uuid.uuid4().hex[:10]}"
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "extract.barrier").write_text("2")  # two extract tasks must be inside at once to go on
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "SIGNBRIDGE_RESULTS": str(tmp_path / "results"),
                "AWS_ENDPOINT_URL": s3_server.s3_endpoint,
                "AWS_ACCESS_KEY_ID": s3_server.s3_access_key, "AWS_SECRET_ACCESS_KEY": s3_server.s3_secret_key,
                "SIGNBRIDGE_UPLOADS": f"{bucket}/uploads", "SIGNBRIDGE_OUTPUT": f"{bucket}/outputs",
                "SIGNBRIDGE_TTS": "espeak", "SIGNBRIDGE_TEST_SYNC": str(sync), "SIGNBRIDGE_TEST_SYNC_TIMEOUT": "120"})
    # --batch-seconds 0.5: every ~1 s clip is its own extraction task, so there is something to parallelise.
    # Three worker processes: in Airflow 3.3 a worker's first task process takes ~5 s to exit, so the
    # worker that ran `discover` is busy a while; the other two take the first extract tasks together.
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "process", "--json", "--executor", "local",
                          "--parallelism", "3", "--batch-seconds", "0.5", *[str(shared_data / c) for c in CLIPS]],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    assert doc["dag_state"].endswith("success")
    manifest = RunManifest.from_dict(doc["manifest"])
    assert [v.status for v in manifest.videos] == ["ok"] * 3

    extracts = [t for t in doc["tasks"] if t["task_id"] == "extract"]
    assert len(extracts) == 3 and all(t["state"].endswith("success") for t in extracts)
    assert len({t["pid"] for t in extracts}) == 3  # each in its own task process
    assert [t["try_number"] for t in extracts] == [1, 1, 1]  # all through the barrier on their first try
    assert len(list(sync.glob("extract.*.arrived"))) == 3 and len({p.name.split(".")[1] for p in
                                                                sync.glob("extract.*.arrived")}) == 3
    overlapping = [(a["map_index"], b["map_index"]) for i, a in enumerate(extracts) for b in extracts[i + 1:]
                   if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, [(t["map_index"], t["start"], t["end"]) for t in extracts]
    # the API server, the runner and the workers are gone: no process of this run is left, none listens
    assert _processes_of(env["SIGNBRIDGE_HOME"]) == []
    port = int(re.search(r"127\.0\.0\.1:(\d+)", Path(doc["log"]).with_suffix(".api.log").read_text()).group(1))
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on the API port {port}"

    # A LocalExecutor that never shuts down (apache/airflow#45329) must not hang `process`: the watch reads
    # the finished run from this run's database, writes the same result, ends the workers and exits.
    hung = ("import multiprocessing, sys, time\n"
            "from pathlib import Path\n"
            "from signbridge.orchestrate.runner import watch_executor_shutdown\n"
            "worker = multiprocessing.Process(target=time.sleep, args=(600,))\n"
            "worker.start()\n"
            "watch_executor_shutdown('signbridge_videos', sys.argv[1], Path(sys.argv[2]), 'LocalExecutor', grace=1)\n"
            "time.sleep(120)\n")
    result = tmp_path / "watched.json"
    watched = subprocess.run([sys.executable, "-c", hung, manifest.run_id, str(result)], capture_output=True,
                             text=True, timeout=90, env={**env, "AIRFLOW_HOME": str(tmp_path / "home" / "airflow")})
    assert watched.returncode == 0 and "has not shut down" in watched.stderr, watched.stderr[-2000:]
    out = json.loads(result.read_text())
    assert out["state"].endswith("success") and out["executor"] == "LocalExecutor"
    assert sorted((t["task_id"], t["map_index"]) for t in out["tasks"]) == \
        sorted((t["task_id"], t["map_index"]) for t in doc["tasks"])


def _processes_of(home: str) -> list[str]:
    """Live processes whose environment has SIGNBRIDGE_HOME=home (every process a run starts inherits it)."""
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("SIGNBRIDGE_HOME") == home and p.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{p.pid}: {' '.join(p.cmdline())[:200]}")
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    return found
