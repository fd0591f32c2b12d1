"""The per-video stage steps over URIs, shared by ``signbridge run`` and the Airflow tasks.

Each step takes a list of :class:`VideoState` (small JSON that can travel between
tasks), reads its inputs from object storage, calls the stage function, writes the
stage's output under ``<output>/<sha256[:16]>-<settings hash>/`` and returns. A step
whose output already exists does no work, so a rerun, a retried task or a rerun
after a killed worker redoes only what is missing and never writes duplicates.

Outputs are written only after a stage succeeded (each object is one atomic put),
so a video that fails leaves no partial files; its state carries the reason and the
stage. One video's failure never stops the others of its batch: only errors that
hit every video at once (the store is unreachable) propagate, so the caller (an
Airflow task) can retry.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Sequence

from signbridge.errors import InputError, NoSignerError, SignBridgeError, StorageError
from signbridge.settings import Settings

log = logging.getLogger(__name__)

# file names inside a video's result folder (the mux/caption names come from signbridge.outputs)
LANDMARKS = "landmarks.parquet"
GLOSS_TRACK = "gloss_track.json"
TRANSCRIPT = "transcript.json"
SRT = "captions.srt"
VTT = "captions.vtt"
NARRATION = "narration.wav"
VIDEO = "video.mp4"
RESULT = "result.json"  # written last: the folder is complete when this exists
RUNS = "runs"  # <output>/runs/<run_id>/{manifest.json,report.html,state/...}
INDEX = "_index"  # <output>/_index/<source id>.json: object (uri, size, etag) -> sha256
STAGING = "_staging"  # <output>/_staging/<folder>/chunk-*.npz: chunks of a long video until merged

STAGES = ("extract", "recognize", "compose", "speak", "mux")
OUTPUT_NAMES = {"landmarks": LANDMARKS, "gloss_track": GLOSS_TRACK, "transcript": TRANSCRIPT, "srt": SRT,
                "vtt": VTT, "narration": NARRATION, "video": VIDEO}
CONTENT_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json",
                 ".srt": "application/x-subrip", ".vtt": "text/vtt", ".wav": "audio/wav", ".mp4": "video/mp4",
                 ".npz": "application/octet-stream", ".html": "text/html"}
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                              ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".y4m"})


# --------------------------------------------------------------------------- state
@dataclass
class VideoState:
    """Where one video is in the pipeline. JSON-able; what XCom/state files carry between tasks.

    ``status`` is ``ok`` while the video moves on (and at the end when it finished), ``failed`` or
    ``no_signer`` once it stopped, ``skipped`` when an earlier run already produced its outputs.
    """

    input_uri: str
    index: int = 0
    status: str = "ok"
    sha256: str | None = None
    folder: str | None = None  # key of the result folder under the output root
    size: int | None = None
    etag: str | None = None
    duration_ms: float | None = None
    chunks: int = 1
    error: str | None = None
    failed_stage: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    detection: dict[str, Any] = field(default_factory=dict)
    permanent: bool = False  # the failure is a property of the file's bytes (not the store, not a bug)

    @property
    def active(self) -> bool:
        return self.status == "ok"

    @property
    def name(self) -> str:
        return PurePosixPath(self.input_uri.rstrip("/")).name or self.input_uri

    def fail(self, stage: str, err: BaseException | str) -> None:
        self.status = "failed"
        self.failed_stage = stage
        self.error = str(err)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VideoState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_result(self):
        from signbridge.records import VideoResult

        return VideoResult(input_uri=self.input_uri, status=self.status, sha256=self.sha256, error=self.error,  # type: ignore[arg-type]
                           failed_stage=self.failed_stage,
                           stage_timings={k: round(float(v), 3) for k, v in self.timings.items()},
                           outputs=dict(self.outputs), detection=dict(self.detection))


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def safe_run_id(raw: str) -> str:
    """Airflow run ids hold ':' and '+'; keep keys plain."""
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in raw).strip("-.")
    return out[:120] or new_run_id()


# ---------------------------------------------------------------------- fingerprint
def model_identity(settings: Settings) -> str:
    """What names the recogniser's behaviour: weights hash (+ few-shot additions), not its path."""
    try:
        from signbridge.recognize.checkpoint import checkpoint_dir, fewshot_path

        cfg = json.loads((checkpoint_dir(settings) / "config.json").read_text())
        ident = str(cfg.get("weights_sha256") or cfg.get("version") or "")
        fs = fewshot_path(settings)
        if fs.is_file():
            ident += "+fewshot:" + hashlib.sha256(fs.read_bytes()).hexdigest()[:12]
        return ident or str(settings.checkpoint)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint fails later, with its own clear error
        return str(settings.checkpoint or "shipped")


def output_params(settings: Settings) -> dict[str, Any]:
    """Every setting that changes an output; the result folder name hashes these."""
    s = settings
    return {
        "extract": {"fps": s.fps, "max_side": s.max_side, "face": s.face, "chunk_seconds": s.chunk_seconds},
        "recognize": {"model": model_identity(s), "min_confidence": s.min_confidence},
        "compose": {"composer": s.composer, "llm_model": s.llm_model, "low_confidence": s.low_confidence},
        "speak": {"tts": s.tts, "voice": s.tts_voice, "xtts": s.xtts_model_dir,
                  "marker": s.low_confidence_marker, "language": s.language},
        "mux": {"burn": s.burn_captions, "original_audio": s.original_audio},
    }


