"""``signbridge process``: the whole batch through the Airflow DAG on this machine.

Starts the embedded SeaweedFS when S3 is needed and no endpoint is configured, uploads local
videos to the uploads prefix (content-addressed keys, so uploading again writes nothing new),
prepares ``AIRFLOW_HOME`` under ``$SIGNBRIDGE_HOME/airflow`` (SQLite, migrated once), runs the
``signbridge_videos`` DAG in a child process (``dag.test``: one process; or LocalExecutor workers
with an execution API server on 127.0.0.1), then reads the run manifest it wrote.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from signbridge.errors import SignBridgeError, StorageError
from signbridge.pipeline import VideoState, list_inputs, new_run_id
from signbridge.pipeline.report import summary_table, video_lines
from signbridge.settings import Settings

log = logging.getLogger(__name__)

DAG_ID = "signbridge_videos"


@dataclass
class ProcessResult:
    run_id: str
    manifest: dict
    manifest_uri: str
    report_uri: str | None
    local_report: str | None
    dag_state: str
    log_path: str
    tasks: list[dict] = field(default_factory=list)
    not_uploaded: list[VideoState] = field(default_factory=list)
    started_store: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [v for v in self.manifest.get("videos", []) if v["status"] == "failed"] + \
               [{"input_uri": s.input_uri, "status": "failed", "error": s.error} for s in self.not_uploaded]


def _needs_s3(settings: Settings, inputs: Sequence[str]) -> bool:
    return any(u.startswith("s3://") for u in (settings.output, settings.uploads, *inputs))


def ensure_store(settings: Settings, inputs: Sequence[str], say: Callable[[str], None]) -> tuple[Settings, bool]:
    """The embedded SeaweedFS when S3 is used and no endpoint is set. Returns (settings, started)."""
    if settings.s3_endpoint or not _needs_s3(settings, inputs):
        return settings, False
    from signbridge.storage.embedded import EmbeddedStore

    emb = EmbeddedStore(settings)
    was_running = emb.status().running
    st = emb.up()
    if not was_running:
        say(f"started the embedded S3 store (SeaweedFS) at {st.endpoint}, data in {st.data_dir}; "
            f"stop it with `signbridge storage down`")
    return emb.client_settings(), not was_running


def upload_inputs(inputs: Sequence[str], settings: Settings, say: Callable[[str], None]
                  ) -> tuple[list[str], list[VideoState]]:
    """Local files and folders go to ``uploads/<sha256[:16]>/<name>``; s3:// inputs pass through."""
    from signbridge.storage import open_store
    from signbridge.storage.keys import sha256_file

    remote = [u for u in inputs if u.startswith("s3://")]
    local = [u for u in inputs if not u.startswith("s3://")]
    uris: list[str] = []
    bad: list[VideoState] = []
    if local:
        states, bad = list_inputs(local, settings)
        store = open_store(settings.uploads, settings, create=True)
        for st in states:
            p = Path(st.input_uri)
            if not p.is_file():
                st.fail("upload", SignBridgeError("file not found" if not p.exists() else "not a file",
                                                  source=st.input_uri))
                bad.append(st)
                continue
            key = f"{sha256_file(p)[:16]}/{p.name}"
            if not store.exists(key):
                store.put_file(key, p)
            uris.append(store.uri(key))
        say(f"uploaded {len(uris)} local video(s) to {store.uri()}")
    return uris + remote, bad


def run_dag(conf: dict, settings: Settings, *, executor: str = "inline", parallelism: int = 2,
            log_path: Path, timeout: float | None = None) -> dict:
    """Run the DAG once in a child process; returns the runner's JSON result."""
    from signbridge.orchestrate.airflow_env import ApiServer, airflow_env, free_port, migrate

    port = free_port() if executor == "local" else None
    env = airflow_env(settings, executor=executor, parallelism=parallelism, api_port=port)
    migrate(env)
    work = Path(env["AIRFLOW_HOME"]) / "runs"
    work.mkdir(parents=True, exist_ok=True)
    conf_file = work / f"{conf['run_id']}.conf.json"
    result_file = work / f"{conf['run_id']}.result.json"
    conf_file.write_text(json.dumps(conf))
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "signbridge.orchestrate.runner", DAG_ID, "--conf", str(conf_file),
           "--result", str(result_file)]
    if executor == "local":
        cmd.append("--use-executor")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    api = ApiServer(env, port, log_path.with_suffix(".api.log")).start() if port else None
    try:
        with open(log_path, "ab") as log_f:
            res = subprocess.run(cmd, env=env, stdout=log_f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 timeout=timeout)
    finally:
        if api is not None:
            api.stop()
    if res.returncode != 0 or not result_file.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-8:])
        raise SignBridgeError(f"the Airflow run exited with code {res.returncode}",
                              hint=f"log {log_path}:\n{tail}")
    return json.loads(result_file.read_text())


