"""`signbridge revise` from the CLI and in S3, its bad-input errors, corrections fed back into the
vocabulary and a dataset, and the `signbridge_revise` DAG in real Airflow, on a real run's results."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signbridge.cli import main


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def edited(folder: Path, **changes) -> dict:
    doc = json.loads((folder / "gloss_track.json").read_text())
    for i, span in changes.get("spans", {}).items():
        doc["spans"][i].update(span)
        if "label" in span:  # a relabelled span is the reviewer's word, as the review app sends it: a gloss, no model tier
            doc["spans"][i].update(kind="gloss" if span["label"] != "UNKNOWN" else "unknown")
            doc["spans"][i].pop("tier", None)
    doc["review"] = changes.get("review", {"sources": ["model", "reviewer"]})
    return doc


@pytest.fixture
def env_home(copy_results, monkeypatch):
    monkeypatch.setenv("SIGNBRIDGE_HOME", str(copy_results.home))
    return copy_results


def revise(res, doc_or_text, tmp_path, capsys, name="edit.json"):
    path = tmp_path / name
    path.write_text(doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text))
    rc = main(["revise", str(res.folder), "--gloss-track", str(path), "--reviewer", "cli tester"])
    return rc, capsys.readouterr(), path


def _texts(srt: str) -> list[str]:
    """Caption lines without their cue numbers and times (a re-render may shift a cue end by a frame)."""
    return [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()]


def test_revise_from_the_cli_then_restore(env_home, tmp_path, capsys):
    res = env_home
    before = (res.folder / "narration.wav").read_bytes()
    model_srt = (res.folder / "captions.srt").read_text()  # the machine's captions (its second sign's words)
    rc, out, _ = revise(res, edited(res.folder, spans={1: {"label": "drink", "confidence": 1.0}}), tmp_path, capsys)
    assert rc == 0, out.err
    assert "1 of 2 sentences unchanged; 1 narration clips synthesised" in out.out
    assert "Drink." in (res.folder / "captions.srt").read_text()
    assert (res.folder / "review" / "renders" / "model" / "narration.wav").read_bytes() == before
    first = json.loads((res.folder / "review" / "current.json").read_text())

    # restoring the machine's track is a new revision; rendering it re-narrates the second sign, keeps the first's
    from signbridge.review.revise import restore, revise_folder
    from signbridge.review.revisions import latest
    from signbridge.settings import load_settings
    from signbridge.storage import open_store

    settings = load_settings()
    summary = restore(str(res.folder), "model", settings, reviewer="cli tester")
    assert summary["restored_from"] == "model" and summary["based_on"] == first["revision"]
    rid, doc = latest(open_store(str(res.folder), settings))
    out = revise_folder(str(res.folder), doc, settings)
    assert out["revision"] == rid and out["previous"] == first["revision"] and out["kept_sentences"] == [0]
    assert _texts((res.folder / "captions.srt").read_text()) == _texts(model_srt)
    assert (res.folder / "review" / "renders" / first["revision"] / "captions.srt").read_text().count("Drink.") == 1
    # back to the reviewer's revision: DRINK's clip comes from the cache, so the narration is that render's
    restore(str(res.folder), first["revision"], settings, reviewer="cli tester")
    again = revise_folder(str(res.folder), latest(open_store(str(res.folder), settings))[1], settings)
    assert again["narration"]["synthesised"] == 0 and again["narration"]["cached"] == 1
    assert (res.folder / "narration.wav").read_bytes() == (
        res.folder / "review" / "renders" / first["revision"] / "narration.wav").read_bytes()


@pytest.mark.parametrize("case, problem", [
    ("sha", "this track is for another video"),
    ("order", "spans must be in time order and not overlap"),
    ("outside", "ends after the video"),
    ("backwards", "ends before it starts"),
    ("label", "unknown gloss label 'zebra'"),
    ("malformed", "not a JSON document"),
    ("schema", "'label' is a required property"),
    ("sources", "review.sources must give 'model' or 'reviewer'"),
])
def test_bad_edits_are_refused_and_write_nothing(env_home, tmp_path, capsys, case, problem):
    res = env_home
    doc = edited(res.folder)
    if case == "sha":
        doc["source"]["sha256"] = "0" * 64
    elif case == "order":
        doc["spans"].reverse()
    elif case == "outside":
        doc["spans"][1]["end_ms"] = 99_000.0
    elif case == "backwards":
        doc["spans"][0]["end_ms"] = doc["spans"][0]["start_ms"]
    elif case == "label":
        doc["spans"][1].update(label="zebra", kind="gloss")
    elif case == "schema":
        del doc["spans"][0]["label"]
    elif case == "sources":
        doc["review"]["sources"] = ["model"]
    before = snapshot(res.out)
    rc, out, path = revise(res, "{not json" if case == "malformed" else doc, tmp_path, capsys)
    assert rc == 1 and out.out == ""
    assert out.err.startswith(f"signbridge revise: error: {path}") and problem in out.err, out.err
    assert "Traceback" not in out.err
    assert snapshot(res.out) == before


def _unsure_of_the_second_sign(folder: Path) -> dict:
    """The machine's track as the recogniser writes a sign it is unsure of: UNKNOWN, kind unknown, tier unclear."""
    doc = json.loads((folder / "gloss_track.json").read_text())
    doc["spans"][1].update(label="UNKNOWN", kind="unknown", tier="unclear", confidence=0.31)
    (folder / "gloss_track.json").write_text(json.dumps(doc))
    return doc


