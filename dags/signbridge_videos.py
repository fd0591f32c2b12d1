"""SignBridge: uploaded sign-language videos -> landmarks, gloss tracks, English, captions, narration, MP4.

Wiring only: every task calls :mod:`signbridge.orchestrate.tasks` (imported inside the task, so
parsing this file loads no torch/mediapipe/boto3), which calls the same pipeline steps as
``signbridge run``. Two DAGs live here:

* ``signbridge_videos`` runs when the uploads asset is updated, or by hand with params. Its last task,
  ``publish``, updates the ``signbridge_results`` asset (the event's extra: run id, manifest, report,
  counts), so a downstream DAG can be scheduled on new results.
* ``signbridge_uploads_sensor`` checks the uploads prefix every few minutes and updates that asset
  when it holds videos no run has finished, which triggers ``signbridge_videos``.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, PokeReturnValue, dag, task

from signbridge.settings import STAGE_OPTIONS, load_settings, param_schema

_S = load_settings()  # only for defaults shown in the UI and the asset URI; tasks read their own environment
UPLOADS = Asset(name="signbridge_uploads", uri=_S.uploads if "://" in _S.uploads else f"file://{_S.uploads}")
# named, not located: the results' place varies by run (-o, SIGNBRIDGE_OUTPUT) and is in each event's extra; a URI
# from this parse's settings would make another asset of the same name whenever that setting differs
RESULTS = Asset(name="signbridge_results")

DEFAULT_ARGS = {
    "owner": "signbridge",
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


def _opt(type_: str, description: str, **kw) -> Param:
    return Param(None, type=["null", type_], description=description, **kw)


PARAMS = {
    "input": _opt("string", "Prefix or folder to process (s3://bucket/prefix or a path). Empty: SIGNBRIDGE_UPLOADS."),
    "inputs": Param([], type="array", items={"type": "string"},
                    description="Explicit video URIs (used by `signbridge process`); overrides input."),
    "output": _opt("string", "Where results go. Empty: SIGNBRIDGE_OUTPUT."),
    "run_id": _opt("string", "Name of the run record under <output>/runs/. Empty: from the Airflow run id."),
    "batch_seconds": _opt("number", "Seconds of short video packed into one extraction task.", exclusiveMinimum=0),
    "videos_per_batch": Param(64, type="integer", minimum=1, description="Videos per recognise/speak/mux task."),
    # per-stage options: one per row of the settings table marked option=True
    **{s.name: Param(None, **param_schema(s)) for s in STAGE_OPTIONS},
}


@dag(
    dag_id="signbridge_videos",
    description="Sign-language videos to captioned, narrated MP4s (landmarks, glosses, English, TTS, mux)",
    schedule=[UPLOADS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["signbridge"],
    doc_md=__doc__,
)
def signbridge_videos():
    @task(queue="default", multiple_outputs=False)
    def discover(**context) -> list:
        from signbridge.orchestrate import tasks

        return tasks.discover(context["params"], context["run_id"])

    @task(queue="extract", max_active_tis_per_dagrun=16, multiple_outputs=False)
    def extract(unit: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.extract(unit, context["params"])

    @task(queue="default", trigger_rule="all_done", multiple_outputs=False)
    def assemble(_units=None, _extracted=None, **context) -> list:
        from signbridge.orchestrate import tasks

        return tasks.assemble(context["params"], context["run_id"])

    @task(queue="gpu", pool="gpu", multiple_outputs=False)
    def recognize(batch: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.recognize(batch, context["params"])

    @task(queue="gpu", pool="gpu", trigger_rule="all_done", multiple_outputs=False)
    def compose(_recognized=None, **context) -> list:
        from signbridge.orchestrate import tasks

        return tasks.compose(context["params"], context["run_id"])

    @task(queue="tts", multiple_outputs=False)
    def speak(batch: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.speak(batch, context["params"])

    @task(queue="default", multiple_outputs=False)
    def mux(batch: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.mux(batch, context["params"])

    @task(queue="default", trigger_rule="all_done", retries=3, multiple_outputs=False, outlets=[RESULTS])
    def publish(_muxed=None, **context) -> dict:
        from signbridge.orchestrate import tasks

        out = tasks.publish(context["params"], context["run_id"])
        context["outlet_events"][RESULTS].extra = out
        return out

    # XCom carries unit/batch references only; the states live in <output>/runs/<run_id>/state/
    units = discover()
    extracted = extract.expand(unit=units)
    batches = assemble(units, extracted)
    recognized = recognize.expand(batch=batches)
    composed = compose(recognized)
    spoken = speak.expand(batch=composed)
    muxed = mux.expand(batch=spoken)
    publish(muxed)


@dag(
    dag_id="signbridge_uploads_sensor",
    description="Updates the uploads asset when the uploads prefix holds videos no run has finished",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"input": PARAMS["input"], "output": PARAMS["output"]},
    tags=["signbridge"],
)
def signbridge_uploads_sensor():
    @task.sensor(poke_interval=60, timeout=240, mode="reschedule", soft_fail=True)
    def new_uploads(**context) -> PokeReturnValue:
        from signbridge.orchestrate import tasks

        found = tasks.any_new_uploads(context["params"])
        return PokeReturnValue(is_done=found["new"] > 0, xcom_value=found)

    @task(outlets=[UPLOADS], multiple_outputs=False)
    def announce(found: dict) -> dict:
        return found

    announce(new_uploads())


signbridge_videos()
signbridge_uploads_sensor()
