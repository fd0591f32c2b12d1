"""``revise``: one result folder re-rendered from a reviewed gloss track, redoing only what changed.

Sentences whose spans did not change keep their text and their narration samples;
the others are recomposed (the configured composer) and re-narrated. Captions are
re-timed as a whole (a changed sentence moves its neighbours' reading time). The
new transcript, captions, narration and video become the folder's current outputs;
before that, the outputs they replace are kept under ``review/renders/<revision>/``
(``model`` for the machine's first render), and ``review/current.json``, written
last, names the revision the current outputs come from and each file's sha256.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from signbridge.errors import InputError
from signbridge.pipeline.layout import NARRATION, RESULT, SRT, TRANSCRIPT, VIDEO, VTT, content_type
from signbridge.records import GlossSpan, GlossTrack, Sentence, Transcript
from signbridge.review import revisions as rv
from signbridge.review.narration import CachedVoice, SpliceStats, splice
from signbridge.settings import Settings

log = logging.getLogger(__name__)

CURRENT = "review/current.json"
RENDERS = "review/renders"
MODEL = "model"  # the revision name of the machine's own outputs
OUTPUTS = (TRANSCRIPT, SRT, VTT, NARRATION, VIDEO)  # what a render replaces (and keeps the previous of)


def current(folder) -> dict[str, Any]:
    """What the folder's current outputs were rendered from (``model`` until a first revise)."""
    if folder.exists(CURRENT):
        return json.loads(folder.get_bytes(CURRENT))
    return {"revision": MODEL}


def _span_key(s: GlossSpan) -> tuple:
    return (s.label, s.kind, round(s.start_ms), round(s.end_ms))


def _sentence_key(sent: Sentence, track: GlossTrack) -> tuple:
    return tuple(_span_key(track.spans[i]) for i in sent.span_indices if i < len(track.spans))


def recompose(track: GlossTrack, previous: Transcript, previous_track: GlossTrack,
              settings: Settings) -> tuple[Transcript, dict[int, int]]:
    """The transcript of ``track``; sentences made of the same spans as before keep the previous text.

    Returns it with new sentence index -> previous sentence index for those unchanged sentences."""
    from signbridge.compose import compose_tracks

    (tr,) = compose_tracks([track], settings)
    before = {_sentence_key(s, previous_track): j for j, s in enumerate(previous.sentences)}
    kept: dict[int, int] = {}
    for i, s in enumerate(tr.sentences):
        j = before.get(_sentence_key(s, track))
        if j is not None:
            old = previous.sentences[j]
            s.text, s.glosses = old.text, list(old.glosses)
            kept[i] = j
    return tr, kept


def _archive(folder, name: str) -> None:
    """Keep the current outputs under review/renders/<name>/ before they are replaced (once per name)."""
    dest = f"{RENDERS}/{name}"
    for fname in OUTPUTS:
        if folder.exists(fname) and not folder.exists(f"{dest}/{fname}"):
            folder.put_bytes(f"{dest}/{fname}", folder.get_bytes(fname), content_type(fname))


def _input_video(folder, track: GlossTrack, settings: Settings, dest: Path) -> Path:
    from signbridge.storage import open_store

    uri = track.source_uri
    if folder.exists(RESULT):
        uri = json.loads(folder.get_bytes(RESULT)).get("input_uri") or uri
    if uri.startswith("s3://"):
        parent, _, key = uri.rpartition("/")
        return open_store(parent, settings).get_file(key, dest / (key or "video"))
    if not Path(uri).is_file():
        raise InputError("the original video is not where the run read it", source=uri,
                         hint="re-mux needs the input video; put it back or rerun `signbridge run`")
    return Path(uri)


def _load_edit(folder, edited: bytes | dict | str | Path, source: str | None, settings: Settings):
    if isinstance(edited, (str, Path)) and not isinstance(edited, bytes):
        source = source or str(edited)
        p = Path(edited)
        if not p.is_file():
            raise InputError("edited gloss track not found", source=source)
        edited = p.read_bytes()
    original = rv.original_track(folder)
    return rv.parse_reviewed(edited, original, set(rv.vocabulary(settings)), source or "edited gloss track")


def revise_folder(folder_uri: str, edited: bytes | dict | str | Path, settings: Settings, *,
                  source: str | None = None, reviewer: str | None = None) -> dict[str, Any]:
    """Render ``edited`` (a reviewed gloss track: a path, bytes or a document) as the folder's current outputs.

    The edit is checked before anything is written. A document that is not yet a stored revision is
    stored as one first, so every render names its revision."""
    from signbridge.storage import open_store

    folder = open_store(folder_uri, settings)
    if not folder.exists(rv.GLOSS_TRACK):
        raise InputError("not a video's result folder (no gloss_track.json)", source=folder_uri)
    reviewed = _load_edit(folder, edited, source, settings)
    rid = reviewed.meta.get("id")
    stored = rid and rv.REVISION_ID.fullmatch(str(rid)) and rid in rv.revision_ids(folder)
    if not stored or rv.load_revision(folder, rid)["spans"] != reviewed.track.to_dict()["spans"]:
        rid = rv.save_revision(folder, reviewed, reviewer=reviewer or reviewed.meta.get("reviewer") or "cli",
                               based_on=current(folder)["revision"])["id"]
    for note in reviewed.notes:
        log.info("%s: %s", folder.uri(), note)
    return {**render_revision(folder, rid, reviewed, settings), "notes": list(reviewed.notes)}


