"""Soak: a batch through the Celery cluster while faults are injected on a fixed, seeded schedule.

    signbridge bench soak [--clips 60] [--seed 26] [--docs]      # every fault, then the table in docs/reliability.md
    signbridge bench soak --quick --json                         # 6 clips, 4 faults (the suite runs this)

Starts a private SeaweedFS store, a fault proxy on 127.0.0.1 in front of it (soak_proxy.py) and
`signbridge cluster up` (PostgreSQL, Redis, Airflow, two Celery workers), all on 127.0.0.1. The clips
(``../shared/data/wlasl_clips``) plus 3 broken files go through a clean embedded run and then through
`process --executor celery` while the faults run one after the other (seeded order and gaps):

  kill_worker         SIGKILL a Celery worker (its whole tree) while it runs a task; `cluster up` restarts it
  restart_redis       the broker stopped (SIGTERM) and started again by `cluster up`
  restart_postgres    the metadata database stopped (fast shutdown) and started again by `cluster up`
  stop_store          the object store stopped for 20 s, then started again on the same data
  full_disk           the workers' scratch folder (a 256 MB tmpfs at $SIGNBRIDGE_HOME/tmp) filled for 15 s
  slow_store          the proxy answers 503 SlowDown to half the requests and stalls the rest 2 s, for 15 s
  truncate_landmarks  a stored landmarks.parquet cut in half between extraction and recognition
  kill_scheduler      SIGKILL the Airflow scheduler; `cluster up` restarts it

Afterwards it checks that every good clip ended ok with outputs identical to the clean run, each
broken file failed with its named reason, no result folder holds a file more or less than the clean
one (no duplicate or partial objects), the manifest lists every input, and no process it started is
left. It writes JSON under benchmarks/results/ and, with --docs, the table in docs/reliability.md.
Everything it starts is stopped by PID; every loop is bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak_proxy import FaultProxy  # noqa: E402

ALL_FAULTS = ["truncate_landmarks", "kill_worker", "restart_redis", "restart_postgres", "stop_store", "full_disk",
              "slow_store", "kill_scheduler"]
QUICK_FAULTS = ["truncate_landmarks", "slow_store", "kill_worker", "kill_scheduler"]
QUEUES = ["default,extract", "extract,gpu,tts"]
DAG = "signbridge_videos"
BROKEN = {"notes.mp4": "text file", "cut.mp4": "truncated", "noise.mp4": "not a readable video"}
DATA_FILES = ("landmarks.parquet", "gloss_track.json", "transcript.json", "captions.srt", "captions.vtt",
              "narration.wav", "video.mp4")
DOC_BEGIN, DOC_END = "<!-- soak table: written by benchmarks/bench_soak.py -->", "<!-- end of soak table -->"


def say(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cli(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "signbridge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_until(check, timeout: float, poll: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(poll)
    return None


class Soak:
    def __init__(self, clips: list[Path], faults: list[str], seed: int, gap: tuple[float, float]):
        from signbridge.settings import load_settings
        from signbridge.storage.embedded import EmbeddedStore, free_base_port

        self.clips, self.faults, self.seed, self.gap = clips, faults, seed, gap
        self.rng = random.Random(seed)
        # as root, PostgreSQL's data must be where the `postgres` user can reach it: a fresh 0700 folder
        self.root = Path(tempfile.mkdtemp(prefix="sbsoak-"))
        self.home = self.root / "home"
        self.bucket = f"s3://soak-{uuid.uuid4().hex[:10]}"
        self.emb = EmbeddedStore(load_settings(env={}, home=str(self.root / "store"), s3_port=free_base_port()))
        self.proxy: FaultProxy | None = None
        self.mounted: Path | None = None
        self.started: dict[int, float | None] = {}  # every PID we started or the cluster runs: pid -> create time
        self.records: list[dict] = []
        self.restarts: list[dict] = []
        self.victim_task: dict | None = None
        self.busy = threading.Lock()  # a fault's `cluster up` and the supervisor's never overlap

    # ----------------------------------------------------------------- set-up and tear-down
    def env(self, endpoint: str, **extra) -> dict:
        s = self.emb.client_settings()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
        env.update({"SIGNBRIDGE_HOME": str(self.home), "AWS_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": s.s3_access_key, "AWS_SECRET_ACCESS_KEY": s.s3_secret_key,
                    "SIGNBRIDGE_UPLOADS": f"{self.bucket}/uploads", "SIGNBRIDGE_OUTPUT": f"{self.bucket}/soak",
                    "SIGNBRIDGE_TTS": "espeak", "SIGNBRIDGE_RESULTS": "none", "SIGNBRIDGE_WORKERS": "1",
                    "SIGNBRIDGE_CLUSTER_PORT": str(self.cluster_port),
                    # shorter than the cluster's defaults (60, 60, 120 s), to keep the soak short: a worker that
                    # vanished is noticed after 20 s, a restarted scheduler adopts its predecessor's tasks within
                    # 20 s, a task whose broker message went with a restarted Redis is queued again after 60 s
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
                    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60", **extra})
        return env

    def start_store(self) -> None:
        from signbridge.storage import open_store
        from signbridge.storage.embedded import free_base_port

        self.emb.up(timeout=90)
        self._note_pid(self.emb.status().pid)
        self.proxy = FaultProxy(self.emb.port, seed=self.seed).start()
        self.cluster_port = free_base_port(3)
        self.direct = self.env(self.emb.endpoint)
        self.via_proxy = self.env(self.proxy.endpoint)
        open_store(self.bucket, self.emb.client_settings(), create=True)
        if "full_disk" in self.faults:  # before any scratch folder exists, so no task spans the mount
            tmp = self.home / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(tmp)], capture_output=True,
                               text=True)
            self.mounted = tmp if r.returncode == 0 else None
            if r.returncode:
                say(f"full_disk: cannot mount a tmpfs ({r.stderr.strip()}); that fault is not injected")

    def start_cluster(self) -> None:
        t0 = time.monotonic()
        up = cli(["cluster", "up", "--workers", "2", *[a for q in QUEUES for a in ("--queues", q)]], self.via_proxy)
        if up.returncode != 0:
            raise RuntimeError("cluster up failed: " + up.stderr[-3000:])
        self._note_cluster()
        say(f"cluster up in {time.monotonic() - t0:.0f} s")

    def _note_pid(self, pid: int | None) -> None:
        from signbridge import processes

        for p in processes.tree(pid) if pid else []:
            self.started.setdefault(p, processes.create_time(p))

    def components(self) -> dict:
        return json.loads((self.home / "cluster" / "state.json").read_text())["components"]

    def _note_cluster(self) -> None:
        for c in self.components().values():
            self._note_pid(c.get("pid"))

    def cluster_up(self) -> float:
        t0 = time.monotonic()
        r = cli(["cluster", "up"], self.via_proxy, timeout=400)
        if r.returncode != 0:
            say("cluster up after a fault failed: " + r.stderr[-1500:])
        self._note_cluster()
        return time.monotonic() - t0

    def supervise(self, done: threading.Event) -> None:
        """What systemd or Kubernetes does for a deployed cluster: a component that died (the API server after
        its database restarted, say) is started again, here by `cluster up`, checked every 10 s."""
        from signbridge import processes

        while not done.wait(10):
            try:
                dead = [n for n, c in self.components().items() if not processes.alive(c.get("pid"))]
            except (OSError, ValueError):
                continue
            if dead and not self.busy.locked():
                with self.busy:
                    say(f"supervisor: {', '.join(dead)} not running; `cluster up`")
                    self.restarts.append({"at": time.time(), "components": dead, "up_s": round(self.cluster_up(), 1)})

    def keep_logs(self) -> str:
        dest = Path(tempfile.mkdtemp(prefix="soak-logs-"))
        for sub in ("cluster/logs", "airflow/logs", "cluster/airflow/logs"):
            if (self.home / sub).is_dir():
                shutil.copytree(self.home / sub, dest / sub.replace("/", "-"), dirs_exist_ok=True)
        return str(dest)

    def stop(self) -> None:
        down = cli(["cluster", "down"], self.via_proxy, timeout=300) if (self.home / "cluster").exists() else None
        if down is not None and down.returncode != 0:
            say("cluster down: " + down.stderr[-1500:])
        self.emb.down(timeout=4)
        if self.proxy:
            self.proxy.stop()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.mounted)], capture_output=True)
        data = self.home / "cluster" / "postgres" / "data"
        if data.is_symlink():
            shutil.rmtree(data.resolve().parent, ignore_errors=True)

    def processes_left(self) -> list[int]:
        from signbridge import processes

        return [p for p, t in self.started.items() if processes.alive(p, t)]

    # ----------------------------------------------------------------- the faults
    def api(self):
        from signbridge.cluster.manager import Cluster
        from signbridge.settings import load_settings

        return Cluster(load_settings(env=self.via_proxy)).api()

    def running_task(self) -> dict | None:
        api = self.api()
        runs = [r for r in api.get(f"/dags/{DAG}/dagRuns?limit=20")["dag_runs"]
                if (r.get("conf") or {}).get("output") == f"{self.bucket}/soak" and r["state"] == "running"]
        for r in runs:
            for t in api.task_instances(DAG, r["dag_run_id"]):
                if t["state"] == "running" and (t.get("hostname") or "").startswith("worker"):
                    return t
        return None

    def fault(self, name: str) -> dict:
        from signbridge import processes

        rec: dict = {"fault": name, "injected_at": time.time()}
        if name == "kill_worker":
            t = self.victim_task
            victim = t["hostname"].split("@")[0] if t else "worker1"
            killed = processes.kill_tree(self.components()[victim]["pid"], signal.SIGKILL)
            rec["injected_at"] = time.time()
            rec["did"] = (f"SIGKILL to {victim} and its {len(killed) - 1} children while it ran "
                          f"{t['task_id'] if t else 'no task'}; `cluster up` started it again")
            rec["restart_s"] = self.cluster_up()
        elif name in ("kill_scheduler", "restart_redis", "restart_postgres"):
            comp = {"kill_scheduler": "scheduler", "restart_redis": "redis", "restart_postgres": "postgres"}[name]
            c = self.components()[comp]
            if name == "kill_scheduler":
                processes.kill_tree(c["pid"], signal.SIGKILL)
                rec["did"] = "SIGKILL to the scheduler; `cluster up` started it again"
            else:
                sig = signal.SIGINT if comp == "postgres" else signal.SIGTERM  # PostgreSQL's fast shutdown
                processes.stop(c["pid"], c.get("started"), sig=sig, grace=30)
                rec["did"] = f"{comp} stopped ({signal.Signals(sig).name}); `cluster up` started it again"
            rec["restart_s"] = self.cluster_up()
        elif name == "stop_store":
            self.emb.down(timeout=4)
            time.sleep(20)
            self.emb.up(timeout=90)
            self._note_pid(self.emb.status().pid)
            rec["did"] = "object store stopped for 20 s, then started again on the same data"
        elif name == "full_disk":
            if not self.mounted:
                rec["did"] = "not injected: no tmpfs could be mounted"
                rec["skipped"] = True
            else:
                filler = self.mounted / ".soak-filler"
                with open(filler, "wb") as f:
                    try:
                        for _ in range(4096):  # bounded: 4096 x 1 MB > the 256 MB mount
                            f.write(b"\0" * (1 << 20))
                            f.flush()
                    except OSError:
                        pass
                time.sleep(15)
                filler.unlink(missing_ok=True)
                rec["did"] = "the workers' scratch tmpfs (256 MB) full for 15 s"
        elif name == "slow_store":
            before = dict(self.proxy.counts)
            self.proxy.mode = "throttle"
            time.sleep(15)
            self.proxy.mode = "pass"
            got = {k: self.proxy.counts[k] - before[k] for k in ("slowdown", "stalled")}
            rec["did"] = (f"proxy answered 503 SlowDown to {got['slowdown']} requests and stalled "
                          f"{got['stalled']} by 2 s, for 15 s")
        elif name == "truncate_landmarks":
            rec.update(self.truncate_landmarks())
        rec["restored_at"] = time.time()
        return rec

    @staticmethod
    def _try(fn):
        try:
            return fn()
        except Exception:  # noqa: BLE001 - the API may be restarting
            return None

    def truncate_landmarks(self) -> dict:
        from signbridge.storage import open_store

        out = open_store(f"{self.bucket}/soak", self.emb.client_settings())

        def find():
            keys = {o.key for o in out.list()}
            return next((k for k in sorted(keys) if k.endswith("/landmarks.parquet")
                         and k.replace("landmarks.parquet", "gloss_track.json") not in keys), None)

        key = wait_until(lambda: self._try(find), 240)
        if not key:
            return {"did": "not injected: no landmarks object appeared", "skipped": True}
        data = out.get_bytes(key)
        out.put_bytes(key, data[: len(data) // 2])
        return {"did": f"{key} cut to {len(data) // 2} of {len(data)} bytes before recognition",
                "folder": key.split("/")[0], "injected_at": time.time()}

    def inject(self, done: threading.Event) -> None:
        order = [f for f in self.faults if f == "truncate_landmarks"] + \
                self.rng.sample([f for f in self.faults if f != "truncate_landmarks"],
                                len([f for f in self.faults if f != "truncate_landmarks"]))
        for name in order:
            if done.is_set():
                self.records.append({"fault": name, "did": "not injected: the run had ended", "skipped": True})
                continue
            if name != "truncate_landmarks":
                done.wait(self.rng.uniform(*self.gap))
            say(f"fault: {name}")
            try:
                if name == "kill_worker":  # waited for outside the lock: the supervisor may need to act meanwhile
                    self.victim_task = wait_until(lambda: self._try(self.running_task), 120, poll=1.0)
                with self.busy:
                    self.records.append(self.fault(name))
            except Exception as e:  # noqa: BLE001 - a fault that could not be injected is reported, not hidden
                self.records.append({"fault": name, "did": f"not injected: {type(e).__name__}: {e}", "skipped": True})
            say(f"fault: {name}: {self.records[-1].get('did')}")

    # ----------------------------------------------------------------- the runs
    def run(self, env: dict, output: str, inputs: list[str], celery: bool, timeout: float,
            during=None) -> tuple[dict | None, str, float]:
        cmd = [sys.executable, "-m", "signbridge.cli", "process", "--json", "--batch-seconds", "0.5", "-o", output,
               *(["--executor", "celery"] if celery else []), *inputs]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._note_pid(proc.pid)
        done = threading.Event()
        th = threading.Thread(target=during, args=(done,), daemon=True) if during else None
        sup = threading.Thread(target=self.supervise, args=(done,), daemon=True) if celery else None
        for t in (th, sup):
            if t:
                t.start()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            from signbridge import processes

            processes.stop(proc.pid, whole_tree=True, grace=10)
            out, err = proc.communicate()
            err += f"\n[soak] the run did not end within {timeout:.0f} s and was stopped"
        done.set()
        for t in (th, sup):
            if t:
                t.join(timeout=180)
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        return doc, err, time.monotonic() - t0


# --------------------------------------------------------------------- checking the outcome
def folders(store) -> dict[str, dict[str, bytes | None]]:
    """Result folder -> its object keys (inside the folder); run records and indexes left out."""
    out: dict[str, dict] = {}
    for o in store.list():
        top, _, rest = o.key.partition("/")
        if top in ("runs", "_index", "_review_queue") or not rest:
            continue
        out.setdefault(top, {})[rest] = None
    return out


def same_landmarks(a, b, key: str, tmp: Path) -> bool:
    """Byte-equal, or the same table and metadata but for ``chunk_seconds`` (as tests/test_cluster.py)."""
    from signbridge.contracts import read_landmarks_metadata
    from signbridge.extract import read_landmarks

    from signbridge.errors import SignBridgeError

    try:
        ta, tb = (read_landmarks(s.get_file(key, tmp / n / "l.parquet")) for s, n in ((a, "a"), (b, "b")))
    except SignBridgeError:  # unreadable: damaged
        return False
    if not ta.replace_schema_metadata(None).equals(tb.replace_schema_metadata(None)):
        return False
    ma, mb = ({k: v for k, v in read_landmarks_metadata(t).items() if k != "chunk_seconds"} for t in (ta, tb))
    return ma == mb


def check(soak: Soak, clean_doc: dict | None, doc: dict | None, tmp: Path) -> dict:
    from signbridge.storage import open_store

    s = soak.emb.client_settings()
    a, b = open_store(f"{soak.bucket}/clean", s), open_store(f"{soak.bucket}/soak", s)
    good = [c.name for c in soak.clips]
    clean = {Path(v["input_uri"]).name: v for v in (clean_doc or {}).get("manifest", {}).get("videos", [])}
    got = {Path(v["input_uri"]).name: v for v in (doc or {}).get("manifest", {}).get("videos", [])}
    fa, fb = folders(a), folders(b)
    corrupted, extra, problems, lost_clips = 0, [], [], set()
    folder_of = {}  # result folder -> clip, from the clean run's output URIs
    for name, c in clean.items():
        for uri in (c.get("outputs") or {}).values():
            folder_of[uri.rstrip("/").split("/")[-2]] = name
    for name in good:
        v, c = got.get(name), clean.get(name)
        if c is None:
            problems.append(f"{name}: not in the clean run's manifest")
        if v is None or v["status"] not in ("ok", "no_signing") or (c and v["status"] != c["status"]):
            lost_clips.add(name)
            problems.append(f"{name}: {v['status'] + ': ' + str(v.get('error')) if v else 'not in the manifest'}")
    missing = 0
    for folder, files in fa.items():
        mine = fb.get(folder, {})
        extra += [f"{folder}/{k}" for k in sorted(set(mine) - set(files))]
        for k in sorted(set(files) - {"result.json"}):
            if k not in mine:
                missing += 1
                lost_clips.add(folder_of.get(folder, folder))
                problems.append(f"{folder}/{k}: missing")
            elif a.child(folder).get_bytes(k) != b.child(folder).get_bytes(k):
                if not (k == "landmarks.parquet" and same_landmarks(a.child(folder), b.child(folder), k, tmp / folder)):
                    corrupted += 1
                    problems.append(f"{folder}/{k}: differs from the clean run")
    lost = len(lost_clips)
    extra += [f"{f}/*" for f in set(fb) - set(fa) if f != "_staging"] + [f"_staging/{k}" for k in fb.get("_staging", {})]
    broken_ok = [n for n, why in BROKEN.items() if got.get(n, {}).get("status") == "failed"
                 and why in (got.get(n, {}).get("error") or "")]
    for n in set(BROKEN) - set(broken_ok):
        problems.append(f"{n}: expected to fail with '{BROKEN[n]}', got {got.get(n, {}).get('status')}: "
                        f"{got.get(n, {}).get('error')}")
    repaired = sorted(Path(v["input_uri"]).name for v in got.values() if "found damaged" in (v.get("note") or ""))
    return {"clips": len(good), "clips_ok": sum(1 for n in good if got.get(n, {}).get("status") in ("ok", "no_signing")
                                                and got[n]["status"] == clean.get(n, {}).get("status")),
            "clips_failed_expected": len(broken_ok), "lost": lost, "missing_files": missing, "corrupted": corrupted,
            "duplicate_or_partial_objects": extra, "manifest_complete": set(got) == set(good) | set(BROKEN),
            "identical_to_clean": bool(clean) and lost == 0 and corrupted == 0 and not extra and len(fa) > 0,
            "repaired": repaired, "problems": problems[:30]}


def recovery(records: list[dict], doc: dict | None) -> None:
    """Per fault: seconds from injection to the first task that succeeded after the fault ended, and how
    many tasks were retried around it."""
    tasks = (doc or {}).get("tasks") or []
    for r in records:
        if r.get("skipped"):
            continue
        ends = [t["end"] for t in tasks if t.get("state") == "success" and t.get("end") and t["end"] > r["restored_at"]]
        r["recover_s"] = round(min(ends) - r["injected_at"], 1) if ends else None
        r["tasks_retried"] = sum(1 for t in tasks if (t.get("try_number") or 1) > 1 and t.get("start")
                                 and r["injected_at"] - 5 <= t["start"] <= r["restored_at"] + 90)


def table(report: dict) -> str:
    system = {"truncate_landmarks": "the recognize task found the size/sha256 mismatch, deleted the object, extracted "
                                    "the clip again and noted it in the manifest",
              "kill_worker": "the task was failed after the heartbeat timeout (20 s) and retried on a worker",
              "kill_scheduler": "running tasks went on; the restarted scheduler adopted them",
              "restart_redis": "workers reconnected; a task message lost with the broker was queued again",
              "restart_postgres": "components reconnected; the submitter waited out the API's 5xx answers",
              "stop_store": "S3 calls were retried (botocore backoff), then the tasks (Airflow retries)",
              "full_disk": "a step hitting ENOSPC failed its task (not the video); Airflow retried it",
              "slow_store": "botocore retried the SlowDown answers with backoff; stalled calls completed"}
    rows = ["| fault | what was done | what the system did | time to recover (s) | tasks retried | data lost |",
            "|---|---|---|---|---|---|"]
    finished = report.get("dag_state") == "success"
    for r in report["faults"]:
        done = system.get(r["fault"], "") if not r.get("skipped") else "—"
        if r["fault"] == "truncate_landmarks" and not r.get("skipped") and not report.get("repaired"):
            done = "not seen: the run ended before recognition" if not finished else "NOT recomputed"
        elif not finished and not r.get("skipped"):
            done = "not shown: the run did not finish (see below)"
        rec = "—" if r.get("recover_s") is None else f"{r['recover_s']:.0f}"
        rows.append(f"| {r['fault']} | {r.get('did', '')} | {done} | {rec} | {r.get('tasks_retried', '—')} | "
                    f"{report['lost']} clips lost, {report['corrupted']} files corrupted (whole run) |")
    o = report
    rows += ["", f"{o['clips']} clips + {len(BROKEN)} broken files, seed {o['seed']}, {o['faults_injected']} faults "
                 f"injected; {o['clips_ok']} clips ok as in the clean run, {o['clips_failed_expected']} broken files "
                 f"failed with their reason; lost {o['lost']}, corrupted {o['corrupted']}, duplicate or partial objects "
                 f"{len(o['duplicate_or_partial_objects'])}, identical to the clean run: "
                 f"{str(o['identical_to_clean']).lower()}, manifest complete: {str(o['manifest_complete']).lower()}, "
                 f"processes left: {o['processes_left']}; clean run {o['clean_s']:.0f} s, faulted run "
                 f"{o['soak_s']:.0f} s, machine: {o['machine']['cpus']} cores (load {o['machine']['load_avg'][0]:.1f})."]
    return "\n".join(rows)


def write_docs(text: str) -> None:
    p = REPO / "docs" / "reliability.md"
    doc = p.read_text()
    i, j = doc.index(DOC_BEGIN) + len(DOC_BEGIN), doc.index(DOC_END)
    p.write_text(doc[:i] + "\n" + text + "\n" + doc[j:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, help="good clips (default 60; 6 with --quick)")
    ap.add_argument("--quick", action="store_true", help="6 clips and 4 faults (the suite's version)")
    ap.add_argument("--faults", help=f"comma-separated subset of: {','.join(ALL_FAULTS)}")
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--results", help="where to write the JSON (default benchmarks/results/soak[_quick].json)")
    ap.add_argument("--docs", action="store_true", help="write the table into docs/reliability.md")
    ap.add_argument("--table-from", metavar="JSON", help="only print (and with --docs write) the table of a results file")
    args = ap.parse_args(argv)
    if args.table_from:
        text = table(json.loads(Path(args.table_from).read_text()))
        if args.docs:
            write_docs(text)
        print(text)
        return 0
    n = args.clips or (6 if args.quick else 60)
    faults = args.faults.split(",") if args.faults else (QUICK_FAULTS if args.quick else ALL_FAULTS)
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        ap.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    pool = sorted((DATA / "wlasl_clips").glob("*.mp4"))
    if len(pool) < n:
        print(f"need {n} clips in {DATA / 'wlasl_clips'}, found {len(pool)}", file=sys.stderr)
        return 2
    from signbridge.bench import machine_info, write_results

    soak = Soak(pool[:n], faults, args.seed, (2.0, 5.0) if args.quick else (15.0, 30.0))
    bad = soak.root / "bad"
    bad.mkdir()
    (bad / "notes.mp4").write_text("these are notes, not a video\n")
    (bad / "cut.mp4").write_bytes((DATA / "wlasl_clips" / "17356.mp4").read_bytes()[:20000])
    (bad / "noise.mp4").write_bytes(random.Random(args.seed).randbytes(4000))
    inputs = [str(c) for c in soak.clips] + [str(bad / b) for b in BROKEN]
    report: dict = {"seed": args.seed, "quick": args.quick, "faults_planned": faults}
    t_all = time.monotonic()
    try:
        soak.start_store()
        say(f"clean embedded run of {n} clips, while the cluster starts")
        clean_env = dict(soak.direct, SIGNBRIDGE_HOME=str(soak.root / "clean-home"))
        clean: list = []
        th = threading.Thread(target=lambda: clean.append(soak.run(clean_env, f"{soak.bucket}/clean",
                                                                   [str(c) for c in soak.clips], False, 1800)))
        th.start()
        try:
            soak.start_cluster()
        finally:
            th.join()
        clean_doc, clean_err, report["clean_s"] = clean[0]
        if clean_doc is None:
            raise RuntimeError("the clean run failed: " + clean_err[-3000:])
        say(f"faulted run through the cluster ({len(faults)} faults)")
        doc, err, report["soak_s"] = soak.run(soak.via_proxy, f"{soak.bucket}/soak", inputs, True,
                                              300 if args.quick and not args.faults else 3600, during=soak.inject)
        if doc is None:
            report["run_error"] = err[-3000:]
        recovery(soak.records, doc)
        report["dag_state"] = (doc or {}).get("dag_state")
        report.update(check(soak, clean_doc, doc, soak.root / "cmp"))
        if doc is None or report["lost"] or report["corrupted"]:
            report["logs_kept"] = soak.keep_logs()
    finally:
        soak.stop()
        report["processes_left"] = len(soak.processes_left())
        shutil.rmtree(soak.root, ignore_errors=True)
    report["faults"] = soak.records
    report["supervisor_restarts"] = soak.restarts
    report["faults_injected"] = sum(1 for r in soak.records if not r.get("skipped"))
    report["proxy_counts"] = dict(soak.proxy.counts) if soak.proxy else {}
    report["seconds"] = round(time.monotonic() - t_all, 1)
    report["machine"] = machine_info()
    write_results(args.results or REPO / "benchmarks" / "results" / ("soak_quick.json" if args.quick else "soak.json"),
                  report)
    text = table(report)
    if args.docs:
        write_docs(text)
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(text)
    ok = report["lost"] == 0 and report["corrupted"] == 0 and report["identical_to_clean"] \
        and report["processes_left"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