def fingerprint(settings: Settings) -> str:
    from signbridge.storage.keys import settings_fingerprint

    return settings_fingerprint(output_params(settings))


def folder_for(sha256: str, fp: str) -> str:
    """Same layout as :func:`signbridge.storage.keys.output_prefix`: ``<sha256[:16]>-<settings hash>``."""
    return f"{sha256[:16]}-{fp}"


def source_id(uri: str, size: int | None, etag: str | None) -> str | None:
    """Identity of an object version without reading it (None when the store gives no etag)."""
    if not etag or size is None:
        return None
    return hashlib.sha256(f"{uri}\n{size}\n{etag}".encode()).hexdigest()[:40]


# -------------------------------------------------------------------------- context
def clean_stale_scratch(base: Path) -> int:
    """Remove scratch folders whose process is gone (a killed worker's downloaded videos must not
    outlive their run). Returns how many were removed."""
    n = 0
    for d in base.iterdir() if base.is_dir() else ():
        try:
            pid = int((d / ".pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        n += 1
    return n


class Context:
    """Settings, the output store and a scratch folder for one run, or one task of it."""

    def __init__(self, settings: Settings, output: str | None = None, *, fp: str | None = None,
                 run_id: str | None = None):
        from signbridge.storage import open_store

        self.settings = settings.validate()
        self.output_uri = output or settings.output
        self.out = open_store(self.output_uri, self.settings, create=True)
        self.fp = fp or fingerprint(self.settings)
        self.run_id = run_id or new_run_id()
        self._scratch: Path | None = None
        self._stores: dict[str, Any] = {}

    # scratch: downloaded videos and files being built; removed when the context closes
    @property
    def scratch(self) -> Path:
        if self._scratch is None:
            base = Path(self.settings.home) / "tmp"
            base.mkdir(parents=True, exist_ok=True)
            clean_stale_scratch(base)
            self._scratch = Path(tempfile.mkdtemp(prefix=f"{self.run_id}-", dir=base))
            (self._scratch / ".pid").write_text(str(os.getpid()))
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def workdir(self, name: str) -> Iterator[Path]:
        d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.scratch))
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def folder(self, st: VideoState):
        if not st.folder:
            raise SignBridgeError("internal: video has no result folder yet", source=st.input_uri)
        return self.out.child(st.folder)

    def run_store(self):
        return self.out.child(f"{RUNS}/{self.run_id}")

    def _input_store(self, uri: str):
        from signbridge.storage import open_store
        from signbridge.storage.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        if bucket not in self._stores:
            self._stores[bucket] = open_store(f"s3://{bucket}", self.settings)
        return self._stores[bucket], key

    def fetch(self, uri: str, dest_dir: Path) -> Path:
        """A local path for an input video (downloaded when it is in S3)."""
        if uri.startswith("s3://"):
            store, key = self._input_store(uri)
            return store.get_file(key, dest_dir / (PurePosixPath(key).name or "video"))
        p = Path(uri)
        if not p.is_file():
            raise InputError("file not found" if not p.exists() else "not a file", source=uri)
        return p

    def put(self, store, name: str, path: Path) -> str:
        return store.put_file(name, path, CONTENT_TYPES.get(Path(name).suffix.lower()))

    def put_json(self, store, name: str, doc: Any) -> str:
        return store.put_bytes(name, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(),
                               "application/json")

    def get_json(self, store, name: str) -> Any:
        return json.loads(store.get_bytes(name))


# -------------------------------------------------------------------------- discover
def list_inputs(inputs: Sequence[str], settings: Settings) -> tuple[list[VideoState], list[VideoState]]:
    """Expand files, folders and ``s3://`` prefixes into states. Returns (videos, failed inputs).

    In a folder or prefix only video file names count (a labels CSV beside the clips is not an
    input); a file named explicitly is always taken, so a wrong file gets a specific error.
    """
    from signbridge.storage import open_store
    from signbridge.storage.s3 import parse_s3_uri

    found: list[VideoState] = []
    bad: list[VideoState] = []
    roots: dict[str, Any] = {}  # one client per bucket: `process` may name thousands of uploaded objects
    for raw in inputs:
        if raw.startswith("s3://"):
            bucket, prefix = parse_s3_uri(raw)
            if bucket not in roots:
                roots[bucket] = open_store(f"s3://{bucket}", settings)
            root = roots[bucket]
            objs = list(root.list(prefix))
            exact = [o for o in objs if o.key == prefix]
            if exact:
                o = exact[0]
                found.append(VideoState(f"s3://{bucket}/{o.key}", size=o.size, etag=o.etag))
                continue
            base = prefix.rstrip("/") + "/" if prefix else ""
            vids = [o for o in objs if o.key.startswith(base) and _is_video_name(o.key)]
            if not vids:
                st = VideoState(raw)
                st.fail("discover", InputError("no video files under this prefix", source=raw))
                bad.append(st)
            found += [VideoState(f"s3://{bucket}/{o.key}", size=o.size, etag=o.etag)
                      for o in sorted(vids, key=lambda o: o.key)]
            continue
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and _is_video_name(f.name))
            if not files:
                st = VideoState(str(p))
                st.fail("discover", InputError("no video files in this folder", source=str(p)))
                bad.append(st)
            found += [VideoState(str(f.resolve()), size=f.stat().st_size) for f in files]
        else:
            found.append(VideoState(str(p.resolve()) if p.exists() else raw,
                                    size=p.stat().st_size if p.is_file() else None))
    seen: set[str] = set()
    unique = []
    for st in found:  # the same object named twice is one video
        if st.input_uri not in seen:
            seen.add(st.input_uri)
            unique.append(st)
    for i, st in enumerate(unique + bad):
        st.index = i
    return unique, bad


