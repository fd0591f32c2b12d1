"""``signbridge process``: the whole batch through the Airflow DAG on this machine.

Starts the embedded SeaweedFS when S3 is needed and no other S3 is configured (:mod:`signbridge.storage.target`),
uploads local
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

from signbridge.errors import RunCancelled, SignBridgeError, StorageError
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
    asset_events: list[dict] = field(default_factory=list)  # what the run told Airflow (signbridge_results)
    not_uploaded: list[VideoState] = field(default_factory=list)
    started_store: bool = False
    seconds: float = 0.0
    local_results: str | None = None
    local_files: dict[str, dict[str, str]] = field(default_factory=dict)  # input uri -> name -> local path

    @property
    def failed(self) -> list[dict]:
        return [v for v in self.manifest.get("videos", []) if v["status"] == "failed"] + \
               [{"input_uri": s.input_uri, "status": "failed", "error": s.error} for s in self.not_uploaded]


def _needs_s3(settings: Settings, inputs: Sequence[str]) -> bool:
    return any(u.startswith("s3://") for u in (settings.output, settings.uploads, *inputs))


def ensure_store(settings: Settings, inputs: Sequence[str], say: Callable[[str], None]) -> tuple[Settings, bool]:
    """The embedded SeaweedFS when S3 is used and no other S3 is configured. Returns (settings, started)."""
    if not _needs_s3(settings, inputs):
        return settings, False
    from signbridge.storage.target import EMBEDDED, choose_store

    choice = choose_store(settings)
    if choice.kind != EMBEDDED:
        say(f"object store: {choice.label} ({choice.reason})")
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
            _upload_sidecars(st, settings, store, key)
            uris.append(store.uri(key))
        say(f"uploaded {len(uris)} local video(s) to {store.uri()}")
    return uris + remote, bad


def _upload_sidecars(st: VideoState, settings: Settings, store, key: str) -> None:
    """A local video's own word list / script go beside its uploaded copy, where the DAG's discover finds them."""
    from signbridge.recognize.hints import SCRIPT_SIDECAR, VOCAB_SIDECAR, sidecar_names

    for kind, suffix in (("vocabulary", VOCAB_SIDECAR), ("script", SCRIPT_SIDECAR)):
        doc = (st.hints or {}).get(kind)
        if doc and doc["source"] != getattr(settings, kind):
            store.put_bytes(key.rsplit("/", 1)[0] + "/" + sidecar_names(key.rsplit("/", 1)[1], suffix)[0],
                            doc["text"].encode(), "text/plain; charset=utf-8")


def upload_hint_files(options: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Run-wide ``--vocabulary``/``--script`` files are read now (a bad one is named before anything runs) and
    stored under the uploads prefix, so every worker of the DAG reads the same text."""
    from signbridge.recognize.hints import read_hint
    from signbridge.storage import open_store
    import hashlib

    out = dict(options)
    for kind, what in (("vocabulary", "word list"), ("script", "script")):
        src = out.get(kind)
        if not src or str(src).startswith("s3://"):
            continue
        _, text = read_hint(str(src), settings, what)
        store = open_store(settings.uploads, settings, create=True)
        key = f"hints/{hashlib.sha256(text.encode()).hexdigest()[:16]}/{Path(src).name}"
        store.put_bytes(key, text.encode(), "text/plain; charset=utf-8")
        out[kind] = store.uri(key)
    return out


