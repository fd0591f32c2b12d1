"""A run's results as the review page sees them: the videos, their folders, and their source video bytes.

The results are an output root (a folder or ``s3://`` prefix holding result folders), or one run: its
``runs/<id>`` folder or its local copy (:mod:`signbridge.review.runs`), which stand for that run's
result folders in the store. Everything is looked up from a video id, which must be the name of a
result folder (``<sha256[:16]>-<settings hash>``) under the results root: a request can never name
a key or path of its own, so nothing outside the results (or the one source video
each folder records) is ever read. Source videos are streamed by byte range straight
from the store or file; no frame or copy is written anywhere.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from signbridge.errors import InputError, StorageError
from signbridge.pipeline.layout import RESULT
from signbridge.review import revisions as rv
from signbridge.review.runs import FOLDER_ID, RunResults, open_run
from signbridge.settings import Settings

QUEUE = "_review_queue"  # <results>/_review_queue/<folder>.json: revisions saved and not yet rendered
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
               ".mkv": "video/x-matroska", ".ogv": "video/ogg"}
CHUNK = 1 << 20


@dataclass
class Source:
    """The original video of one result folder, readable by byte range."""

    uri: str
    size: int
    content_type: str
    _store: Any = None  # a Store of the bucket (read through presigned URLs), or None for a local file
    _key: str = ""

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` inclusive, in chunks."""
        if self._store is None:
            with open(self.uri, "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    b = f.read(min(CHUNK, left))
                    if not b:
                        return
                    left -= len(b)
                    yield b
            return
        import urllib.request

        req = urllib.request.Request(self._store.presigned_url(self._key, 300), headers={"Range": f"bytes={start}-{end}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as body:
                yield from iter(lambda: body.read(CHUNK), b"")
        except OSError as e:
            raise StorageError(f"cannot read the original video ({e})", source=self.uri) from None


class Results:
    """The results of a run: an output root (a local folder or ``s3://`` prefix), or one run's folder or
    local copy, whose videos are then that run's result folders in the store it wrote to."""

    def __init__(self, uri: str, settings: Settings):
        from signbridge.storage import open_store

        self.settings = settings
        self.given = uri
        self.run: RunResults | None = open_run(uri, settings)
        self.store = open_store(self.run.root if self.run else uri, settings)
        self.uri = self.store.uri()

    @property
    def label(self) -> str:
        """What the page's header says it reviews."""
        if self.run is None:
            return self.uri
        where = f"local copy {self.run.local}, " if self.run.local else ""
        return f"run {self.run.run_id} ({where}results in {self.uri})"

    def folder(self, vid: str):
        """The Store of video ``vid``; anything that is not a result folder name is refused."""
        if not FOLDER_ID.fullmatch(vid or "") or (self.run and vid not in self.run.folders) \
                or not self.store.exists(f"{vid}/{rv.GLOSS_TRACK}"):
            raise InputError(f"no video {vid!r} in these results", source=self.uri)
        return self.store.child(vid)

    def _keys(self) -> dict[str, set[str]]:
        """Result folder -> its keys: every folder of the output root, or the run's folders."""
        by_folder: dict[str, set[str]] = {}
        if self.run is not None:
            for vid in self.run.folders:
                by_folder[vid] = {o.key for o in self.store.child(vid).list("")}
            return by_folder
        for o in self.store.list(""):
            head, _, rest = o.key.partition("/")
            if FOLDER_ID.fullmatch(head):
                by_folder.setdefault(head, set()).add(rest)
        return by_folder

    def videos(self) -> list[dict[str, Any]]:
        """One summary per result folder with a gloss track, newest revision and render included."""
        out = []
        for vid, keys in sorted(self._keys().items()):
            if rv.GLOSS_TRACK in keys:
                out.append(self._summary(vid, keys))
        return sorted(out, key=lambda v: v["name"])

    def require_videos(self) -> None:
        """One clear error when there is nothing to review here, naming what was expected and what would work."""
        if self.run is not None:
            if not self.run.folders:
                raise InputError(f"run {self.run.run_id} has no video with results (every video failed)",
                                 source=self.run.manifest_uri, hint="its report.html says why")
            if not any(self.store.exists(f"{vid}/{rv.GLOSS_TRACK}") for vid in self.run.folders):
                raise InputError(f"the results of run {self.run.run_id} are not in {self.uri}, where its manifest "
                                 "says they are", source=self.run.manifest_uri,
                                 hint="start the store the run wrote to (`signbridge storage up`, or set "
                                      "AWS_ENDPOINT_URL and credentials) and try again")
            return
        if _first_result(self.store) is None:
            missing = "://" not in self.given and not Path(self.given).expanduser().exists()
            raise InputError(("does not exist" if missing else "holds no results to review") + _EXPECTED,
                             source=self.given, hint=_what_works(self.given, self.settings))

    def summary(self, vid: str) -> dict[str, Any]:
        """The index row of one video (lists its folder only)."""
        folder = self.folder(vid)
        return self._summary(vid, {o.key for o in folder.list("")})

    def _summary(self, vid: str, keys: set[str]) -> dict[str, Any]:
        folder = self.store.child(vid)
        res = json.loads(folder.get_bytes(RESULT)) if RESULT in keys else {}
        track = json.loads(folder.get_bytes(rv.GLOSS_TRACK))
        revs = sorted(k for k in keys if k.startswith(rv.REVISIONS + "/"))
        current = json.loads(folder.get_bytes("review/current.json")) if "review/current.json" in keys else {}
        uri = res.get("input_uri") or track["source"]["uri"]
        spans = track["spans"]
        return {"id": vid, "name": Path(uri).name, "input_uri": uri, "status": res.get("status", "incomplete"),
                "duration_ms": res.get("duration_ms") or track["source"].get("duration_ms"),
                "signs": len(spans), "unclear": sum(1 for s in spans if s["kind"] == "unknown"),
                "revisions": len(revs), "reviewed": bool(revs), "rendered": current.get("revision"),
                "queued": self.store.exists(f"{QUEUE}/{vid}.json")}

    def refresh_local(self, vid: str) -> dict[str, Any]:
        """After a render of ``vid``: its new files into the local copy being reviewed, if any."""
        from signbridge.review.runs import refresh_quietly

        return refresh_quietly(self.run, vid, self.settings)

    def source(self, vid: str) -> Source:
        from signbridge.storage import open_store
        from signbridge.storage.s3 import parse_s3_uri

        folder = self.folder(vid)
        uri = (json.loads(folder.get_bytes(RESULT)).get("input_uri") if folder.exists(RESULT)
               else None) or json.loads(folder.get_bytes(rv.GLOSS_TRACK))["source"]["uri"]
        ctype = VIDEO_TYPES.get(Path(uri).suffix.lower(), "application/octet-stream")
        if uri.startswith("s3://"):
            bucket, key = parse_s3_uri(uri)
            store = open_store(f"s3://{bucket}", self.settings)
            size = next((o.size for o in store.list(key) if o.key == key), None)
            if size is None:
                raise InputError("the original video is no longer in the store", source=uri)
            return Source(uri, size, ctype, store, key)
        p = Path(uri)
        if not p.is_file():
            raise InputError("the original video is no longer where the run read it", source=uri)
        return Source(str(p), p.stat().st_size, ctype)

    def queue(self, vid: str, revision: str) -> None:
        """Mark ``vid`` for the ``signbridge_revise`` DAG (its sensor turns the queue into an asset event)."""
        self.store.put_bytes(f"{QUEUE}/{vid}.json", json.dumps({"revision": revision}).encode(), "application/json")

    def queued(self) -> list[str]:
        return sorted(o.key[len(QUEUE) + 1:-5] for o in self.store.list(QUEUE + "/") if o.key.endswith(".json"))

    def dequeue(self, vid: str, revision: str) -> None:
        """Drop ``vid`` from the queue if ``revision`` is still what it waits for (a newer save stays queued)."""
        key = f"{QUEUE}/{vid}.json"
        if self.store.exists(key) and json.loads(self.store.get_bytes(key)).get("revision") == revision:
            self.store.delete(key)


_EXPECTED = (": expected a run's local results (manifest.json and a folder per video, as "
            "`signbridge process` and `signbridge results --to` write them) or an output folder or s3:// prefix "
            "holding <sha256[:16]>-<settings hash>/ result folders")


def _first_result(store) -> str | None:
    """The first result folder with a gloss track (stops listing there)."""
    for o in store.list(""):
        head, _, rest = o.key.partition("/")
        if rest == rv.GLOSS_TRACK and FOLDER_ID.fullmatch(head):
            return head
    return None


def _what_works(given: str, settings: Settings) -> str:
    """The review command that would open results here: the default local copy, the store's output root,
    or (neither holding any) what to run first."""
    from signbridge.errors import SignBridgeError
    from signbridge.storage import open_store

    copy = Path(settings.results).expanduser()
    if settings.results.strip().lower() not in ("", "none") and (copy / "manifest.json").is_file() \
            and copy.resolve() != Path(given).expanduser().resolve():
        return f"its local results are opened with `signbridge review {settings.results}`"
    if settings.output.rstrip("/") != given.rstrip("/"):
        try:
            if _first_result(open_store(settings.output, settings)) is not None:
                return f"`signbridge review` with no argument opens the store's results in {settings.output}"
        except SignBridgeError:
            pass
    return ("process videos first: `signbridge process VIDEOS` writes ./signbridge-results, then "
            "`signbridge review ./signbridge-results`")
