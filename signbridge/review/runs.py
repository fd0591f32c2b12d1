"""Review by run: a run's folder or its local copy stands for the store folders of that run's videos.

``signbridge process`` and ``signbridge results --to`` write a local copy of a run (``manifest.json``,
``report.html``, a folder per video named after it). Its ``manifest.json`` says which output root the run
wrote to and which result folder each video has there. The store stays the source of truth: revisions
and renders are written to those folders, and the local copy is refreshed from them after each render
(the same checksum-verified copy ``results --to`` makes), so the two never diverge.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signbridge.errors import InputError

FOLDER_ID = re.compile(r"[0-9a-f]{16}-[0-9a-f]{10}")  # <sha256[:16]>-<settings hash>
MANIFEST = "manifest.json"


@dataclass
class RunResults:
    """One run's videos in the store, and where its local copy is (``None``: reviewing the run folder)."""

    run_id: str
    root: str  # the output root the run wrote to (the store)
    folders: dict[str, str]  # result folder id -> input uri
    manifest_uri: str
    local: Path | None = None
    names: dict[str, str] = field(default_factory=dict)  # result folder id -> the local copy's folder name

    @property
    def run_uri(self) -> str:
        return f"{self.root.rstrip('/')}/runs/{self.run_id}"


def store_of(uri: str) -> str:
    """Where the results behind ``uri`` are: the output root a local copy's manifest names, else ``uri``."""
    path = Path(uri).expanduser() / MANIFEST
    if "://" in uri or not path.is_file():
        return uri
    try:
        return str((json.loads(path.read_bytes()).get("settings") or {}).get("output") or uri)
    except (ValueError, AttributeError):
        return uri  # open_run names the broken manifest


def _manifest(uri: str, settings) -> tuple[dict[str, Any], str] | None:
    """The run manifest at the root of ``uri`` (a folder or prefix), or None when there is none."""
    if "://" not in uri:
        path = Path(uri).expanduser() / MANIFEST
        return (json.loads(path.read_bytes()), str(path.resolve())) if path.is_file() else None
    from signbridge.storage import open_store

    store = open_store(uri.rstrip("/"), settings)
    return (json.loads(store.get_bytes(MANIFEST)), store.uri(MANIFEST)) if store.exists(MANIFEST) else None


def open_run(uri: str, settings) -> RunResults | None:
    """The run behind ``uri`` when it holds a run manifest (a local copy or a ``runs/<id>`` folder)."""
    from signbridge.orchestrate.results import folder_names

    found = _manifest(uri, settings)
    if found is None:
        return None
    manifest, where = found
    root = (manifest.get("settings") or {}).get("output")
    if not root or not manifest.get("run_id") or not isinstance(manifest.get("videos"), list):
        raise InputError("this manifest does not say which run it is or where its results are (run_id, "
                         "settings.output)", source=where, hint="give the run's local results folder or its "
                                                                "output prefix")
    prefix = root.rstrip("/") + "/"
    folders: dict[str, str] = {}
    for v in manifest["videos"]:
        for out in (v.get("outputs") or {}).values():
            head = out[len(prefix):].split("/", 1)[0] if out.startswith(prefix) else ""
            if FOLDER_ID.fullmatch(head):
                folders[head] = v["input_uri"]
                break
    run = RunResults(str(manifest["run_id"]), root.rstrip("/"), folders, where)
    if "://" not in uri and not _is_run_folder(Path(uri), run):
        run.local = Path(uri).expanduser().resolve()
        names = folder_names([v for v in manifest["videos"] if v.get("outputs")])
        run.names = {vid: names[inp] for vid, inp in folders.items()}
    return run


def _is_run_folder(path: Path, run: RunResults) -> bool:
    """Is ``path`` the run's own ``runs/<id>`` folder in a local output root (not a copy of it)?"""
    return "://" not in run.root and path.resolve() == Path(run.run_uri).expanduser().resolve()


def local_video(folder: str, settings) -> tuple[RunResults, str] | None:
    """(run, result folder id) when ``folder`` is one video's folder of a local copy, else None."""
    path = Path(folder).expanduser()
    if "://" in folder or not (path.parent / MANIFEST).is_file():
        return None
    run = open_run(str(path.parent), settings)
    if run is None or run.local is None:
        return None
    vid = next((v for v, name in run.names.items() if name == path.resolve().name), None)
    return (run, vid) if vid else None


def refresh(run: RunResults, vid: str, settings) -> dict[str, str]:
    """Copy video ``vid``'s current files from the store into the local copy (only what changed) and
    rewrite its report; returns output name -> local path."""
    from signbridge.orchestrate.results import fetch_results

    assert run.local is not None
    res = fetch_results(run.run_uri, settings, run.local, only={run.folders[vid]})
    return res.videos.get(run.folders[vid], {})


def refresh_quietly(run: RunResults | None, vid: str, settings) -> dict[str, Any]:
    """``refresh`` for the callers that already published a render: a failure is reported, not raised
    (the render is safe in the store, and ``signbridge results`` copies it again)."""
    from signbridge.errors import SignBridgeError

    if run is None or run.local is None:
        return {}
    try:
        return {"local_copy": {"folder": str(run.local), "files": refresh(run, vid, settings)}}
    except (SignBridgeError, OSError) as e:
        return {"local_copy_error": f"the render is in the store, but the local copy {run.local} was not updated "
                                    f"({e}); `signbridge results {run.run_uri} --to {run.local}` copies it"}
