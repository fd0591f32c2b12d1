"""One run's (or one task's) settings, output store and scratch folder."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from signbridge.errors import InputError, SignBridgeError
from signbridge.pipeline.fingerprint import fingerprint
from signbridge.pipeline.layout import RUNS, content_type
from signbridge.pipeline.state import VideoState, new_run_id
from signbridge.processes import alive, create_time
from signbridge.settings import Settings


def clean_stale_scratch(base: Path) -> int:
    """Remove scratch folders whose process is gone (a killed worker's downloaded videos must not
    outlive their run). Its ``.pid`` file holds the owner's PID and create time, so a folder whose PID
    now belongs to another process is removed too. Returns how many were removed."""
    n = 0
    for d in base.iterdir() if base.is_dir() else ():
        try:
            pid, _, started = (d / ".pid").read_text().strip().partition(" ")
            if alive(int(pid), float(started) if started else None):
                continue
        except (OSError, ValueError):
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
            (self._scratch / ".pid").write_text(f"{os.getpid()} {create_time(os.getpid())}")
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

    def fp_for(self, st: VideoState) -> str:
        """The settings hash of one video's result folder: a word list or script changes its outputs."""
        if not st.hints:
            return self.fp
        import hashlib

        from signbridge.recognize.hints import HintTexts

        digest = HintTexts.from_dict(st.hints).digest()
        return hashlib.sha256(f"{self.fp}:{digest}".encode()).hexdigest()[:len(self.fp)]

    def run_store(self):
        return self.out.child(f"{RUNS}/{self.run_id}")

    def input_store(self, uri: str):
        """The bucket's store and the key of an ``s3://`` input (one client per bucket)."""
        from signbridge.storage import open_store
        from signbridge.storage.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        if bucket not in self._stores:
            self._stores[bucket] = open_store(f"s3://{bucket}", self.settings)
        return self._stores[bucket], key

    def fetch(self, uri: str, dest_dir: Path) -> Path:
        """A local path for an input video (downloaded when it is in S3)."""
        if uri.startswith("s3://"):
            store, key = self.input_store(uri)
            return store.get_file(key, dest_dir / (PurePosixPath(key).name or "video"))
        p = Path(uri)
        if not p.is_file():
            raise InputError("file not found" if not p.exists() else "not a file", source=uri)
        return p

    def put(self, store, name: str, path: Path) -> str:
        return store.put_file(name, path, content_type(name))

    def put_json(self, store, name: str, doc: Any) -> str:
        return store.put_bytes(name, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(),
                               "application/json")

    def get_json(self, store, name: str) -> Any:
        return json.loads(store.get_bytes(name))