def _is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


def lookup_done(states: Sequence[VideoState], ctx: Context, threads: int = 16) -> None:
    """Mark videos whose outputs an earlier run finished as ``skipped`` (no download, no decode).

    The sha256 of an object version is remembered in ``_index/`` once it has been read, so a
    rerun over the same uploads finds finished folders from listings alone.
    """
    from concurrent.futures import ThreadPoolExecutor

    index = ctx.out.child(INDEX)

    def one(st: VideoState) -> None:
        sid = source_id(st.input_uri, st.size, st.etag)
        sha = None
        if sid and _load_failure(st, sid, ctx):
            return
        if sid and index.exists(f"{sid}.json"):
            sha = ctx.get_json(index, f"{sid}.json").get("sha256")
        elif not st.input_uri.startswith("s3://") and Path(st.input_uri).is_file():
            from signbridge.storage.keys import sha256_file

            sha = sha256_file(st.input_uri)  # local files are cheap to hash
        if not sha:
            return
        st.sha256, st.folder = sha, folder_for(sha, ctx.fp)
        _load_done(st, ctx)

    todo = [st for st in states if st.active]
    with ThreadPoolExecutor(max(1, min(threads, len(todo) or 1))) as ex:  # a few small requests per video
        list(ex.map(one, todo))


def _load_done(st: VideoState, ctx: Context) -> bool:
    folder = ctx.folder(st)
    if not folder.exists(RESULT):
        return False
    prev = ctx.get_json(folder, RESULT)
    if prev.get("status") != "ok":
        return False
    st.status = "skipped"
    st.outputs = {k: v for k, v in (prev.get("outputs") or {}).items()}
    st.detection = prev.get("detection") or {}
    st.duration_ms = prev.get("duration_ms") or st.duration_ms
    return True


def _failure_key(sid: str, fp: str) -> str:
    return f"{sid}-{fp}.failed.json"


def _load_failure(st: VideoState, sid: str, ctx: Context) -> bool:
    """An earlier run found this exact object unusable with these settings and this SignBridge version."""
    from signbridge import __version__

    index = ctx.out.child(INDEX)
    key = _failure_key(sid, ctx.fp)
    if not index.exists(key):
        return False
    rec = ctx.get_json(index, key)
    if rec.get("version") != __version__:
        return False
    st.status = rec.get("status") or "failed"
    st.failed_stage, st.error = rec.get("failed_stage"), rec.get("error")
    st.sha256 = rec.get("sha256") or st.sha256
    st.detection = rec.get("detection") or {}
    st.permanent = True
    return True


def remember_failure(st: VideoState, ctx: Context) -> None:
    """Keep a failure caused by the file itself, so a rerun reports it without trying again. Only
    bookkeeping under ``_index/``: the video still has no result folder. New bytes (a fixed upload)
    have another etag and are tried afresh."""
    from signbridge import __version__

    sid = source_id(st.input_uri, st.size, st.etag)
    if sid and st.permanent and st.status in ("failed", "no_signer"):
        ctx.put_json(ctx.out.child(INDEX), _failure_key(sid, ctx.fp),
                     {"uri": st.input_uri, "size": st.size, "etag": st.etag, "sha256": st.sha256,
                      "status": st.status, "failed_stage": st.failed_stage, "error": st.error,
                      "detection": st.detection, "version": __version__})


def remember_sha(st: VideoState, ctx: Context) -> None:
    sid = source_id(st.input_uri, st.size, st.etag)
    if sid and st.sha256:
        ctx.put_json(ctx.out.child(INDEX), f"{sid}.json",
                     {"uri": st.input_uri, "size": st.size, "etag": st.etag, "sha256": st.sha256})


