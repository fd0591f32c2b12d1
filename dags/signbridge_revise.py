"""SignBridge: re-render reviewed videos (captions, narration, video) from their newest revision.

Wiring only: every task calls :mod:`signbridge.review.tasks` (imported inside the task). Two DAGs:

* ``signbridge_revise`` runs when the reviews asset is updated, or by hand with ``folders`` (result
  folder names under ``output``); each video is re-rendered by the same function as
  ``signbridge revise`` and the review page's "Render" button, redoing only the sentences that changed.
* ``signbridge_reviews_sensor`` checks the review queue (``<output>/_review_queue/``, where the review
  page puts each saved video) every few minutes and updates the reviews asset when it is not empty.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, PokeReturnValue, dag, task

from signbridge.settings import load_settings

_S = load_settings()  # only for defaults shown in the UI and the asset URI; tasks read their own environment
_QUEUE = _S.output.rstrip("/") + "/_review_queue"
REVIEWS = Asset(name="signbridge_reviews", uri=_QUEUE if "://" in _QUEUE else f"file://{_QUEUE}")

DEFAULT_ARGS = {
    "owner": "signbridge",
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}
PARAMS = {
    "output": Param(None, type=["null", "string"], description="Results root. Empty: SIGNBRIDGE_OUTPUT."),
    "folders": Param([], type="array", items={"type": "string"},
                     description="Result folders (<sha256[:16]>-<settings hash>) to re-render. Empty: the queue."),
}


@dag(
    dag_id="signbridge_revise",
    description="Re-render reviewed videos: recompose, re-caption, re-narrate and re-mux only what changed",
    schedule=[REVIEWS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["signbridge"],
    doc_md=__doc__,
)
def signbridge_revise():
    @task(queue="default", multiple_outputs=False)
    def pending(**context) -> list:
        from signbridge.review import tasks

        return tasks.pending(context["params"])

    @task(queue="default", max_active_tis_per_dagrun=4, multiple_outputs=False)
    def revise(vid: str, **context) -> dict:
        from signbridge.review import tasks

        return tasks.revise_video(vid, context["params"])

    @task(queue="default", trigger_rule="all_done", multiple_outputs=False)
    def summary(outcomes: list, **context) -> dict:
        from signbridge.review import tasks

        return tasks.summary(list(outcomes or []))

    summary(revise.expand(vid=pending()))


@dag(
    dag_id="signbridge_reviews_sensor",
    description="Updates the reviews asset when saved reviews wait to be rendered",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"output": PARAMS["output"]},
    tags=["signbridge"],
)
def signbridge_reviews_sensor():
    @task.sensor(poke_interval=60, timeout=240, mode="reschedule", soft_fail=True)
    def queued_reviews(**context) -> PokeReturnValue:
        from signbridge.review import tasks

        found = tasks.any_queued(context["params"])
        return PokeReturnValue(is_done=found["queued"] > 0, xcom_value=found)

    @task(outlets=[REVIEWS], multiple_outputs=False)
    def announce(found: dict) -> dict:
        return found

    announce(queued_reviews())


signbridge_revise()
signbridge_reviews_sensor()