def _previous(folder) -> tuple[str, Transcript, GlossTrack]:
    cur = current(folder)["revision"]
    prev_track = rv.original_track(folder) if cur == MODEL else GlossTrack.from_dict(
        rv.load_revision(folder, cur), source=folder.uri(f"{rv.REVISIONS}/{cur}.json"))
    prev_tr = Transcript.from_dict(json.loads(folder.get_bytes(TRANSCRIPT)), source=folder.uri(TRANSCRIPT))
    return cur, prev_tr, prev_track


def render_revision(folder, rid: str, reviewed: rv.Reviewed, settings: Settings) -> dict[str, Any]:
    """Recompose, re-caption, re-narrate and re-mux ``folder`` (a Store) for revision ``rid``."""
    from signbridge.pipeline.render import render_speech

    track = reviewed.track
    duration = float(track.duration_ms or 0.0)
    if duration <= 0:
        raise InputError("the video duration is unknown, so captions cannot be timed", source=folder.uri(rv.GLOSS_TRACK))
    prev_rev, prev_tr, prev_track = _previous(folder)
    tr, kept = recompose(track, prev_tr, prev_track, settings)
    base = Path(settings.home) / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="revise-", dir=base))
    stats = SpliceStats()
    try:
        files: dict[str, Path] = {}
        doc = tr.to_dict()
        doc["revision"] = {"id": rid, "previous": prev_rev}
        files[TRANSCRIPT] = work / TRANSCRIPT
        files[TRANSCRIPT].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        captions = render_speech(tr, settings, work, duration_ms=duration, track=track, narration=False)
        for name, path in captions.items():
            files[path.name] = path
        if VTT in files:  # the captions name their revision
            vtt = files[VTT].read_text(encoding="utf-8")
            files[VTT].write_text(vtt.replace("WEBVTT\n", f"WEBVTT\n\nNOTE signbridge revision {rid}\n", 1),
                                  encoding="utf-8")
        if not tr.no_signing:
            prev_wav = folder.get_file(NARRATION, work / "previous.wav") if folder.exists(NARRATION) else None
            files[NARRATION] = splice(prev_wav, prev_tr.sentences, tr.sentences, kept, duration,
                                      CachedVoice(folder, settings, stats), work / NARRATION)
        files[VIDEO] = _mux(folder, track, files, settings, work)
        return _publish(folder, rid, prev_rev, files, tr, kept, stats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _mux(folder, track: GlossTrack, files: dict[str, Path], settings: Settings, work: Path) -> Path:
    from signbridge.pipeline.render import render_video

    src = work / "input"
    src.mkdir()
    video = _input_video(folder, track, settings, src)
    named = {"srt": files.get(SRT), "vtt": files.get(VTT), "narration": files.get(NARRATION)}
    return render_video(video, {k: v for k, v in named.items() if v is not None}, work / "out" / VIDEO, settings)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _publish(folder, rid: str, prev_rev: str, files: dict[str, Path], tr: Transcript, kept: dict[int, int],
             stats: SpliceStats) -> dict[str, Any]:
    _archive(folder, prev_rev)
    uris: dict[str, str] = {}
    for fname, path in files.items():
        folder.put_file(f"{RENDERS}/{rid}/{fname}", path, content_type(fname))
    for fname in OUTPUTS:  # captions and narration of a render with no signing are removed, not left stale
        if fname not in files and folder.exists(fname):
            folder.delete(fname)
    for fname, path in files.items():
        uris[fname] = folder.put_file(fname, path, content_type(fname))
    record = {"revision": rid, "previous": prev_rev, "files": {f: _sha(p) for f, p in files.items()},
              "sentences": len(tr.sentences), "kept_sentences": sorted(kept),
              "narration": {"synthesised": stats.synthesised, "cached": stats.cached,
                            "placed": {str(i): list(v) for i, v in stats.placed.items()}}}
    folder.put_bytes(CURRENT, (json.dumps(record, indent=1) + "\n").encode(), "application/json")
    log.info("%s: revision %s rendered (%d of %d sentences unchanged, %d clips synthesised)", folder.uri(), rid,
             len(kept), len(tr.sentences), stats.synthesised)
    return {**record, "outputs": uris}


def restore(folder_uri: str, rid: str, settings: Settings, *, reviewer: str) -> dict[str, Any]:
    """A new revision with the spans of revision ``rid`` (or ``model``): history is never rewritten."""
    from signbridge.storage import open_store

    folder = open_store(folder_uri, settings)
    doc = rv.original_track(folder).to_dict() if rid == MODEL else rv.load_revision(folder, rid)
    original = rv.original_track(folder)
    reviewed = rv.parse_reviewed(doc, original, set(rv.vocabulary(settings)), folder.uri(f"{rv.REVISIONS}/{rid}.json"))
    ids = rv.revision_ids(folder)
    return rv.save_revision(folder, reviewed, reviewer=reviewer, based_on=ids[-1] if ids else None, restored_from=rid)
