"""Where a run's files live: result folder names, the files in them, and their content types.

One table for every writer (the pipeline steps, ``signbridge mux --publish``, ``revise``), so a result
folder looks the same whichever command wrote it, locally and in a bucket.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from typing import Iterable, Mapping

from signbridge.errors import InvalidKeyError

# output name -> file name inside a video's result folder, in the order a reader wants them
RESULT_FILES: dict[str, str] = {
    "landmarks": "landmarks.parquet",
    "gloss_track": "gloss_track.json",
    "transcript": "transcript.json",
    "srt": "captions.srt",
    "vtt": "captions.vtt",
    "narration": "narration.wav",
    "video": "video.mp4",
}
LANDMARKS = RESULT_FILES["landmarks"]
GLOSS_TRACK = RESULT_FILES["gloss_track"]
TRANSCRIPT = RESULT_FILES["transcript"]
SRT = RESULT_FILES["srt"]
VTT = RESULT_FILES["vtt"]
NARRATION = RESULT_FILES["narration"]
VIDEO = RESULT_FILES["video"]
VIDEO_WEBM = "video.webm"  # ``signbridge mux --webm``
RESULT = "result.json"  # written last: the folder is complete when this exists
RUNS = "runs"  # <output>/runs/<run_id>/{manifest.json,report.html,state/...}
INDEX = "_index"  # <output>/_index/<source id>.json: object (uri, size, etag) -> sha256
STAGING = "_staging"  # <output>/_staging/<folder>/chunk-*.npz: chunks of a long video until merged

CONTENT_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json",
                 ".srt": "application/x-subrip", ".vtt": "text/vtt", ".wav": "audio/wav", ".mp4": "video/mp4",
                 ".webm": "video/webm", ".npz": "application/octet-stream", ".html": "text/html"}


def content_type(name: str) -> str | None:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower())


def folder_for(sha256: str, fp: str) -> str:
    """A video's result folder: ``<sha256[:16]>-<settings hash>``, the same for the same bytes and settings."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise InvalidKeyError(f"not a sha256 hex digest: {sha256!r}")
    return f"{sha256[:16]}-{fp}"


def source_id(uri: str, size: int | None, etag: str | None) -> str | None:
    """Identity of an object version without reading it (None when the store gives no etag)."""
    if not etag or size is None:
        return None
    return hashlib.sha256(f"{uri}\n{size}\n{etag}".encode()).hexdigest()[:40]


def ordered_outputs(outputs: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    """Outputs in the table's order (unknown names last)."""
    order = list(RESULT_FILES)
    return sorted(outputs.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))


def publish_files(store, prefix: str, files: Mapping[str, object]) -> dict[str, str]:
    """Upload ``files`` (name -> local path) under ``prefix`` of a Store, keeping file names; name -> URI."""
    from pathlib import Path

    from signbridge.storage import join_key

    uris: dict[str, str] = {}
    for name, path in files.items():
        p = Path(str(path))
        key = join_key(prefix, p.name) if prefix else p.name
        uris[name] = store.put_file(key, p, content_type=content_type(p.name))
    return uris