def test_a_label_changed_by_hand_is_shown(env_home, tmp_path, capsys):
    """Only the label edited (kind, tier and confidence still the model's, no review block): the word is shown,
    as the reviewer's, and the CLI says which model fields were replaced."""
    res = env_home
    doc = _unsure_of_the_second_sign(res.folder)
    doc["spans"][1]["label"] = "drink"
    rc, out, _ = revise(res, doc, tmp_path, capsys)
    assert rc == 0, out.err
    srt = (res.folder / "captions.srt").read_text()
    assert _texts(srt)[-1] == "Drink.", srt  # the second sign's cue: the word, not [unclear sign], no marker
    assert ("note: span 2 (" in out.out and "label 'UNKNOWN' -> 'drink' by hand, so kind 'unknown' -> 'gloss', the "
            "model's tier 'unclear' removed, confidence 0.31 -> 1, source 'model' -> 'reviewer'" in out.out), out.out
    from signbridge.review.revisions import latest
    from signbridge.settings import load_settings
    from signbridge.storage import open_store

    _rid, stored = latest(open_store(str(res.folder), load_settings()))
    span = stored["spans"][1]
    assert span["label"] == "drink" and span["kind"] == "gloss" and "tier" not in span
    assert stored["review"]["sources"] == ["model", "reviewer"]


@pytest.mark.parametrize("span, change, problem", [
    (1, {"label": "drink", "kind": "fingerspelling"}, "kind 'fingerspelling' does not go with label 'drink'"),
    (1, {"label": "drink", "kind": "gloss", "tier": "unclear", "start_ms": 10.0}, "tier 'unclear' with a label"),
    (1, {"tier": "plain"}, "tier 'plain' but label UNKNOWN"),
    (1, {"kind": "gloss"}, "kind 'gloss' does not go with label UNKNOWN"),
])
def test_contradictory_fields_are_refused_naming_the_span(env_home, tmp_path, capsys, span, change, problem):
    """A field the person set that contradicts the label is refused (a span the model did not have, here moved
    by 10 ms, has no model fields to replace)."""
    res = env_home
    doc = _unsure_of_the_second_sign(res.folder)
    if "start_ms" in change:
        change = {**change, "start_ms": doc["spans"][span]["start_ms"] + change["start_ms"]}
    doc["spans"][span].update(change)
    before = snapshot(res.out)
    rc, out, path = revise(res, doc, tmp_path, capsys)
    assert rc == 1 and out.out == "" and "Traceback" not in out.err
    assert out.err.startswith(f"signbridge revise: error: {path}: span {span + 1} (") and problem in out.err, out.err
    assert snapshot(res.out) == before


