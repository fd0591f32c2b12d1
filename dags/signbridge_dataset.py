"""SignBridge dataset: labelled videos -> hive-partitioned landmark Parquet dataset with a dataset card.

For data teams. Give a labels CSV (local path or s3://) whose rows name a video file and its label;
videos are looked up beside it or under ``videos_root``. The output holds
``data/label=<label>/<video_id>.parquet``, ``videos.parquet``, ``dataset.json`` and ``README.md``
(see ``signbridge dataset build --help``, the same code). Wiring only; nothing heavy at parse time.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="signbridge_dataset",
    description="Build a landmark dataset (Parquet + card) from a prefix of labelled videos",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "signbridge", "retries": 1, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": 2.0},
    params={
        "labels": Param("s3://signbridge/datasets/in/labels.csv", type="string",
                        description="Labels CSV (s3://... or a path) with a file column and a label column."),
        "videos_root": Param(None, type=["null", "string"],
                             description="Where the files named in the CSV are. Empty: the CSV's folder."),
        "output": Param("s3://signbridge/datasets/out", type="string", description="Dataset destination."),
        "name": Param(None, type=["null", "string"], description="Dataset name for the card."),
        "file_column": Param(None, type=["null", "string"], description="CSV column naming the video file."),
        "label_column": Param(None, type=["null", "string"], description="CSV column holding the label."),
        "workers": Param(None, type=["null", "integer"], minimum=1, description="Extraction processes."),
        "fps": Param(None, type=["null", "number"], minimum=0, description="Frames per second sampled."),
        "max_side": Param(None, type=["null", "integer"], minimum=64, description="Longer frame side."),
        "face": Param(None, type=["null", "string"], enum=[None, "full", "reduced", "none"],
                      description="Face landmarks kept."),
    },
    tags=["signbridge"],
    doc_md=__doc__,
)
def signbridge_dataset():
    @task(queue="default", multiple_outputs=False)
    def check_labels(**context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.check_labels(context["params"])

    @task(queue="extract", multiple_outputs=False, execution_timeout=timedelta(hours=12))
    def build(checked: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.build_dataset(context["params"])

    build(check_labels())


signbridge_dataset()
