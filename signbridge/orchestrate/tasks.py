"""Task callables of the ``signbridge_videos`` DAG: URIs and small JSON in, URIs and small JSON out.

Each callable loads the states it works on from the run's state files in the output store
(``<output>/runs/<run_id>/state/<stage>/...``), calls the matching :mod:`signbridge.pipeline`
step (the same code ``signbridge run`` uses), saves the updated states and returns a small
reference. State files are read by known keys, not from XCom lists, so a failed mapped task
is noticed by its missing file and reported per video instead of breaking the rest of the run.
Everything is idempotent: a retried or repeated task rewrites the same keys.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Sequence

from signbridge.pipeline import (RUNS, Context, VideoState, assemble_chunks, compose_videos, extract_chunk,
                                 extract_videos, finish_videos, folder_for, group_batches, list_inputs, lookup_done,
                                 measure_durations, mux_videos, plan_units, recognize_videos, safe_run_id,
                                 speak_videos, write_run_record)
from signbridge.errors import StorageError
from signbridge.orchestrate.failures import fail_fast
from signbridge.settings import DATASET_OPTIONS, STAGE_OPTIONS, Settings, load_settings
from signbridge.testhooks import sync_point

log = logging.getLogger(__name__)

RUN_SETTINGS = ("output", "uploads", "batch_seconds")  # DAG params that are settings but not stage options
DEFAULT_VIDEOS_PER_BATCH = 64
STAGE_ORDER = ("assemble", "recognize", "compose", "speak", "mux")


def settings_for(params: Mapping[str, Any] | None, options=STAGE_OPTIONS) -> Settings:
    """The worker's settings, overridden by the run's params (empty: not given). Only the DAG's options
    (``options``: rows of the settings table) and where the run reads and writes: a run's conf never
    reaches credentials or the home folder."""
    names = {s.name for s in options} | set(RUN_SETTINGS)
    return load_settings(**{k: v for k, v in (params or {}).items() if k in names and v not in (None, "")})


def _context(params: Mapping[str, Any] | None, run_id: str, fp: str | None = None) -> Context:
    """The run's context; the settings hash is the one discover fixed in the plan, so every worker
    names result folders alike even if its environment differs."""
    s = settings_for(params)
    ctx = Context(s, (params or {}).get("output") or s.output, fp=fp or "pending", run_id=run_id)
    if not fp:
        run = ctx.run_store()
        ctx.fp = ctx.get_json(run, "plan.json")["fingerprint"] if run.exists("plan.json") else None
        if ctx.fp is None:
            ctx.close()
            raise StorageError(f"run {run_id} has no plan", source=run.uri("plan.json"), permanent=True,
                               hint="the discover task of this run did not finish; see its log")
    return ctx


def _state_key(stage: str, n: int) -> str:
    return f"state/{stage}/{'u' if stage == 'extract' else 'b'}{n:05d}.json"


def _save(ctx: Context, stage: str, n: int, payload: Any) -> str:
    return ctx.put_json(ctx.run_store(), _state_key(stage, n), payload)


def _load(ctx: Context, stage: str, n: int) -> Any | None:
    run = ctx.run_store()
    key = _state_key(stage, n)
    return ctx.get_json(run, key) if run.exists(key) else None


def _plan(ctx: Context) -> dict:
    return ctx.get_json(ctx.run_store(), "plan.json")


def _states(docs: Sequence[dict]) -> list[VideoState]:
    return [VideoState.from_dict(d) for d in docs]


def _counts(states: Sequence[VideoState]) -> dict[str, int]:
    out: dict[str, int] = {}
    for st in states:
        out[st.status] = out.get(st.status, 0) + 1
    return out


# ------------------------------------------------------------------------------ tasks
def run_id_for(params: Mapping[str, Any], airflow_run_id: str) -> str:
    """The run record's name: given in the params, else the Airflow run id (every task derives the same)."""
    return safe_run_id(params.get("run_id") or airflow_run_id)