def probe_durations(states: Sequence[VideoState], ctx: Context, threads: int = 8) -> None:
    """Duration of every pending video, for planning (objects in S3 are probed over a presigned URL,
    so only their headers travel). An unreadable file fails here, before any task is spent on it."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [st for st in states if st.active]

    def one(st: VideoState) -> None:
        t0 = time.perf_counter()
        try:
            st.duration_ms = _probe_duration_ms(st, ctx)
        except InputError as e:
            st.fail("extract", e)
            st.permanent = True
            remember_failure(st, ctx)
        st.timings["probe"] = round(time.perf_counter() - t0, 3)

    with ThreadPoolExecutor(max(1, min(threads, len(todo) or 1))) as ex:
        list(ex.map(one, todo))


def _probe_duration_ms(st: VideoState, ctx: Context) -> float:
    import subprocess

    from signbridge.media import require_tool

    if st.input_uri.startswith("s3://"):
        store, key = ctx._input_store(st.input_uri)
        client = getattr(store, "client", None)
        if client is not None:
            try:
                url = client.generate_presigned_url("get_object", Params={"Bucket": store.bucket, "Key": key},
                                                    ExpiresIn=900)
                res = subprocess.run([require_tool("ffprobe"), "-v", "error", "-show_entries",
                                      "format=duration:stream=codec_type", "-of", "json", url],
                                     capture_output=True, text=True, timeout=120)
                if res.returncode == 0:
                    info = json.loads(res.stdout or "{}")
                    has_video = any(s.get("codec_type") == "video" for s in info.get("streams") or [])
                    dur = float((info.get("format") or {}).get("duration") or 0)
                    if has_video and dur > 0:
                        return dur * 1000.0
            except (subprocess.SubprocessError, ValueError, json.JSONDecodeError) as e:
                log.debug("remote probe of %s failed (%s); downloading it", st.input_uri, e)
        # remote probe inconclusive: the local probe gives the specific reason
        with ctx.workdir("probe") as d:
            return _probe_local(ctx.fetch(st.input_uri, d), st.input_uri, ctx)
    return _probe_local(Path(st.input_uri), st.input_uri, ctx)


def _probe_local(path: Path, source: str, ctx: Context) -> float:
    """Duration of a local video; for an unusable file, the extractor's own checks name the problem
    (a text file named .mp4, a truncated file) rather than ffprobe's first line."""
    from signbridge.media import require_video

    try:
        return require_video(path).duration_s * 1000.0
    except InputError as first:
        err = first
        try:
            from signbridge.extract.video import prepare

            job = prepare(path, ctx.settings, source_uri=source, workers=1)
            return job.info.duration_s * 1000.0
        except InputError as e:
            err = e
        except ImportError:
            pass
        raise InputError(err.message, source=source, hint=err.hint) from None


# --------------------------------------------------------------------------- planning
def plan_units(states: Sequence[VideoState], settings: Settings, *, batch_seconds: float | None = None,
               max_videos: int = 64) -> list[dict[str, Any]]:
    """Extraction work units: short videos packed into ~``batch_seconds`` of video per unit (so a
    thousand clips do not become a thousand tiny tasks), long ones split into one unit per chunk."""
    batch_s = float(batch_seconds or settings.batch_seconds)
    chunk_s = float(settings.chunk_seconds)
    units: list[dict[str, Any]] = []
    cur: list[int] = []
    cur_s = 0.0
    for st in states:
        if not st.active:
            continue
        dur = (st.duration_ms or 0.0) / 1000.0
        n = max(1, math.ceil(dur / chunk_s)) if dur > chunk_s else 1
        st.chunks = n
        if n > 1:
            units += [{"video": st.index, "chunk": c, "of": n, "seconds": round(min(chunk_s, dur - c * chunk_s), 1)}
                      for c in range(n)]
            continue
        if cur and (cur_s + dur > batch_s or len(cur) >= max_videos):
            units.append({"videos": cur, "seconds": round(cur_s, 1)})
            cur, cur_s = [], 0.0
        cur.append(st.index)
        cur_s += dur
    if cur:
        units.append({"videos": cur, "seconds": round(cur_s, 1)})
    return units


def group_batches(states: Sequence[VideoState], size: int) -> list[list[VideoState]]:
    """Downstream batches (recognition shares forward passes within one)."""
    size = max(1, int(size))
    return [list(states[i:i + size]) for i in range(0, len(states), size)] or [[]]


# ---------------------------------------------------------------------------- helpers
def _guard(st: VideoState, stage: str, fn: Callable[[], None], storage_errors: list | None = None) -> None:
    """Run one video's part of a step; its failure is recorded on it, never raised."""
    t0 = time.perf_counter()
    try:
        fn()
    except NoSignerError as e:
        st.status, st.error, st.failed_stage = "no_signer", str(e), stage
        st.permanent = True
        stats = getattr(e, "stats", None)
        if stats:
            st.detection.update(_detection({"detection": stats}))
    except InputError as e:
        st.fail(stage, e)
        st.permanent = True
    except StorageError as e:
        st.fail(stage, e)
        if storage_errors is not None:
            storage_errors.append(e)
    except SignBridgeError as e:
        st.fail(stage, e)
    except Exception as e:  # noqa: BLE001 - one video's surprise must not stop the batch
        log.exception("unexpected error in %s of %s", stage, st.input_uri)
        st.fail(stage, SignBridgeError(f"internal error in {stage}: {type(e).__name__}: {e}", source=st.input_uri,
                                       hint="please report this with the video"))
    finally:
        dt = time.perf_counter() - t0
        if dt > 0.0005:
            st.timings[stage] = round(st.timings.get(stage, 0.0) + dt, 3)