def run_dag(conf: dict, settings: Settings, *, executor: str = "inline", parallelism: int = 2,
            log_path: Path, timeout: float | None = None, progress=None, store_watch=None,
            run_store=None) -> dict:
    """Run the DAG once in a child process and watch it; returns the runner's JSON result.

    While it runs: progress from the run's state files, the store's health (a dead store stops the
    run), and SIGINT/SIGTERM (:class:`RunCancelled`) stop the runner and every process it started.
    """
    from signbridge.orchestrate.airflow_env import ApiServer, airflow_env, free_port, migrate
    from signbridge.orchestrate.failures import failures_file
    from signbridge.orchestrate.progress import RunWatch
    from signbridge.orchestrate.supervise import die_with_parent, stop_tree

    port = free_port() if executor == "local" else None
    env = airflow_env(settings, executor=executor, parallelism=parallelism, api_port=port)
    migrate(env)
    work = Path(env["AIRFLOW_HOME"]) / "runs"
    work.mkdir(parents=True, exist_ok=True)
    conf_file = work / f"{conf['run_id']}.conf.json"
    result_file = work / f"{conf['run_id']}.result.json"
    tasks_file = work / f"{conf['run_id']}.tasks.json"
    conf_file.write_text(json.dumps(conf))
    result_file.unlink(missing_ok=True)
    tasks_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "signbridge.orchestrate.runner", DAG_ID, "--conf", str(conf_file),
           "--result", str(result_file), "--progress", str(tasks_file)]
    if executor == "local":
        cmd.append("--use-executor")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    watch = RunWatch(run_store, conf["run_id"], tasks_file) \
        if run_store is not None and progress is not None else None
    api = ApiServer(env, port, log_path.with_suffix(".api.log")).start() if port else None
    proc = None
    deadline = time.monotonic() + timeout if timeout else None
    try:
        with open(log_path, "ab") as log_f:
            proc = subprocess.Popen(cmd, env=env, stdout=log_f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=die_with_parent)
        while proc.poll() is None:
            if watch is not None:
                progress.update(watch.snapshot())
            if store_watch is not None:
                store_watch.check()
            if deadline and time.monotonic() > deadline:
                raise SignBridgeError(f"the Airflow run took longer than {timeout:.0f} s", hint=f"see {log_path}")
            time.sleep(1.0)
        if watch is not None:
            progress.update(watch.snapshot())
    finally:
        if proc is not None and proc.poll() is None:
            stop_tree(proc.pid)
            proc.wait(timeout=10)
        if api is not None:
            api.stop()
        if progress is not None:
            progress.close()
    if proc.returncode != 0 or not result_file.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-8:])
        raise SignBridgeError(f"the Airflow run exited with code {proc.returncode}",
                              hint=f"log {log_path}:\n{tail}")
    out = json.loads(result_file.read_text())
    failures = failures_file(env["AIRFLOW_HOME"], conf["run_id"])
    if failures.is_file():
        out["failures"] = [json.loads(line) for line in failures.read_text().splitlines() if line.strip()]
    return out


def _run_here(conf: dict, settings: Settings, executor: str, parallelism: int, log_path: Path, progress: str,
              run, watch_uri: str, run_id: str) -> dict:
    """The DAG run on this machine (dag.test or LocalExecutor), stopped with every process it started on Ctrl-C."""
    from signbridge.orchestrate.progress import make_progress
    from signbridge.orchestrate.supervise import StoreWatch, cancel_on_signals, mark_cancelled

    try:
        with cancel_on_signals():
            return run_dag(conf, settings, executor=executor, parallelism=parallelism, log_path=log_path,
                           progress=make_progress(progress, lambda m: print(m, file=sys.stderr, flush=True)),
                           store_watch=StoreWatch(settings, watch_uri), run_store=run)
    except RunCancelled as e:
        where = mark_cancelled(run, run_id, str(e))
        raise RunCancelled(f"run {run_id} {e}; every process of the run was stopped",
                           hint=f"marked cancelled in {where or 'its record (the store did not answer)'}; "
                                f"run the same command again to resume (finished videos are skipped)") from None


