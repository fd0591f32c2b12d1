"""A finished video in which nothing was recognised says so: ``no_signing`` with a note in the manifest
(validated against its schema), the console summary and the report, and a rerun skips it like any
finished video. A video whose every sign is unclear stays ``ok`` with a note that says that."""
from __future__ import annotations

import json

from signbridge.pipeline import Context, VideoState
from signbridge.pipeline.record import write_run_record
from signbridge.pipeline.report import summary_table
from signbridge.pipeline.results_index import load_done
from signbridge.pipeline.steps import finish_videos
from signbridge.records import RunManifest
from signbridge.settings import load_settings


def test_nothing_recognised_is_no_signing_everywhere(tmp_path):
    settings = load_settings(env={}, home=str(tmp_path / "home"))
    states = [VideoState("/videos/rotated.mp4", index=0, sha256="a" * 64, folder="aaaa-x",
                         detection={"frames": 12, "pose": 1.0, "signs": 0, "unclear": 0, "sentences": 0}),
              VideoState("/videos/unclear.mp4", index=1, sha256="b" * 64, folder="bbbb-x",
                         detection={"frames": 12, "pose": 1.0, "signs": 2, "unclear": 2, "sentences": 1}),
              VideoState("/videos/fine.mp4", index=2, sha256="c" * 64, folder="cccc-x",
                         detection={"frames": 12, "pose": 1.0, "signs": 2, "unclear": 0, "sentences": 1})]
    with Context(settings, str(tmp_path / "out"), run_id="r1") as ctx:
        finish_videos(states, ctx)
        uris = write_run_record(states, ctx)
    doc = json.loads((tmp_path / "out" / "runs" / "r1" / "manifest.json").read_text())
    m = RunManifest.from_dict(doc)  # the schema knows the status
    assert [v.status for v in m.videos] == ["no_signing", "ok", "ok"]
    assert "no sign was recognised" in m.videos[0].note
    assert "all 2 signing span(s) are shown as [unclear sign]" in m.videos[1].note and m.videos[2].note is None
    table = summary_table(doc)
    assert "no_signing" in table and "no sign was recognised" in table
    html = (tmp_path / "out" / "runs" / "r1" / "report.html").read_text()
    assert "no_signing" in html and "no sign was recognised" in html and uris["report"]
    with Context(settings, str(tmp_path / "out"), run_id="r2") as ctx:  # a rerun skips it, keeping the note
        again = VideoState("/videos/rotated.mp4", sha256="a" * 64, folder="aaaa-x")
        assert load_done(again, ctx) and again.status == "skipped" and "no sign" in again.note