def _raise_if_all_storage(attempted: int, errors: list) -> None:
    """Every video of the step hit a storage error: that is the store, not the videos; let the task retry."""
    if attempted and len(errors) == attempted:
        raise errors[0]


def _stage_module(stage: str, module: str, states: Sequence[VideoState]):
    """Import a stage; if it is not part of this installation, stop the videos there and say so."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not (e.name and module.startswith(e.name)):
            raise
        for st in states:
            if st.active:
                st.fail(stage, SignBridgeError(f"the {stage} stage ({module}) is not available in this installation; "
                                               f"the stages before it finished", source=st.input_uri))
        return None


def _landmarks_info(path: Path) -> dict:
    import pyarrow.parquet as pq

    from signbridge.contracts import read_landmarks_metadata

    return read_landmarks_metadata(pq.read_schema(str(path)), source=str(path))


def _detection(meta: dict) -> dict:
    det = dict(meta.get("detection") or {})
    return {k: det[k] for k in ("frames", "pose", "face", "left_hand", "right_hand") if k in det}


def _identify(st: VideoState, path: Path, ctx: Context) -> None:
    from signbridge.storage.keys import sha256_file

    sha = sha256_file(path)
    if st.sha256 and st.sha256 != sha:
        log.warning("%s changed since it was listed; using its current content", st.input_uri)
    st.sha256, st.folder = sha, folder_for(sha, ctx.fp)


def _use_existing_landmarks(st: VideoState, ctx: Context, folder, d: Path) -> None:
    local = folder.get_file(LANDMARKS, d / LANDMARKS)
    meta = _landmarks_info(local)
    st.outputs["landmarks"] = folder.uri(LANDMARKS)
    st.detection.update(_detection(meta))
    if meta.get("duration_s"):
        st.duration_ms = float(meta["duration_s"]) * 1000.0


# ---------------------------------------------------------------------------- extract
def extract_videos(states: Sequence[VideoState], ctx: Context, *, workers: int | None = 1) -> None:
    """Landmarks for each whole video (one extraction per video, chunked as ``chunk_seconds`` says)."""
    mod = _stage_module("extract", "signbridge.extract", states)
    if mod is None:
        return
    errors: list = []
    todo = [st for st in states if st.active]

    for st in todo:
        def one(st: VideoState = st) -> None:
            with ctx.workdir("extract") as d:
                path = ctx.fetch(st.input_uri, d)
                _identify(st, path, ctx)
                if _load_done(st, ctx):
                    return
                folder = ctx.folder(st)
                if folder.exists(LANDMARKS):  # an earlier run or try got this far
                    _use_existing_landmarks(st, ctx, folder, d)
                else:
                    ex = mod.extract_video(path, ctx.settings, source_uri=st.input_uri, workers=workers,
                                           chunk_s=ctx.settings.chunk_seconds)
                    local = mod.write_landmarks(ex.table, d / LANDMARKS)
                    st.outputs["landmarks"] = ctx.put(folder, LANDMARKS, local)
                    st.detection.update(_detection(ex.meta))
                    st.duration_ms = float(ex.meta.get("duration_s") or 0) * 1000.0 or st.duration_ms
                remember_sha(st, ctx)
        _guard(st, "extract", one, errors)
        remember_failure(st, ctx)
    _raise_if_all_storage(len(todo), errors)


def _chunk_key(i: int, n: int) -> str:
    return f"chunk-{i:04d}-of-{n:04d}.npz"


def _chunk_to_bytes(r) -> bytes:
    """A ChunkResult as .npz (arrays stay arrays; no pickle, so a staged object cannot run code).

    Generic over the dataclass fields, so a field the extractor adds travels too."""
    import io
    from fractions import Fraction

    import numpy as np

    arrays: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for f in dataclasses.fields(r):
        v = getattr(r, f.name)
        if isinstance(v, np.ndarray):
            arrays[f"a__{f.name}"] = v
        elif isinstance(v, dict) and v and all(isinstance(x, np.ndarray) for x in v.values()):
            for k, x in v.items():
                arrays[f"d__{f.name}__{k}"] = x
        elif dataclasses.is_dataclass(v):
            meta[f.name] = {"__dataclass__": True, **{g.name: (str(getattr(v, g.name)) if isinstance(
                getattr(v, g.name), Fraction) else getattr(v, g.name)) for g in dataclasses.fields(v)}}
        else:
            meta[f.name] = v
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def _chunk_from_bytes(data: bytes):
    import io
    import typing
    from fractions import Fraction

    import numpy as np

    from signbridge.extract.holistic import ChunkResult

    z = np.load(io.BytesIO(data), allow_pickle=False)
    meta = json.loads(z["__meta__"].tobytes().decode())
    kw: dict[str, Any] = {}
    hints = typing.get_type_hints(ChunkResult)
    for name, v in meta.items():
        if isinstance(v, dict) and v.pop("__dataclass__", False):
            cls = hints[name]
            sub = typing.get_type_hints(cls)
            kw[name] = cls(**{k: (Fraction(x) if x is not None and "Fraction" in str(sub.get(k)) else x)
                              for k, x in v.items()})
        else:
            kw[name] = v
    for key in z.files:
        if key.startswith("a__"):
            kw[key[3:]] = z[key]
        elif key.startswith("d__"):
            name, part = key[3:].split("__", 1)
            kw.setdefault(name, {})[part] = z[key]
    return ChunkResult(**kw)


def _prepare(path: Path, st: VideoState, ctx: Context):
    from signbridge.extract.video import prepare

    return prepare(path, ctx.settings, source_uri=st.input_uri, workers=1, chunk_s=ctx.settings.chunk_seconds)


def _run_chunk(job, i: int):
    from signbridge.extract.holistic import run_chunk
    from signbridge.extract.video import _no_seek, check_seek

    r = run_chunk(job.tasks[i])
    return r if check_seek(job, r) else run_chunk(_no_seek(job.tasks[i]))


def extract_chunk(st: VideoState, unit: int, n_units: int, ctx: Context) -> dict[str, Any]:
    """One planned part of a long video: its chunks go to ``_staging`` until :func:`assemble_chunks`.

    The planner counted chunks from the container duration; the extractor counts from the packet
    timeline. Should they differ, unit ``u`` takes every chunk ``i`` with ``i % n_units == u``.
    """
    out: dict[str, Any] = {"index": st.index, "unit": unit, "status": "ok", "chunks": []}
    t0 = time.perf_counter()
    try:
        _stage_module("extract", "signbridge.extract.video", [st])
        if not st.active:
            raise SignBridgeError(st.error or "extract stage unavailable")
        with ctx.workdir("chunk") as d:
            path = ctx.fetch(st.input_uri, d)
            _identify(st, path, ctx)
            out["sha256"] = st.sha256
            if ctx.folder(st).exists(LANDMARKS):
                out["done"] = True
                return out
            job = _prepare(path, st, ctx)
            staged = ctx.out.child(f"{STAGING}/{st.folder}")
            n = len(job.tasks)
            for i in range(n):
                if i % n_units != unit:
                    continue
                key = _chunk_key(i, n)
                if not staged.exists(key):
                    staged.put_bytes(key, _chunk_to_bytes(_run_chunk(job, i)), CONTENT_TYPES[".npz"])
                out["chunks"].append(i)
    except StorageError:
        raise  # the store, not the video: the task retries
    except SignBridgeError as e:
        out.update(status="failed", error=str(e), permanent=isinstance(e, InputError))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def assemble_chunks(st: VideoState, chunk_results: Sequence[dict], ctx: Context) -> None:
    """Merge a long video's staged chunks into its landmarks file (running any chunk that is missing)."""
    failed = [r for r in chunk_results if r.get("status") == "failed"]
    staged = ctx.out.child(f"{STAGING}/{st.folder}") if st.folder else None
    st.timings["extract"] = round(sum(float(r.get("seconds") or 0) for r in chunk_results), 3)
    if failed:
        st.fail("extract", failed[0].get("error") or "a chunk failed")
        st.permanent = all(r.get("permanent") for r in failed)
        remember_failure(st, ctx)
        if staged is not None:
            staged.delete_prefix("")
        return

    def one() -> None:
        from signbridge.extract import write_landmarks
        from signbridge.extract.video import finish

        with ctx.workdir("assemble") as d:
            path = ctx.fetch(st.input_uri, d)
            _identify(st, path, ctx)
            if _load_done(st, ctx):
                return
            folder = ctx.folder(st)
            staged_here = ctx.out.child(f"{STAGING}/{st.folder}")
            if folder.exists(LANDMARKS):
                _use_existing_landmarks(st, ctx, folder, d)
            else:
                job = _prepare(path, st, ctx)
                n = len(job.tasks)
                results = []
                for i in range(n):
                    key = _chunk_key(i, n)
                    if staged_here.exists(key):
                        results.append(_chunk_from_bytes(staged_here.get_bytes(key)))
                    else:
                        log.warning("%s: chunk %d/%d was not staged; extracting it now", st.input_uri, i + 1, n)
                        results.append(_run_chunk(job, i))
                try:
                    ex = finish(job, results, sha256=st.sha256)
                finally:
                    staged_here.delete_prefix("")  # success or a definite failure: the chunks are not needed
                local = write_landmarks(ex.table, d / LANDMARKS)
                st.outputs["landmarks"] = ctx.put(folder, LANDMARKS, local)
                st.detection.update(_detection(ex.meta))
                st.duration_ms = float(ex.meta.get("duration_s") or 0) * 1000.0 or st.duration_ms
            staged_here.delete_prefix("")
            remember_sha(st, ctx)
    _guard(st, "extract", one)
    remember_failure(st, ctx)


