"""SignBridge dataset: labelled videos -> landmark Parquet dataset with splits and a Hugging Face card.

For data teams. Give a labels CSV (local path or s3://) whose rows name a video file and its label
(and, for signer-disjoint splits, its signer); videos are looked up beside it or under ``videos_root``.
The output holds ``data/<split>/<video_id>.parquet``, ``videos/<split>.parquet``, ``dataset.json`` and
``README.md`` (see ``signbridge dataset build --help``, the same code). A finished build updates the
``signbridge_datasets`` asset (its event's extra says where the dataset is and what it holds), so a
training DAG can be scheduled on it. Wiring only; nothing heavy at parse time.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from signbridge.settings import DATASET_OPTIONS, param_schema

DEFAULT_OUTPUT = "s3://signbridge/datasets/out"
DATASETS = Asset(name="signbridge_datasets")  # where each dataset is: its event's extra (`output`, `card`)


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
        "output": Param(DEFAULT_OUTPUT, type="string", description="Dataset destination."),
        "name": Param(None, type=["null", "string"], description="Dataset name for the card."),
        "file_column": Param(None, type=["null", "string"], description="CSV column naming the video file."),
        "label_column": Param(None, type=["null", "string"], description="CSV column holding the label."),
        "signer_column": Param(None, type=["null", "string"],
                               description="CSV column naming the signer (signer-disjoint splits). Empty: found "
                                           "by name (signer, participant_id, ...) if there is one."),
        # extraction and split options: one per row of the settings table marked dataset=True
        **{s.name: Param(None, **param_schema(s)) for s in DATASET_OPTIONS},
    },
    tags=["signbridge"],
    doc_md=__doc__,
)
def signbridge_dataset():
    @task(queue="default", multiple_outputs=False)
    def check_labels(**context) -> dict:
        from signbridge.orchestrate import tasks

        return tasks.check_labels(context["params"])

    @task(queue="extract", multiple_outputs=False, execution_timeout=timedelta(hours=12), outlets=[DATASETS])
    def build(checked: dict, **context) -> dict:
        from signbridge.orchestrate import tasks

        out = tasks.build_dataset(context["params"])
        context["outlet_events"][DATASETS].extra = out
        return out

    build(check_labels())


signbridge_dataset()