def discover(params: Mapping[str, Any], airflow_run_id: str) -> list[dict[str, Any]]:
    """List the inputs, skip finished videos, measure durations, plan extraction units (the returned list)."""
    s = settings_for(params)
    run_id = run_id_for(params, airflow_run_id)
    inputs = list(params.get("inputs") or []) or [params.get("input") or s.uploads]
    with Context(s, params.get("output") or s.output, run_id=run_id) as ctx:
        states, bad = list_inputs(inputs, s)
        lookup_done(states, ctx)
        measure_durations(states, ctx)
        per_batch = int(params.get("videos_per_batch") or DEFAULT_VIDEOS_PER_BATCH)
        units = plan_units(states, s, batch_seconds=params.get("batch_seconds"), max_videos=per_batch)
        plan = {"run_id": run_id, "fingerprint": ctx.fp, "output": ctx.output_uri, "inputs": inputs,
                "videos_per_batch": per_batch, "videos": [st.to_dict() for st in states + bad], "units": units}
        uri = ctx.put_json(ctx.run_store(), "plan.json", plan)
        videos = {st.index: st.to_dict() for st in states}
        for k, u in enumerate(units):  # each extract task reads only its own unit, not the whole plan
            ids = [u["video"]] if "chunk" in u else u["videos"]
            ctx.put_json(ctx.run_store(), f"units/u{k:05d}.json", {"unit": u, "videos": [videos[i] for i in ids]})
        counts = _counts(states + bad)
        log.info("run %s: %d inputs (%s), %d extraction units -> %s", run_id, len(states) + len(bad), counts,
                 len(units), uri)
        return [{"run_id": run_id, "fingerprint": ctx.fp, "unit": k, **_unit_label(u)} for k, u in enumerate(units)]


def _unit_label(u: dict) -> dict:
    if "chunk" in u:
        return {"video": u["video"], "chunk": u["chunk"], "of": u["of"], "seconds": u["seconds"]}
    return {"videos": len(u["videos"]), "seconds": u["seconds"]}


def unit_workers() -> int | None:
    """Graph processes for an extraction unit's videos. Under an executor, tasks run side by side (one
    core each: more would oversubscribe); in an inline run (``dag.test``, one task at a time) the unit
    may use every core (``SIGNBRIDGE_WORKERS``, default all)."""
    from signbridge.orchestrate.runner import INLINE_ENV

    return None if os.environ.get(INLINE_ENV) == "1" else 1