def process(inputs: Sequence[str], settings: Settings, *, output: str | None = None, executor: str = "inline",
            parallelism: int = 2, options: dict[str, Any] | None = None, say: Callable[[str], None] = print,
            run_id: str | None = None) -> ProcessResult:
    t0 = time.perf_counter()
    if output:
        settings = settings.replace(output=output)
    settings = settings.validate()
    settings, started = ensure_store(settings, inputs, say)
    uris, bad = upload_inputs(inputs, settings, say)
    run_id = run_id or new_run_id()
    if not uris:
        raise SignBridgeError("no video to process", source=", ".join(inputs),
                              hint=bad[0].error if bad else "give video files, folders or an s3:// prefix")
    conf = {"inputs": uris, "output": settings.output, "run_id": run_id, **{k: v for k, v in (options or {}).items()
                                                                            if v is not None}}
    log_path = Path(settings.home) / "airflow" / "logs" / f"process-{run_id}.log"
    say(f"running DAG {DAG_ID} ({'dag.test, one process' if executor == 'inline' else 'LocalExecutor'}) "
        f"as run {run_id}; Airflow log: {log_path}")
    result = run_dag(conf, settings, executor=executor, parallelism=parallelism, log_path=log_path)

    from signbridge.pipeline import RUNS
    from signbridge.storage import open_store

    out = open_store(settings.output, settings)
    run = out.child(f"{RUNS}/{run_id}")
    if not run.exists("manifest.json"):
        raise StorageError(f"the DAG run ended ({result.get('state')}) without writing its manifest",
                           source=run.uri("manifest.json"), hint=f"see {log_path}")
    manifest = json.loads(run.get_bytes("manifest.json"))
    report_uri = local_report = None
    if run.exists("report.html"):
        report_uri = run.uri("report.html")
        if report_uri.startswith("s3://"):
            dest = Path(settings.home) / "reports" / f"{run_id}.html"
            run.get_file("report.html", dest)
            local_report = str(dest)
        else:
            local_report = report_uri
    return ProcessResult(run_id=run_id, manifest=manifest, manifest_uri=run.uri("manifest.json"),
                         report_uri=report_uri, local_report=local_report, dag_state=result.get("state", "?"),
                         log_path=str(log_path), tasks=result.get("tasks", []), not_uploaded=bad,
                         started_store=started, seconds=time.perf_counter() - t0)


def print_result(res: ProcessResult, out: Callable[[str], None] = print) -> None:
    videos = res.manifest.get("videos", [])
    counts: dict[str, int] = {}
    for v in videos:
        counts[v["status"]] = counts.get(v["status"], 0) + 1
    if res.not_uploaded:
        counts["failed"] = counts.get("failed", 0) + len(res.not_uploaded)
    out("")
    out(f"run {res.run_id}: {len(videos) + len(res.not_uploaded)} video(s), "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" in {res.seconds:.1f} s (DAG {res.dag_state})")
    out("")
    for v in videos:
        for line in video_lines(v):
            out(line)
    for st in res.not_uploaded:
        out(f"{st.input_uri}  [failed]")
        out(f"    upload: {st.error}")
    out("")
    out(summary_table(res.manifest))
    out("")
    out(f"manifest: {res.manifest_uri}")
    if res.report_uri:
        out(f"report:   {res.report_uri}" + (f"  (local copy: {res.local_report})"
                                               if res.local_report and res.local_report != res.report_uri else ""))