def _pending(states: Sequence[VideoState], ctx: Context, output: str, filename: str) -> list[VideoState]:
    """Active videos still lacking ``output``; one already stored (an earlier, interrupted run) is reused."""
    todo = []
    for st in states:
        if st.active and output not in st.outputs:
            if ctx.folder(st).exists(filename):
                st.outputs[output] = ctx.folder(st).uri(filename)
            else:
                todo.append(st)
    return todo


def _batched(stage: str, ready: list[VideoState], items: list, call) -> list[tuple[VideoState, Any]]:
    """``call(videos, items)`` once for the whole batch; if that fails, once per video, so one bad video
    fails alone instead of failing the batch. Returns (video, result) for the videos still active that got
    a result. A batch's time is shared equally; a retried video is timed by ``_guard``."""
    t0 = time.perf_counter()
    share = 0.0
    try:
        results = call(ready, items)
        share = (time.perf_counter() - t0) / len(ready)
    except Exception as e:  # noqa: BLE001 - find the one bad video instead of failing the batch
        if isinstance(e, StorageError):
            raise
        log.warning("batched %s failed (%s); retrying video by video", stage, e)
        results = []
        for st, item in zip(ready, items):
            box: list = []
            _guard(st, stage, lambda st=st, item=item: box.append(call([st], [item])[0]))
            results.append(box[0] if box else None)
    done = []
    for st, result in zip(ready, results):
        if result is not None and st.active:
            if share:
                st.timings[stage] = round(st.timings.get(stage, 0.0) + share, 3)
            done.append((st, result))
    return done


