"""``signbridge extract``'s job: inputs → landmarks (+ exports) in an output folder or S3 prefix.

Per video: ``<name>.landmarks.parquet``, ``<name>.stats.json`` and any requested
exports (``<name>.kaggle.parquet``, ``<name>.pose``). Per run:
``extract_manifest.json`` (a :class:`~signbridge.records.RunManifest`) listing
every input with its status, error, timings and outputs.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable

from signbridge.errors import SignBridgeError
from signbridge.extract.batch import VideoOutcome, run_batch
from signbridge.storage.inputs import InputVideo, find_videos

MANIFEST_KEY = "extract_manifest.json"


def write_outputs(store, name: str, ex, exports: Iterable[str] = ()) -> dict[str, str]:
    """Write one video's landmarks, stats and exports under ``name``; returns kind → URI."""
    from signbridge.extract.exports import write_kaggle, write_pose
    from signbridge.extract.io import write_landmarks

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="signbridge-out-") as tmp:
        lp = write_landmarks(ex.table, Path(tmp) / "l.parquet")
        out["landmarks"] = store.put_file(f"{name}.landmarks.parquet", lp, "application/vnd.apache.parquet")
        if "kaggle" in exports:
            kp = write_kaggle(ex.table, Path(tmp) / "k.parquet")
            out["kaggle"] = store.put_file(f"{name}.kaggle.parquet", kp, "application/vnd.apache.parquet")
        if "pose" in exports:
            pp = write_pose(ex.table, Path(tmp) / "p.pose")
            out["pose"] = store.put_file(f"{name}.pose", pp, "application/octet-stream")
    keep = ("source_uri", "sha256", "fps", "width", "height", "rotation", "sample_fps", "face_mode", "max_side",
            "duration_s", "source_frames", "variable_frame_rate", "mediapipe_version", "model_complexity", "chunks",
            "warmup_frames")
    doc = {"stats": ex.stats, "seconds": round(ex.seconds, 3), "chunk_seconds": ex.chunk_seconds,
           **{k: ex.meta.get(k) for k in keep}}
    out["stats"] = store.put_bytes(f"{name}.stats.json", json.dumps(doc, indent=2).encode(), "application/json")
    return out


def video_result(o: VideoOutcome, outputs: dict[str, str] | None = None):
    from signbridge.records import VideoResult

    return VideoResult(input_uri=o.ref.uri, status=o.status, sha256=o.sha256,
                       error=str(o.error) if o.error else None,
                       failed_stage="extract" if o.status == "failed" else None,
                       stage_timings={"extract": round(o.seconds, 3)}, outputs=outputs or {},
                       detection=o.stats or {})


def extract_inputs(inputs: list[str], output: str, settings, *, workers: int | None = None,
                   exports: Iterable[str] = (), progress: bool = False, chunk_s: float | None = None):
    """Run the extract job. Returns the RunManifest (also written to the output as JSON)."""
    from signbridge.records import RunManifest
    from signbridge.storage import open_store

    exports = tuple(exports)
    store = open_store(output, settings, create=True)
    manifest = RunManifest(settings={"fps": settings.fps, "max_side": settings.max_side, "face": settings.face,
                                     "workers": workers if workers is not None else settings.workers,
                                     "exports": list(exports), "output": store.uri()})
    refs, bad = find_videos(inputs, settings, strict=False)
    for b in bad:
        manifest.videos.append(video_result(VideoOutcome(InputVideo(b.uri, b.name), error=b.error, status="failed")))

    def on_done(o: VideoOutcome) -> None:
        outputs: dict[str, str] = {}
        if o.status == "ok":
            try:
                outputs = write_outputs(store, o.ref.name, o.extraction, exports)
            except SignBridgeError as e:  # the store refused this video's files: it failed, the run goes on
                o.status, o.error = "failed", e
        manifest.videos.append(video_result(o, outputs))

    run_batch(refs, settings, workers=workers, progress=progress, on_done=on_done, chunk_s=chunk_s)
    order = {r.uri: i for i, r in enumerate(refs)}
    manifest.videos.sort(key=lambda v: order.get(v.input_uri, -1))
    store.put_bytes(MANIFEST_KEY, json.dumps(manifest.to_dict(), indent=2).encode(), "application/json")
    return manifest
