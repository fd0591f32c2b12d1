"""``signbridge results RUN_OR_PREFIX --to DIR``: a run's outputs as plain local files.

Layout of DIR: ``report.html`` and ``manifest.json`` of the run side by side, and one folder per
video named after the video (``DIR/<video name>/video.mp4``, ``captions.srt``, ...). The copy is
parallel, resumable and checksum-verified (:mod:`signbridge.storage.download`); the report's links,
players and caption tracks are rewritten to the local files. ``signbridge process`` uses the same code
to mirror the results of local inputs into ``signbridge-results/``, and the review page to refresh one
video of the copy after a render (the store stays the source of truth).
"""
from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Collection
from urllib.parse import quote, unquote

from signbridge.errors import StorageError

RUNS = "runs"


@dataclass
class LocalResults:
    folder: str
    run_id: str | None
    report: str | None = None
    manifest: str | None = None
    videos: dict[str, dict[str, str]] = field(default_factory=dict)  # input uri -> output name -> local path
    files: int = 0
    fresh: int = 0


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json, hidden_alias

    p = sub.add_parser("results", help="download a run's outputs (or any prefix) to a local folder",
                       description="Copy the outputs of a run (its id, 'latest', or the URI of its runs/<id> "
                                   "folder) into DIR: report.html and manifest.json, and a folder per video. "
                                   "Any other s3:// prefix or folder is copied as it is. Parallel, resumable "
                                   "(files already there with the right checksum are kept) and checksum-verified.")
    add_common(p)
    p.add_argument("ref", metavar="RUN_OR_PREFIX")
    p.add_argument("--to", required=True, metavar="DIR", help="destination folder")
    p.add_argument("-o", "--output", help="the output root the run wrote to (SIGNBRIDGE_OUTPUT)")
    p.add_argument("-j", "--jobs", type=int, default=8, help="parallel downloads (default 8)")
    hidden_alias(p, "--threads", "jobs", type=int)  # deprecated: --threads means torch threads elsewhere
    add_json(p, "where every file was copied")
    p.set_defaults(func=_results)


def _results(args) -> int:
    import dataclasses

    from signbridge.cli import emit, settings_from_args

    res = fetch_results(args.ref, settings_from_args(args), Path(args.to), threads=args.jobs)
    if emit(args, dataclasses.asdict(res)):
        return 0
    for uri, files in res.videos.items():
        print(uri)
        for name, path in files.items():
            print(f"    {name:<12} {path}")
    if res.report:
        print(f"report:   {res.report}")
    if res.manifest:
        print(f"manifest: {res.manifest}")
    print(f"{res.files} file(s) in {res.folder} ({res.fresh} copied, {res.files - res.fresh} already there)")
    return 0


def _run_store(ref: str, settings):
    """(run folder store, run id) for a run id, 'latest', or a runs/<id> URI; (prefix store, None) otherwise."""
    from signbridge.storage import open_store

    if "://" in ref or ref.startswith((".", "/", "~")) or Path(ref).exists():
        store = open_store(ref.rstrip("/"), settings)
        return store, (PurePosixPath(ref.rstrip("/")).name if store.exists("manifest.json") else None)
    runs = open_store(settings.output, settings).child(RUNS)
    if ref == "latest":
        ids = sorted({o.key.split("/", 1)[0] for o in runs.list() if o.key.endswith("/manifest.json")})
        if not ids:
            raise StorageError(f"no finished run under {runs.uri()}")
        ref = ids[-1]
    run = runs.child(ref)
    if not run.exists("manifest.json"):
        raise StorageError(f"no run {ref!r} (no manifest at {run.uri('manifest.json')})",
                           hint=f"list the runs with `signbridge storage ls {runs.uri()}/`, or give -o OUTPUT")
    return run, ref


def folder_names(videos: list[dict]) -> dict[str, str]:
    """input uri -> a local folder name: the video's file name, made unique with its sha256."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for v in videos:
        base = re.sub(r"[\x00-\x1f/\\]", "_", PurePosixPath(v["input_uri"].rstrip("/")).stem) or "video"
        name = base if base not in taken else f"{base}-{(v.get('sha256') or '')[:8] or len(taken)}"
        taken.add(name)
        names[v["input_uri"]] = name
    return names


def fetch_results(ref: str, settings, dest: Path, *, threads: int = 8, only: Collection[str] | None = None
                  ) -> LocalResults:
    """Copy the run (or prefix) ``ref`` into ``dest``; ``only``: the input URIs whose files are copied
    (the report and manifest are always rewritten, for every video)."""
    from signbridge.review.revise import CURRENT as REVIEW_CURRENT
    from signbridge.storage import open_store
    from signbridge.storage.download import copy_objects, copy_prefix

    store, run_id = _run_store(ref, settings)
    dest = Path(dest).expanduser().resolve()
    if run_id is None:
        copied = copy_prefix(store, dest, threads=threads)
        return LocalResults(str(dest), None, files=len(copied), fresh=sum(c.fresh for c in copied))
    manifest = json.loads(store.get_bytes("manifest.json"))
    root = manifest.get("settings", {}).get("output") or settings.output
    out = open_store(root, settings)
    prefix = out.root_uri.rstrip("/") + "/"
    names = folder_names([v for v in manifest["videos"] if v.get("outputs")])
    jobs, local, res = [], {}, LocalResults(str(dest), run_id)
    listed: dict[str, dict] = {}
    vtts: list[str] = []
    for v in manifest["videos"]:
        for name, uri in (v.get("outputs") or {}).items():
            if not uri.startswith(prefix):
                continue
            key = uri[len(prefix):]
            rel = f"{names[v['input_uri']]}/{PurePosixPath(key).name}"
            local[uri] = quote(rel)
            vtts += [uri] if name == "vtt" else []
            if only is not None and v["input_uri"] not in only:
                continue
            folder = key.rsplit("/", 1)[0]
            if folder not in listed:
                listed[folder] = {o.key: o for o in out.list(folder + "/")}
            info = listed[folder].get(key)
            if info is None and f"{folder}/{REVIEW_CURRENT}" in listed[folder]:
                (dest / rel).unlink(missing_ok=True)  # a reviewed render with no signing left removed it
                continue
            if info is None:
                raise StorageError(f"the run's manifest names {uri}, but it is not in the store")
            jobs.append((out, info, dest / rel))
            res.videos.setdefault(v["input_uri"], {})[name] = str(dest / rel)
    copied = copy_objects(jobs, threads)
    res.files, res.fresh = len(copied), sum(c.fresh for c in copied)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "manifest.json").write_bytes(store.get_bytes("manifest.json"))
    res.manifest = str(dest / "manifest.json")
    if store.exists("report.html"):
        from signbridge.pipeline.report_links import relink

        captions = {u: (dest / unquote(local[u])).read_text(encoding="utf-8") for u in vtts
                    if (dest / unquote(local[u])).is_file()}
        html = relink(store.get_bytes("report.html").decode("utf-8"), local, captions)
        (dest / "report.html").write_text(html, encoding="utf-8")
        res.report = str(dest / "report.html")
    return res