# -------------------------------------------------------------------------- recognize
def recognize_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Gloss tracks; all videos of the batch share the recogniser's batched forward passes."""
    todo = _pending(states, ctx, "gloss_track", GLOSS_TRACK)
    if not todo:
        return
    mod = _stage_module("recognize", "signbridge.recognize", todo)
    if mod is None:
        return
    from signbridge.extract import read_landmarks

    with ctx.workdir("recognize") as d:
        tables, ready = [], []
        for st in todo:
            def load(st: VideoState = st) -> None:
                local = ctx.folder(st).get_file(LANDMARKS, d / f"{st.index}.parquet")
                tables.append(read_landmarks(local, source=ctx.folder(st).uri(LANDMARKS)))
                ready.append(st)
            _guard(st, "recognize", load)
        if not ready:
            return
        tracks = _batched("recognize", ready, tables, lambda sts, tbls: mod.recognize_tables(
            tbls, ctx.settings, [st.input_uri for st in sts]))
        for st, track in tracks:
            _guard(st, "recognize", lambda st=st, track=track: _write_track(st, track, ctx))


def _write_track(st: VideoState, track, ctx: Context) -> None:
    if st.sha256 and not track.sha256:
        track.sha256 = st.sha256
    if track.duration_ms is None and st.duration_ms:
        track.duration_ms = st.duration_ms
    st.outputs["gloss_track"] = ctx.put_json(ctx.folder(st), GLOSS_TRACK, track.to_dict())
    unknown = sum(1 for s in track.spans if s.kind == "unknown")
    st.detection.update({"signs": len(track.spans), "unclear": unknown})


# ---------------------------------------------------------------------------- compose
def compose_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """English transcripts: one batched composer call for every video that needs one."""
    from signbridge.records import GlossTrack

    todo = _pending(states, ctx, "transcript", TRANSCRIPT)
    if not todo:
        return
    mod = _stage_module("compose", "signbridge.compose", todo)
    if mod is None:
        return
    tracks, ready = [], []
    for st in todo:
        def load(st: VideoState = st) -> None:
            doc = ctx.get_json(ctx.folder(st), GLOSS_TRACK)
            tracks.append(GlossTrack.from_dict(doc, source=ctx.folder(st).uri(GLOSS_TRACK)))
            ready.append(st)
        _guard(st, "compose", load)
    if not ready:
        return
    for st, tr in _batched("compose", ready, tracks, lambda _sts, trs: mod.compose_tracks(trs, ctx.settings)):
        def write(st: VideoState = st, tr=tr) -> None:
            st.outputs["transcript"] = ctx.put_json(ctx.folder(st), TRANSCRIPT, tr.to_dict())
            st.detection["sentences"] = len(tr.sentences)
        _guard(st, "compose", write)


