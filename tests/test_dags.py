"""DAG integrity: the dags/ folder loads in a real Airflow DagBag with no import errors or cycles,
the expected tasks, params, pools and mapping, and parses without importing anything heavy.

The DagBag runs in a child process with its own AIRFLOW_HOME (Airflow reads its configuration
at import), which reports what it found as JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
import_s = time.perf_counter() - t0
before = set(sys.modules)
t1 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
parse_s = time.perf_counter() - t1
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}, "parse_s": parse_s,
       "new_modules": sorted({m.split(".")[0] for m in set(sys.modules) - before})}
for dag_id, dag in bag.dags.items():
    dag.check_cycle()
    tasks = {}
    for t in dag.tasks:
        tasks[t.task_id] = {
            "upstream": sorted(t.upstream_task_ids), "pool": t.pool, "queue": t.queue,
            "retries": t.retries, "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)), "mapped": type(t).__name__ == "MappedOperator"
                or bool(getattr(t, "is_mapped", False)),
            "backoff": getattr(t, "retry_exponential_backoff", None),
            "outlets": [getattr(o, "name", str(o)) for o in (getattr(t, "outlets", None) or [])],
        }
    out["dags"][dag_id] = {"tasks": tasks, "params": sorted(dag.params.keys()),
                           "timetable": type(dag.timetable).__name__,
                           "asset": str(getattr(dag.timetable, "asset_condition", ""))}
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def bag(repo_root, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(repo_root / "dags"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "SIGNBRIDGE_HOME": str(home / "sb")})
    res = subprocess.run([sys.executable, "-c", PROBE, str(repo_root / "dags")], env=env, capture_output=True,
                         text=True, timeout=300)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert res.returncode == 0 and line, f"DagBag probe failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return json.loads(line[len("RESULT"):])


def test_no_import_errors_and_expected_dags(bag):
    assert bag["errors"] == {}
    assert set(bag["dags"]) == {"signbridge_videos", "signbridge_dataset", "signbridge_uploads_sensor",
                                "signbridge_revise", "signbridge_reviews_sensor"}


def test_dag_files_import_nothing_heavy(bag):
    heavy = {"torch", "mediapipe", "cv2", "transformers", "boto3", "botocore", "pyarrow", "matplotlib", "piper",
             "onnxruntime", "numpy", "sklearn", "pandas"}
    assert heavy.isdisjoint(bag["new_modules"]), sorted(heavy & set(bag["new_modules"]))


def test_videos_dag_shape(bag):
    d = bag["dags"]["signbridge_videos"]
    t = d["tasks"]
    assert set(t) == {"discover", "extract", "assemble", "recognize", "compose", "speak", "mux", "publish"}
    # the chain discover -> extract -> assemble -> recognise -> compose -> speak -> mux -> publish
    assert t["extract"]["upstream"] == ["discover"]
    assert set(t["assemble"]["upstream"]) == {"discover", "extract"}
    assert t["recognize"]["upstream"] == ["assemble"]
    assert t["compose"]["upstream"] == ["recognize"]
    assert t["speak"]["upstream"] == ["compose"]
    assert t["mux"]["upstream"] == ["speak"]
    assert t["publish"]["upstream"] == ["mux"]
    # dynamic mapping where the work is, GPU pool for recognition and composition
    assert {k for k, v in t.items() if v["mapped"]} == {"extract", "recognize", "speak", "mux"}
    assert t["recognize"]["pool"] == "gpu" and t["compose"]["pool"] == "gpu"
    # retries with backoff everywhere; the collecting steps run even when some mapped tasks failed
    assert all(v["retries"] >= 2 and v["backoff"] for v in t.values())
    for name in ("assemble", "compose", "publish"):
        assert t[name]["trigger_rule"] == "all_done", name
    from signbridge.orchestrate.tasks import RUN_SETTINGS
    from signbridge.settings import STAGE_OPTIONS

    # the DAG's params are the run's own plus exactly the settings table's stage options
    run_params = {"input", "inputs", "run_id", "videos_per_batch", *RUN_SETTINGS} - {"uploads"}
    assert set(d["params"]) == run_params | {s.name for s in STAGE_OPTIONS}
    # triggered by the uploads asset (updated by the sensor DAG); publish updates the results asset
    assert d["timetable"] == "AssetTriggeredTimetable" and "signbridge_uploads" in d["asset"]
    assert {k: v["outlets"] for k, v in t.items() if v["outlets"]} == {"publish": ["signbridge_results"]}


def test_sensor_and_dataset_dags(bag):
    s = bag["dags"]["signbridge_uploads_sensor"]["tasks"]
    assert set(s) == {"new_uploads", "announce"} and s["announce"]["upstream"] == ["new_uploads"]
    ds = bag["dags"]["signbridge_dataset"]
    assert set(ds["tasks"]) == {"check_labels", "build"}
    assert ds["tasks"]["build"]["upstream"] == ["check_labels"]
    from signbridge.settings import DATASET_OPTIONS

    # the DAG's own params plus exactly the settings table's dataset options (none copied by hand)
    own = {"labels", "output", "videos_root", "name", "file_column", "label_column", "signer_column"}
    assert set(ds["params"]) == own | {s.name for s in DATASET_OPTIONS}
    assert {"fps", "max_side", "face", "workers", "dataset_validation", "dataset_test"} <= set(ds["params"])
    assert {k: v["outlets"] for k, v in ds["tasks"].items() if v["outlets"]} == {"build": ["signbridge_datasets"]}


def test_revise_dags(bag):
    d = bag["dags"]["signbridge_revise"]
    t = d["tasks"]
    assert set(t) == {"pending", "revise", "summary"}
    assert t["revise"]["upstream"] == ["pending"] and t["revise"]["mapped"]
    assert t["summary"]["upstream"] == ["revise"] and t["summary"]["trigger_rule"] == "all_done"
    assert all(v["retries"] >= 2 and v["backoff"] for v in t.values())
    assert {"output", "folders"} <= set(d["params"])
    assert d["timetable"] == "AssetTriggeredTimetable" and "signbridge_reviews" in d["asset"]
    s = bag["dags"]["signbridge_reviews_sensor"]["tasks"]
    assert set(s) == {"queued_reviews", "announce"} and s["announce"]["upstream"] == ["queued_reviews"]


def test_dag_files_only_wire(repo_root):
    """Stage logic lives in signbridge/; DAG files import it inside tasks, never at module level."""
    for f in (repo_root / "dags").glob("*.py"):
        top = [ln for ln in Path(f).read_text().splitlines() if ln.startswith(("import ", "from "))]
        assert all(not ln.startswith(("from signbridge.orchestrate", "import signbridge.orchestrate",
                                      "from signbridge.extract", "from signbridge.recognize",
                                      "from signbridge.review")) for ln in top), f


def test_every_queue_has_a_worker(bag, repo_root):
    """The cluster files serve what the DAGs ask for: each queue has a Compose worker and a K8s pod shape,
    and every image the Compose file builds has its Dockerfile."""
    import importlib.util

    import yaml

    queues = {t["queue"] for d in bag["dags"].values() for t in d["tasks"].values()}
    compose = yaml.safe_load((repo_root / "containers" / "docker-compose.yml").read_text())
    served: set[str] = set()
    for name, svc in compose["services"].items():
        cmd = svc.get("command") or []
        if isinstance(cmd, list) and cmd[:2] == ["celery", "worker"]:
            served |= set(cmd[cmd.index("--queues") + 1].split(","))
        build = svc.get("build")
        if isinstance(build, dict):
            assert (repo_root / build["dockerfile"]).is_file(), (name, build["dockerfile"])
    assert queues <= served, queues - served
    spec = importlib.util.spec_from_file_location("policy", repo_root / "containers/k8s/airflow_local_settings.py")
    policy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(policy)
    assert queues <= set(policy.PODS), queues - set(policy.PODS)
    assert "nvidia.com/gpu" in policy.PODS["gpu"][2]


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory) -> Path:
    """One SignBridge home whose Airflow database is migrated, shared by the tests that run DAGs."""
    from signbridge.orchestrate.airflow_env import airflow_env, migrate
    from signbridge.settings import load_settings

    home = tmp_path_factory.mktemp("sbhome")
    migrate(airflow_env(load_settings(env={}, home=str(home))))
    return home


def test_dataset_dag_runs_and_announces_the_dataset(shared_data, migrated_home, tmp_path):
    """The dataset DAG end to end in real Airflow (dag.test): labels CSV + clips -> labelled dataset; the build
    task emits a ``signbridge_datasets`` asset event saying where it is; the runner's progress file holds the
    task states it read through the ORM."""
    import pyarrow.dataset as ds

    from signbridge.orchestrate.airflow_env import airflow_env
    from signbridge.settings import load_settings

    labels = tmp_path / "labels.csv"
    labels.write_text("file,gloss\n01377.mp4,afraid\n62746.mp4,week\n")
    env = airflow_env(load_settings(env={}, home=str(migrated_home)))
    conf, result, progress = tmp_path / "conf.json", tmp_path / "result.json", tmp_path / "tasks.json"
    out = tmp_path / "dataset"
    conf.write_text(json.dumps({"labels": str(labels), "videos_root": str(shared_data / "wlasl_clips"),
                                "output": str(out), "workers": 1, "name": "two-clips", "run_id": "ds-1"}))
    res = subprocess.run([sys.executable, "-m", "signbridge.orchestrate.runner", "signbridge_dataset", "--conf",
                          str(conf), "--result", str(result), "--progress", str(progress)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(result.read_text())
    assert doc["state"] == "success", doc
    assert {t["task_id"]: t["state"] for t in doc["tasks"]} == {"check_labels": "success", "build": "success"}
    card = json.loads((out / "dataset.json").read_text())
    assert card["name"] == "two-clips" and card["counts"]["videos"] == 2
    t = ds.dataset(out / "data").to_table(columns=["label", "split"])
    assert set(t.column("label").to_pylist()) == {"afraid", "week"} and set(t.column("split").to_pylist()) == {"train"}
    events = doc["asset_events"]
    assert [(e["asset"], e["task_id"]) for e in events] == [("signbridge_datasets", "build")], events
    extra = events[0]["extra"]
    assert extra["output"] == str(out) and extra["card"] == f"{out}/dataset.json" and extra["splits"] == {"train": 2}
    assert extra["counts"]["videos"] == 2
    assert json.loads(progress.read_text())["tasks"] == doc["tasks"]


def test_videos_dag_announces_results_and_progress_shows_the_running_stage(shared_data, migrated_home, tmp_path):
    """`signbridge process` on one clip (local folders, no S3): publish emits a ``signbridge_results`` asset
    event naming the run and its manifest, and the live progress lines name the stage running at the time,
    from the task states the runner reads through Airflow's ORM."""
    clip = tmp_path / "in" / "01377.mp4"
    clip.parent.mkdir()
    clip.write_bytes((shared_data / "wlasl_clips" / "01377.mp4").read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(migrated_home), "SIGNBRIDGE_UPLOADS": str(tmp_path / "uploads"),
                "SIGNBRIDGE_OUTPUT": str(tmp_path / "out"), "SIGNBRIDGE_RESULTS": "none",
                "SIGNBRIDGE_TTS": "espeak"})
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "process", "--json", str(clip)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    run_id = doc["manifest"]["run_id"]
    events = doc["asset_events"]
    assert [(e["asset"], e["task_id"]) for e in events] == [("signbridge_results", "publish")], events
    extra = events[0]["extra"]
    assert extra["run_id"] == run_id and extra["output"] == str(tmp_path / "out")
    assert extra["manifest"] == doc["manifest_uri"] and extra["counts"] == {"ok": 1}
    import re

    stages = re.findall(r"now: (?:after )?(discover|extract|recognize|compose|speak|mux)\b", res.stderr)
    assert stages, res.stderr[-3000:]  # seen while the run went on, not only at its end