def process(inputs: Sequence[str], settings: Settings, *, output: str | None = None, executor: str = "inline",
            parallelism: int = 2, options: dict[str, Any] | None = None, say: Callable[[str], None] = print,
            run_id: str | None = None, progress: str = "auto") -> ProcessResult:
    from signbridge.orchestrate.supervise import check_locations, store_problem
    from signbridge.pipeline import RUNS
    from signbridge.storage import open_store

    t0 = time.perf_counter()
    if output:
        settings = settings.replace(output=output)
    settings = settings.validate()
    check_locations(settings, inputs)  # a bad prefix is named now, not after every task's retries
    api = None
    if executor == "celery":  # before anything is uploaded: a cluster that is down fails within seconds
        from signbridge.cluster.submit import connect

        api = connect(settings)
    settings, started = ensure_store(settings, inputs, say)
    for uri in dict.fromkeys((settings.output, settings.uploads)):
        problem = store_problem(settings, uri) if _needs_s3(settings, inputs) else None
        if problem:
            raise StorageError(f"cannot use the object store: {problem}", source=uri, permanent=True,
                               hint="check AWS_ENDPOINT_URL, or `signbridge storage status` for the embedded store")
    options = upload_hint_files(options or {}, settings)
    uris, bad = upload_inputs(inputs, settings.replace(**{k: options.get(k) for k in ("vocabulary", "script")}), say)
    run_id = run_id or new_run_id()
    if not uris:
        raise SignBridgeError("no video to process", source=", ".join(inputs),
                              hint=bad[0].error if bad else "give video files, folders or an s3:// prefix")
    conf = {"inputs": uris, "output": settings.output, "run_id": run_id, **{k: v for k, v in (options or {}).items()
                                                                            if v is not None}}
    log_path = Path(settings.home) / "airflow" / "logs" / f"process-{run_id}.log"
    if api is None:
        say(f"running DAG {DAG_ID} ({'dag.test, one process' if executor == 'inline' else 'LocalExecutor'}) "
            f"as run {run_id}; Airflow log: {log_path}")
    out = open_store(settings.output, settings)
    run = out.child(f"{RUNS}/{run_id}")
    watch_uri = settings.output if settings.output.startswith("s3://") else settings.uploads
    if api is not None:  # the run goes on in the cluster whatever happens to this process
        from signbridge.cluster.submit import submit_run

        say(f"submitting DAG {DAG_ID} run {run_id} to the Airflow at {api.url} (CeleryExecutor); progress: {log_path}")
        result = submit_run(api, conf, log_path, say)
    else:
        result = _run_here(conf, settings, executor, parallelism, log_path, progress, run, watch_uri, run_id)

    if not run.exists("manifest.json"):
        reasons = "; ".join(f"{f['task']}: {f['error']}" for f in result.get("failures", [])[:3])
        raise SignBridgeError(f"the DAG run ended ({result.get('state')}) without writing its manifest"
                              + (f": {reasons}" if reasons else ""), source=run.uri("manifest.json"),
                              hint=f"see {log_path}")
    manifest = json.loads(run.get_bytes("manifest.json"))
    report_uri = run.uri("report.html") if run.exists("report.html") else None
    local = mirror_results(run.uri(), inputs, settings, say)
    local_report = local.report if local else (report_uri if report_uri and "://" not in report_uri else None)
    return ProcessResult(run_id=run_id, manifest=manifest, manifest_uri=run.uri("manifest.json"),
                         report_uri=report_uri, local_report=local_report, dag_state=result.get("state", "?"),
                         log_path=str(log_path), tasks=result.get("tasks", []),
                         asset_events=result.get("asset_events", []), not_uploaded=bad,
                         started_store=started, seconds=time.perf_counter() - t0,
                         local_results=local.folder if local else None, local_files=local.videos if local else {})


def mirror_results(run_uri: str, inputs: Sequence[str], settings: Settings, say: Callable[[str], None]):
    """Local inputs get local results: the run copied into ``SIGNBRIDGE_RESULTS`` (resumable, verified)."""
    if not run_uri.startswith("s3://") or any(u.startswith("s3://") for u in inputs) \
            or settings.results.strip().lower() in ("", "none"):
        return None
    from signbridge.orchestrate.results import fetch_results

    try:
        return fetch_results(run_uri, settings, Path(settings.results))
    except (SignBridgeError, OSError) as e:  # the results are safe in the store; say how to get them
        say(f"could not copy the results to {settings.results}: {e}; "
            f"`signbridge results {run_uri} --to DIR` copies them")
        return None


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
        for line in video_lines(v, res.local_files.get(v["input_uri"])):
            out(line)
    for st in res.not_uploaded:
        out(f"{st.input_uri}  [failed]")
        out(f"    upload: {st.error}")
    out("")
    out(summary_table(res.manifest))
    out("")
    out(f"manifest: {res.manifest_uri}")
    if res.report_uri:
        out(f"report:   {res.report_uri}")
    if res.local_results:
        out(f"results:  {res.local_results}  (a folder per video with video.mp4, captions, narration, "
            f"landmarks; open {Path(res.local_results).name}/report.html)")
        out(f"review:   signbridge review {res.local_results}  (check and correct the recognised signs)")