# ------------------------------------------------------------------------------ speak
def speak_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Captions (SRT, WebVTT) and the narration track. Nothing signed: no captions, no narration."""
    todo = [st for st in states if st.active]
    if not todo:
        return
    captions = _stage_module("speak", "signbridge.captions", todo)
    speech = _stage_module("speak", "signbridge.speech", todo)
    if captions is None or speech is None:
        return
    from signbridge.records import GlossTrack, Transcript

    errors: list = []
    for st in todo:
        def one(st: VideoState = st) -> None:
            folder = ctx.folder(st)
            tr = Transcript.from_dict(ctx.get_json(folder, TRANSCRIPT), source=folder.uri(TRANSCRIPT))
            if tr.no_signing:
                return
            track = GlossTrack.from_dict(ctx.get_json(folder, GLOSS_TRACK), source=folder.uri(GLOSS_TRACK))
            dur = st.duration_ms or track.duration_ms
            if not dur:
                raise InputError("the video duration is unknown, so captions cannot be timed", source=st.input_uri)
            with ctx.workdir("speak") as d:
                for name, fn in (("srt", captions.to_srt), ("vtt", captions.to_vtt)):
                    fname = OUTPUT_NAMES[name]
                    if not folder.exists(fname):
                        (d / fname).write_text(fn(tr, ctx.settings, track=track, duration_ms=dur), encoding="utf-8")
                        ctx.put(folder, fname, d / fname)
                    st.outputs[name] = folder.uri(fname)
                if not folder.exists(NARRATION):
                    wav = speech.narrate(tr, dur, ctx.settings, d / NARRATION, track=track)
                    ctx.put(folder, NARRATION, wav)
                st.outputs["narration"] = folder.uri(NARRATION)
        _guard(st, "speak", one, errors)
    _raise_if_all_storage(len(todo), errors)


# -------------------------------------------------------------------------------- mux
def mux_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """The original video stream copied, narration as the default audio, soft captions."""
    todo = [st for st in states if st.active]
    if not todo:
        return
    mod = _stage_module("mux", "signbridge.mux", todo)
    if mod is None:
        return
    errors: list = []
    for st in todo:
        def one(st: VideoState = st) -> None:
            folder = ctx.folder(st)
            if not folder.exists(VIDEO):
                with ctx.workdir("mux") as d:
                    video = ctx.fetch(st.input_uri, d)
                    got = {n: folder.get_file(OUTPUT_NAMES[n], d / OUTPUT_NAMES[n])
                           for n in ("srt", "vtt", "narration") if n in st.outputs}
                    out = mod.mux_video(video, d / "out" / VIDEO, narration=got.get("narration"), srt=got.get("srt"),
                                        vtt=got.get("vtt"), settings=ctx.settings)
                    ctx.put(folder, VIDEO, out)
            st.outputs["video"] = folder.uri(VIDEO)
        _guard(st, "mux", one, errors)
    _raise_if_all_storage(len(todo), errors)


# ------------------------------------------------------------------------- finishing
def finish_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Mark finished folders complete (``result.json``, written last): later runs skip them."""
    for st in states:
        if not st.active:
            continue

        def one(st: VideoState = st) -> None:
            res = dataclasses.asdict(st.to_result())
            res["duration_ms"] = st.duration_ms
            res["run_id"] = ctx.run_id
            ctx.put_json(ctx.folder(st), RESULT, res)
        _guard(st, "publish", one)


def write_run_record(states: Sequence[VideoState], ctx: Context, *, extra_settings: dict | None = None,
                     report: bool = True) -> dict[str, str]:
    """The run manifest (validated against the contract) and the HTML report, next to the outputs."""
    from signbridge.records import RunManifest

    s = ctx.settings
    manifest = RunManifest(videos=[st.to_result() for st in sorted(states, key=lambda x: x.index)],
                           run_id=ctx.run_id,
                           settings={"output": ctx.output_uri, "fingerprint": ctx.fp, **output_params(s),
                                     **(extra_settings or {})})
    doc = manifest.to_dict()
    run = ctx.run_store()
    uris = {"manifest": ctx.put_json(run, "manifest.json", doc)}
    if report:
        from signbridge.orchestrate.report import render_report

        try:
            html = render_report(doc, states, ctx)
            uris["report"] = run.put_bytes("report.html", html.encode("utf-8"), "text/html; charset=utf-8")
        except StorageError:
            raise
        except Exception as e:  # noqa: BLE001 - a report problem must not lose the manifest
            log.exception("the HTML report could not be written: %s", e)
    return uris


# ------------------------------------------------------------------------ one video
def run_video(video: str, settings: Settings, output: str | None = None, *, workers: int | None = None,
              run_id: str | None = None, on_stage: Callable[[str], None] | None = None
              ) -> tuple[VideoState, dict[str, str]]:
    """One video end to end without Airflow, through the same steps the DAG tasks call."""
    states, bad = list_inputs([video], settings)
    if bad:
        raise InputError(bad[0].error or "no video", source=video)
    st = states[0]
    with Context(settings, output, run_id=run_id) as ctx:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("check", lambda: (lookup_done([st], ctx), st.active and probe_durations([st], ctx))),
            ("extract", lambda: extract_videos([st], ctx, workers=workers)),
            ("recognize", lambda: recognize_videos([st], ctx)),
            ("compose", lambda: compose_videos([st], ctx)),
            ("speak", lambda: speak_videos([st], ctx)),
            ("mux", lambda: mux_videos([st], ctx)),
            ("publish", lambda: finish_videos([st], ctx)),
        ]
        for name, step in steps:
            if not st.active:
                break
            if on_stage:
                on_stage(name)
            step()
        uris = write_run_record([st], ctx, extra_settings={"runner": "signbridge run"})
    return st, uris


def iter_outputs(st: VideoState) -> Iterable[tuple[str, str]]:
    order = list(OUTPUT_NAMES)
    return sorted(st.outputs.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
