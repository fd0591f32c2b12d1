"""A result folder recognised again with what the reviewer now knows (a word list or the script), as a revision.

``signbridge revise FOLDER --vocabulary F`` / ``--script F``: the stored landmarks are read (nothing is
extracted again), recognised with the hint and the new gloss track goes through the same revision and render
path as a hand edit, so only the sentences that changed are re-narrated and the previous outputs are kept.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from signbridge.settings import Settings


def rerecognized_track(folder_uri: str, settings: Settings) -> dict[str, Any]:
    from signbridge.extract import read_landmarks
    from signbridge.recognize.hints import hint_texts
    from signbridge.recognize.infer import recognize_tables
    from signbridge.review import revisions as rv
    from signbridge.storage import open_store

    folder = open_store(folder_uri, settings)
    original = rv.original_track(folder)
    texts = hint_texts(settings.vocabulary, settings.script, settings)
    with tempfile.TemporaryDirectory() as d:
        table = read_landmarks(folder.get_file("landmarks.parquet", Path(d) / "landmarks.parquet"),
                               source=folder.uri("landmarks.parquet"))
        track = recognize_tables([table], settings, [original.source_uri], [texts])[0]
    track.sha256, track.duration_ms = original.sha256, original.duration_ms
    known = set(rv.vocabulary(settings))
    doc = track.to_dict()
    doc["review"] = {"sources": ["model"] * len(track.spans),
                     "new_glosses": sorted({s.label for s in track.spans if s.kind == "gloss" and s.label not in known}),
                     "note": "recognised again with " + ", ".join(f"{k} {v['source']}" for k, v in texts.to_dict().items())}
    return doc
