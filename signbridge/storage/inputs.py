"""Which videos the user named: files, folders and ``s3://`` prefixes, found one way for every command.

``signbridge process``/``run``, the DAG's discover task, ``signbridge extract`` and ``dataset build``
all take their inputs from here, so they agree on what counts as a video (a labels CSV beside the
clips is not one) and name each video the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterable

from signbridge.errors import InputError, SignBridgeError

if TYPE_CHECKING:
    from signbridge.settings import Settings
    from signbridge.storage.base import Store

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                              ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".y4m"})


@dataclass
class InputVideo:
    """One input video: where it is and the name its outputs get (relative key without extension)."""

    uri: str
    name: str
    size: int | None = None
    etag: str | None = None
    local_path: str | None = None  # set for local files
    store: Any = None  # the bucket's Store, set for s3 objects
    key: str | None = None  # the object's key in that store
    extra: dict = field(default_factory=dict)


@dataclass
class BadInput:
    """An input that names no usable video (an empty folder, an unreadable prefix)."""

    uri: str
    name: str
    error: SignBridgeError


def is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


def _stem(rel: str) -> str:
    p = PurePosixPath(rel)
    return str(p.with_suffix("")) if p.suffix else str(p)


def find_videos(inputs: Iterable[str], settings: "Settings", *, strict: bool = True
                ) -> tuple[list[InputVideo], list[BadInput]]:
    """Expand inputs into videos, in a stable order; the same video named twice counts once.

    In a folder or prefix only video file names count; a file named explicitly is always taken, so
    a wrong file gets a specific error from the stage that reads it. With ``strict`` a store that
    cannot be listed raises (the caller, an Airflow task, retries); otherwise it is one bad input.
    """
    found: list[InputVideo] = []
    bad: list[BadInput] = []
    buckets: dict[str, "Store"] = {}  # one client per bucket: a run may name thousands of objects
    for raw in inputs:
        try:
            if raw.startswith("s3://"):
                _find_in_s3(raw, settings, buckets, found, bad)
            else:
                _find_local(raw, found, bad)
        except SignBridgeError as e:
            if strict:
                raise
            bad.append(BadInput(raw, _stem(raw.rstrip("/").rsplit("/", 1)[-1]) or "input", e))
    unique: list[InputVideo] = []
    seen: set[str] = set()
    for v in found:
        if v.uri not in seen:
            seen.add(v.uri)
            unique.append(v)
    _dedupe_names(unique)
    return unique, bad


def _find_in_s3(raw: str, settings: "Settings", buckets: dict, found: list, bad: list) -> None:
    from signbridge.storage import open_store
    from signbridge.storage.s3 import parse_s3_uri

    bucket, prefix = parse_s3_uri(raw)
    if bucket not in buckets:
        buckets[bucket] = open_store(f"s3://{bucket}", settings)
    root = buckets[bucket]
    objs = list(root.list(prefix))
    exact = [o for o in objs if o.key == prefix]
    if exact:  # a single object, video or not: its stage names what is wrong with it
        o = exact[0]
        stem_key = o.key.rsplit(".", 1)[0] if "." in PurePosixPath(o.key).name else o.key
        keys = {x.key for x in root.list(stem_key)} if stem_key != o.key else {x.key for x in objs}
        found.append(InputVideo(f"s3://{bucket}/{o.key}", _stem(PurePosixPath(o.key).name), size=o.size,
                                etag=o.etag, store=root, key=o.key, extra=_sidecars(o.key, keys, f"s3://{bucket}/")))
        return
    base = prefix.rstrip("/") + "/" if prefix else ""
    vids = sorted((o for o in objs if o.key.startswith(base) and is_video_name(o.key)), key=lambda o: o.key)
    if not vids:
        bad.append(BadInput(raw, _stem(prefix.rsplit("/", 1)[-1]) or bucket,
                            InputError("no video files under this prefix", source=raw,
                                       hint=f"extensions read: {', '.join(sorted(VIDEO_EXTENSIONS))}")))
    keys = {o.key for o in objs}
    found += [InputVideo(f"s3://{bucket}/{o.key}", _stem(o.key[len(base):]), size=o.size, etag=o.etag,
                         store=root, key=o.key, extra=_sidecars(o.key, keys, f"s3://{bucket}/")) for o in vids]


def _find_local(raw: str, found: list, bad: list) -> None:
    p = Path(raw)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and is_video_name(f.name))
        if not files:
            bad.append(BadInput(str(p), p.name or "input", InputError(
                "no video files in this folder", source=str(p),
                hint=f"extensions read: {', '.join(sorted(VIDEO_EXTENSIONS))}")))
        for f in files:
            r = f.resolve()
            found.append(InputVideo(str(r), _stem(f.relative_to(p).as_posix()), size=r.stat().st_size,
                                    local_path=str(r), extra=_local_sidecars(r)))
        return
    # a missing or odd file is reported by the stage that reads it, with a specific reason
    uri = str(p.resolve()) if p.exists() else raw
    found.append(InputVideo(uri, _stem(p.name) or "input", size=p.stat().st_size if p.is_file() else None,
                            local_path=uri, extra=_local_sidecars(p) if p.is_file() else {}))


def _sidecars(key: str, keys: set[str], root: str) -> dict:
    """``{"sidecars": {"vocabulary": uri, "script": uri}}`` for the hint files stored beside a video."""
    folder, _, name = key.rpartition("/")
    pre = folder + "/" if folder else ""
    return _find_sidecars(name, lambda cand: root + pre + cand if pre + cand in keys else None)


def _local_sidecars(path: Path) -> dict:
    def found(cand: str) -> str | None:
        return str((path.parent / cand).resolve()) if (path.parent / cand).is_file() else None

    return _find_sidecars(path.name, found)


def _find_sidecars(video_name: str, locate) -> dict:
    """The first sidecar name of each kind that ``locate(name)`` finds (it returns the file's URI or None)."""
    from signbridge.recognize.hints import SCRIPT_SIDECAR, VOCAB_SIDECAR, sidecar_names

    out = {}
    for kind, suffix in (("vocabulary", VOCAB_SIDECAR), ("script", SCRIPT_SIDECAR)):
        uri = next(filter(None, map(locate, sidecar_names(video_name, suffix))), None)
        if uri:
            out[kind] = uri
    return {"sidecars": out} if out else {}


def _dedupe_names(videos: list[InputVideo]) -> None:
    seen: dict[str, int] = {}
    for v in videos:
        n = seen.get(v.name, 0)
        seen[v.name] = n + 1
        if n:
            v.name = f"{v.name}-{n + 1}"