def extract(unit: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """One extraction unit: a pack of short videos, or one chunk of a long one."""
    sync_point("extract")
    with _context(params, unit["run_id"], unit.get("fingerprint")) as ctx:
        doc = ctx.get_json(ctx.run_store(), f"units/u{unit['unit']:05d}.json")
        u = doc["unit"]
        videos = {d["index"]: d for d in doc["videos"]}
        if "chunk" in u:
            st = VideoState.from_dict(videos[u["video"]])
            payload: Any = {"chunk": extract_chunk(st, u["chunk"], u["of"], ctx)}
            status = payload["chunk"]["status"]
            counts = {status: 1}
        else:
            states = _states([videos[i] for i in u["videos"]])
            extract_videos(states, ctx, workers=unit_workers())
            payload = {"videos": [st.to_dict() for st in states]}
            counts = _counts(states)
        uri = _save(ctx, "extract", unit["unit"], payload)
        return {"run_id": unit["run_id"], "fingerprint": ctx.fp, "unit": unit["unit"], "state": uri, "counts": counts}


def assemble(params: Mapping[str, Any], airflow_run_id: str) -> list[dict[str, Any]]:
    """Collect extraction results (merging long videos' chunks) and regroup videos into batches."""
    run_id = run_id_for(params, airflow_run_id)
    with _context(params, run_id) as ctx:
        plan = _plan(ctx)
        states = {d["index"]: VideoState.from_dict(d) for d in plan["videos"]}
        chunk_results: dict[int, list[dict]] = {}
        for k, u in enumerate(plan["units"]):
            got = _load(ctx, "extract", k)
            if got is None:
                reason = f"the extraction task (extract, map index {k}) did not finish after its retries; see its log"
                for i in ([u["video"]] if "chunk" in u else u["videos"]):
                    if states[i].active:
                        states[i].fail("extract", reason)
                continue
            if "chunk" in got:
                chunk_results.setdefault(u["video"], []).append(got["chunk"])
            else:
                for d in got["videos"]:
                    states[d["index"]] = VideoState.from_dict(d)
        for i, results in chunk_results.items():
            st = states[i]
            if st.active:
                sha = next((r.get("sha256") for r in results if r.get("sha256")), None)
                if sha:
                    st.sha256, st.folder = sha, folder_for(sha, ctx.fp)
                assemble_chunks(st, results, ctx)
        ordered = [states[i] for i in sorted(states)]
        batches = group_batches(ordered, plan.get("videos_per_batch") or DEFAULT_VIDEOS_PER_BATCH)
        refs = []
        for b, batch in enumerate(batches):
            uri = _save(ctx, "assemble", b, [st.to_dict() for st in batch])
            refs.append({"run_id": run_id, "fingerprint": ctx.fp, "batch": b, "state": uri, "counts": _counts(batch)})
        ctx.put_json(ctx.run_store(), "batches.json", {"batches": len(batches)})
        return refs


def _batch_step(stage: str, prev: str, step, ref: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    with _context(params, ref["run_id"], ref.get("fingerprint")) as ctx:
        states = _states(_load(ctx, prev, ref["batch"]) or [])
        step(states, ctx)
        uri = _save(ctx, stage, ref["batch"], [st.to_dict() for st in states])
        return {"run_id": ref["run_id"], "fingerprint": ctx.fp, "batch": ref["batch"], "state": uri,
                "counts": _counts(states)}


def recognize(batch: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return _batch_step("recognize", "assemble", recognize_videos, batch, params)


def compose(params: Mapping[str, Any], airflow_run_id: str) -> list[dict[str, Any]]:
    """One batched composer call over every batch of the run (an LLM backend loads once)."""
    run_id = run_id_for(params, airflow_run_id)
    with _context(params, run_id) as ctx:
        run = ctx.run_store()
        n = ctx.get_json(run, "batches.json")["batches"] if run.exists("batches.json") else 0
        loaded: dict[int, list[VideoState]] = {}
        for b in range(n):
            docs = _load(ctx, "recognize", b)
            if docs is not None:  # a batch whose recognition failed is reported by publish
                loaded[b] = _states(docs)
        compose_videos([st for b in sorted(loaded) for st in loaded[b]], ctx)
        refs = []
        for b in sorted(loaded):
            uri = _save(ctx, "compose", b, [st.to_dict() for st in loaded[b]])
            refs.append({"run_id": run_id, "fingerprint": ctx.fp, "batch": b, "state": uri,
                         "counts": _counts(loaded[b])})
        return refs


def speak(batch: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return _batch_step("speak", "compose", speak_videos, batch, params)


def mux(batch: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return _batch_step("mux", "speak", mux_videos, batch, params)


def publish(params: Mapping[str, Any], airflow_run_id: str) -> dict[str, Any]:
    """Mark finished folders complete, write the run manifest and the HTML report."""
    run_id = run_id_for(params, airflow_run_id)
    with _context(params, run_id) as ctx:
        run = ctx.run_store()
        plan = _plan(ctx)
        final: list[VideoState] = []
        if run.exists("batches.json"):
            n = ctx.get_json(run, "batches.json")["batches"]
            for b in range(n):
                for k in range(len(STAGE_ORDER) - 1, -1, -1):
                    docs = _load(ctx, STAGE_ORDER[k], b)
                    if docs is None:
                        continue
                    states = _states(docs)
                    if k < len(STAGE_ORDER) - 1:
                        missing = STAGE_ORDER[k + 1]
                        for st in states:
                            if st.active:
                                st.fail(missing, f"the {missing} task of batch {b} did not finish after its "
                                                 f"retries; see its Airflow log")
                    final += states
                    break
        else:  # assemble never ran: report what discover knew
            final = _states(plan["videos"])
            for st in final:
                if st.active:
                    st.fail("extract", "the run stopped before extraction finished; see the Airflow log")
        seen = {st.index for st in final}
        for d in plan["videos"]:  # a batch with no state file at all
            if d["index"] not in seen:
                st = VideoState.from_dict(d)
                if st.active:
                    st.fail("recognize", "this video's batch has no state after extraction; see the Airflow log")
                final.append(st)
        finish_videos(final, ctx)
        uris = write_run_record(final, ctx, extra_settings={"runner": "airflow", "inputs": plan.get("inputs")})
        counts = _counts(final)
        log.info("run %s finished: %s; manifest %s", run_id, counts, uris.get("manifest"))
        return {"run_id": run_id, "output": ctx.output_uri, **uris, "counts": counts}


def any_new_uploads(params: Mapping[str, Any]) -> dict[str, Any]:
    """For the uploads sensor: are there videos under the uploads prefix that no run finished?

    Cheap: a listing plus index lookups, no download (videos never read before count as new).
    """
    s = settings_for(params)
    prefix = params.get("input") or s.uploads
    with Context(s, params.get("output") or s.output, run_id="sensor") as ctx:
        try:
            states, _bad = list_inputs([prefix], s)
        except Exception as e:  # noqa: BLE001 - an unreachable store is "nothing yet", the sensor pokes again
            log.warning("cannot list %s: %s", prefix, e)
            return {"new": 0, "prefix": prefix}
        lookup_done(states, ctx)
        new = [st.input_uri for st in states if st.status == "ok"]
        return {"new": len(new), "prefix": prefix, "first": new[:5]}


def build_dataset(params: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset DAG's work: labelled videos -> landmark dataset with splits and a card. The returned
    summary is also the extra of the ``signbridge_datasets`` asset event."""
    from signbridge.extract.dataset import build_dataset as _build

    s = settings_for(params, DATASET_OPTIONS)
    card = _build(params["labels"], params["output"], s, videos_root=params.get("videos_root") or None,
                  workers=params.get("workers") or None, file_column=params.get("file_column") or None,
                  label_column=params.get("label_column") or None, signer_column=params.get("signer_column") or None,
                  name=params.get("name") or None)
    return {"output": params["output"], "name": card["name"], "card": f"{params['output'].rstrip('/')}/dataset.json",
            "counts": card.get("counts", {}),
            "splits": {k: v["videos"] for k, v in card.get("splits", {}).get("counts", {}).items()}}


def check_labels(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fail fast (before any extraction) when the labels file or its columns are wrong."""
    from signbridge.extract.dataset import load_labels

    s = settings_for(params, DATASET_OPTIONS)
    labels = load_labels(params["labels"], s, params.get("file_column") or None, params.get("label_column") or None,
                         params.get("signer_column") or None)
    return {"labels": labels.path, "rows": len(labels.rows), "file_column": labels.file_column,
            "label_column": labels.label_column}


# a permanent error (bad key, bad setting, missing credentials) fails a task at once, without retries
for _name in ("discover", "extract", "assemble", "recognize", "compose", "speak", "mux", "publish", "build_dataset",
              "check_labels"):
    globals()[_name] = fail_fast(globals()[_name])

__all__ = ["discover", "extract", "assemble", "recognize", "compose", "speak", "mux", "publish", "settings_for",
           "any_new_uploads", "build_dataset", "check_labels", "RUNS"]