def test_a_new_sign_needs_declaring_and_feeds_vocabulary_and_dataset(env_home, tmp_path, capsys):
    """A reviewer's new gloss (not in the vocabulary) is accepted only when declared; the reviewed span
    then becomes a few-shot gloss and a labelled clip of the exported dataset."""
    import pyarrow.dataset as ds

    from signbridge.review.revisions import vocabulary
    from signbridge.settings import load_settings

    res = env_home
    doc = edited(res.folder, spans={1: {"label": "salary", "confidence": 1.0}})
    rc, out, _ = revise(res, doc, tmp_path, capsys)
    assert rc == 1 and "unknown gloss label 'salary'" in out.err
    doc["review"]["new_glosses"] = ["salary"]
    rc, out, _ = revise(res, doc, tmp_path, capsys)
    assert rc == 0, out.err
    assert "Salary." in (res.folder / "captions.srt").read_text()

    assert main(["dataset", "export-reviews", str(res.out), "-o", str(tmp_path / "ds")]) == 0
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["counts"]["clips"] == 1 and card["per_label"] == {"salary": 1} and card["counts"]["corrected"] == 1
    table = ds.dataset(tmp_path / "ds" / "data").to_table()  # the label is a column, as in `dataset build`
    assert set(table.column("label").to_pylist()) == {"salary"} and table.num_rows > 10
    assert table.schema.field("right_hand").metadata[b"points"] == b"21"
    assert ds.dataset(tmp_path / "ds" / "videos" / "train.parquet").to_table().column("label").to_pylist() == ["salary"]
    assert (tmp_path / "ds" / "README.md").read_text().startswith("---\npretty_name: ")
    assert "salary" not in vocabulary(load_settings())
    capsys.readouterr()
    assert main(["vocab", "add-from-reviews", "--json", str(res.out)]) == 0
    added = json.loads(capsys.readouterr().out)["added"]
    assert [a["gloss"] for a in added] == ["salary"] and added[0]["clips"] == 1
    assert "salary" in vocabulary(load_settings())


def test_revise_in_s3(processed_clip, s3_bucket, s3_server, tmp_path):
    """Results and the input video in a real S3 store: the folder is revised there, the source streams by range."""
    from signbridge.review.results import Results
    from signbridge.review.revise import revise_folder
    from signbridge.storage import open_store

    settings = s3_server.replace(home=str(tmp_path / "home"))
    video_uri = open_store(s3_bucket, settings).put_file("uploads/go_eat.mp4", processed_clip.video)
    out = open_store(f"{s3_bucket}/outputs", settings)
    vid = processed_clip.folder.name
    for p in processed_clip.folder.iterdir():
        data = p.read_bytes()
        if p.name == "result.json":
            data = json.dumps({**json.loads(data), "input_uri": video_uri}).encode()
        out.put_bytes(f"{vid}/{p.name}", data)
    results = Results(f"{s3_bucket}/outputs", settings)
    (v,) = results.videos()
    assert v["id"] == vid and v["signs"] == 2 and not v["reviewed"]
    src = results.source(vid)
    data = processed_clip.video.read_bytes()
    assert src.size == len(data) and b"".join(src.read(10, 4000)) == data[10:4001]

    rec = revise_folder(f"{s3_bucket}/outputs/{vid}", edited(processed_clip.folder, spans={
        1: {"label": "drink", "confidence": 1.0}}), settings, reviewer="s3 tester")
    assert rec["kept_sentences"] == [0]
    assert "Drink." in out.get_bytes(f"{vid}/captions.srt").decode()
    assert _texts(out.get_bytes(f"{vid}/review/renders/model/captions.srt").decode()) == \
        _texts((processed_clip.folder / "captions.srt").read_text())
    assert results.videos()[0]["rendered"] == rec["revision"]
    assert not list((tmp_path / "home" / "tmp").glob("*"))  # the downloaded input was removed


def test_revise_dag_runs_queued_reviews(copy_results, tmp_path):
    """The `signbridge_revise` DAG in real Airflow renders what a save queued, and empties the queue."""
    from signbridge.orchestrate.airflow_env import airflow_env, migrate
    from signbridge.review.app import _save
    from signbridge.review.results import Results
    from signbridge.review.revisions import vocabulary
    from signbridge.settings import load_settings

    res = copy_results
    settings = load_settings(env={}, home=str(res.home))
    results = Results(str(res.out), settings)
    doc = edited(res.folder, spans={1: {"label": "drink", "confidence": 1.0}})
    saved = _save(results, res.vid, {"reviewer": "dag tester", "spans": doc["spans"],
                                     "sources": ["model", "reviewer"]}, vocabulary(settings))
    assert results.queued() == [res.vid]
    env = airflow_env(settings)
    migrate(env)
    conf, result = tmp_path / "conf.json", tmp_path / "result.json"
    conf.write_text(json.dumps({"output": str(res.out)}))
    run = subprocess.run([sys.executable, "-m", "signbridge.orchestrate.runner", "signbridge_revise", "--conf",
                          str(conf), "--result", str(result)], env={**env, "PYTHONPATH": os.getcwd()},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    state = json.loads(result.read_text())
    assert state["state"].endswith("success"), state
    assert json.loads((res.folder / "review" / "current.json").read_text())["revision"] == saved["id"]
    assert "Drink." in (res.folder / "captions.srt").read_text()
    assert results.queued() == []
