"""Landmark extraction on real clips through real ffmpeg and MediaPipe, and on broken inputs."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from signbridge.errors import InputError, NoSignerError, SchemaError
from signbridge.settings import load_settings

pytestmark = pytest.mark.data

GOOD = "12328.mp4"  # 2.9 s, 288x192, 29.97 fps, 88 frames, one signer, both hands
TINY = "01377.mp4"  # 0.77 s, 288x192, 23 frames


def ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(env={}, home=str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def media(shared_data, tmp_path_factory) -> dict[str, Path]:
    """A batch folder of good and broken inputs, made once per module."""
    d = tmp_path_factory.mktemp("batch")
    clips = shared_data / "wlasl_clips"
    m: dict[str, Path] = {}
    m["good"] = d / GOOD
    shutil.copy(clips / GOOD, m["good"])
    m["unicode"] = d / "ñandú 手話 clip.mp4"
    shutil.copy(clips / TINY, m["unicode"])
    m["4k"] = d / "big_4k.mp4"  # a real signer, upscaled to 3840x2560
    ff("-i", str(clips / TINY), "-vf", "scale=3840:2560", "-c:v", "libx264", "-preset", "ultrafast", "-an", str(m["4k"]))
    m["zero"] = d / "zero.mp4"
    m["zero"].write_bytes(b"")
    data = (clips / GOOD).read_bytes()
    m["truncated"] = d / "truncated.mp4"  # index at the start, media data cut in half
    m["truncated"].write_bytes(data[: len(data) // 2])
    moov_end = d.parent / "moov_end_full.mp4"
    ff("-i", str(clips / GOOD), "-c", "copy", "-an", str(moov_end))  # ffmpeg writes the index at the end
    m["truncated_moov"] = d / "truncated_moov_at_end.mp4"
    m["truncated_moov"].write_bytes(moov_end.read_bytes()[: moov_end.stat().st_size // 2])
    m["text"] = d / "notes.mp4"
    m["text"].write_text("these are my notes, not a video\n")
    m["audio"] = d / "audio_only.mp4"
    ff("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(m["audio"]))
    m["noperson"] = d / "no_person.mp4"
    ff("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=1", "-pix_fmt", "yuv420p", str(m["noperson"]))
    return m


@pytest.fixture(scope="module")
def good(media, settings):
    from signbridge.extract import extract_video

    return extract_video(media["good"], settings, workers=1)


@pytest.fixture(scope="module")
def batch(media, settings, tmp_path_factory):
    """The whole folder through the CLI with two workers: one run, many assertions."""
    from signbridge.cli import main

    out = tmp_path_factory.mktemp("out")
    before = {p.name for p in Path(tempfile.gettempdir()).glob("signbridge-*")}
    rc = main(["extract", str(media["good"].parent), "-o", str(out), "--workers", "2", "--home", settings.home,
               "--log-level", "WARNING"])
    manifest = json.loads((out / "extract_manifest.json").read_text())
    by_name = {Path(v["input_uri"]).name: v for v in manifest["videos"]}
    leftovers = {p.name for p in Path(tempfile.gettempdir()).glob("signbridge-*")} - before
    return {"rc": rc, "out": out, "manifest": manifest, "by_name": by_name, "leftovers": leftovers}


# --- the contract --------------------------------------------------------------------------------

def test_table_follows_contract(good):
    from signbridge.contracts import validate_landmarks

    meta = validate_landmarks(good.table)
    assert meta["width"] == 288 and meta["height"] == 192 and meta["rotation"] == 0
    assert meta["model_complexity"] == 1 and meta["sample_fps"] == 15.0 and meta["face_mode"] == "full"
    assert len(meta["sha256"]) == 64
    assert good.stats["frames"] == good.table.num_rows == 44
    # one signer, visible throughout: every part detected in most frames
    assert good.stats["pose"] == 1.0 and good.stats["face"] > 0.9
    assert good.stats["left_hand"] > 0.5 and good.stats["right_hand"] > 0.5
    pose = np.array(good.table.column("pose").to_pylist()[0], dtype=np.float32).reshape(33, 4)
    assert 0 < pose[0, 0] < 1 and 0 < pose[0, 1] < 1  # nose in normalised image coordinates
    assert pose[0, 1] < pose[11, 1]  # head above shoulders: upright picture
    assert (pose[:, 3] >= 0).all() and (pose[:, 3] <= 1).all()  # visibility kept


def test_sampling_keeps_real_frames_and_times(good, media, settings):
    from signbridge.extract import extract_video

    frames = good.table.column("frame").to_numpy()
    ts = good.table.column("timestamp_ms").to_numpy()
    assert frames.tolist() == list(range(0, 88, 2))  # 15 of 29.97 fps: every other source frame
    np.testing.assert_allclose(ts, frames * 1001 / 30, atol=0.5)  # 29.97 fps = 1001/30000 s per frame
    every = extract_video(media["good"], settings.replace(fps=0.0), workers=1)
    assert every.table.column("frame").to_numpy().tolist() == list(range(88))


def test_write_read_roundtrip(good, tmp_path):
    from signbridge.extract import read_landmarks, write_landmarks

    p = write_landmarks(good.table, tmp_path / "x.landmarks.parquet")
    back = read_landmarks(p)
    assert back.equals(good.table)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    import pyarrow.parquet as pq

    assert pq.ParquetFile(p).metadata.row_group(0).column(2).compression == "ZSTD"


def test_read_landmarks_rejects_wrong_files(good, tmp_path):
    import pyarrow.parquet as pq

    from signbridge.extract import read_landmarks

    txt = tmp_path / "a.parquet"
    txt.write_text("not parquet")
    with pytest.raises(SchemaError, match="a.parquet.*not a readable Parquet"):
        read_landmarks(txt)
    bare = tmp_path / "b.parquet"
    pq.write_table(good.table.replace_schema_metadata(None), bare)
    with pytest.raises(SchemaError, match="no SignBridge landmarks metadata"):
        read_landmarks(bare)
    other = tmp_path / "c.parquet"
    pq.write_table(good.table.drop_columns(["face"]), other)
    with pytest.raises(SchemaError, match="no column 'face'"):
        read_landmarks(other)


def test_face_privacy_modes(media, settings):
    from signbridge.extract import extract_video
    from signbridge.extract.chunks import reduced_face_points

    none = extract_video(media["unicode"], settings.replace(face="none"), workers=1)
    assert none.table.column("face").null_count == none.table.num_rows
    assert none.meta["face_mode"] == "none" and none.stats["face"] == 0.0
    assert none.table.column("pose").null_count == 0  # the rest is untouched

    red = extract_video(media["unicode"], settings.replace(face="reduced"), workers=1)
    keep = np.array(reduced_face_points())
    assert 40 < keep.size < 120  # lips + eyebrows, not the mesh
    row = np.array(red.table.column("face").to_pylist()[0], dtype=np.float32).reshape(468, 3)
    assert np.isfinite(row[keep]).all()
    dropped = np.setdiff1d(np.arange(468), keep)
    assert np.isnan(row[dropped]).all()


# --- decoding: rotation, variable frame rate, 4K, chunks --------------------------------------------

def test_rotation_metadata_is_honoured(media, settings, shared_data, tmp_path):
    from signbridge.extract import extract_video

    src = shared_data / "wlasl_clips" / TINY
    turned = tmp_path / "turned.mp4"  # pixels stored turned 90° clockwise, as a phone held sideways does
    ff("-i", str(src), "-vf", "transpose=clock", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-an",
       str(turned))
    tagged = tmp_path / "tagged.mp4"
    # display matrix: turn 90° counter-clockwise to show it (ffprobe "rotation=90")
    ff("-i", str(turned), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(tagged))
    ex_rot = extract_video(tagged, settings, workers=1)
    ex_ref = extract_video(src, settings, workers=1)
    assert ex_rot.meta["rotation"] == 270  # clockwise degrees, as signbridge.media reports them
    assert (ex_rot.meta["width"], ex_rot.meta["height"]) == (288, 192)  # displayed size, as the source
    a = np.array(ex_rot.table.column("pose").to_pylist(), dtype=np.float32).reshape(-1, 33, 4)
    b = np.array(ex_ref.table.column("pose").to_pylist(), dtype=np.float32).reshape(-1, 33, 4)
    upper = slice(0, 23)
    assert np.abs(a[:, upper, :2] - b[:, upper, :2]).mean() < 0.03  # same picture, same landmarks


def test_variable_frame_rate_keeps_real_timestamps(media, settings, tmp_path):
    from signbridge.extract import extract_video

    vfr = tmp_path / "vfr.mp4"  # frames 40.. are shown 0.5 s later: a gap like a phone dropping frames
    ff("-i", str(media["good"]), "-vf", "setpts='(N+gte(N\\,40)*15)/(30*TB)'", "-fps_mode", "vfr", "-c:v",
       "libx264", "-preset", "ultrafast", "-an", str(vfr))
    every = extract_video(vfr, settings.replace(fps=0.0), workers=1)
    frames = every.table.column("frame").to_numpy()
    ts = every.table.column("timestamp_ms").to_numpy()
    assert frames.tolist() == list(range(88))
    # (the encoder's 1001/30000 s tick rounds these by up to 2 ms)
    np.testing.assert_allclose(ts[39], 39 / 30 * 1000, atol=3)
    np.testing.assert_allclose(ts[40], 55 / 30 * 1000, atol=3)
    assert ts[40] - ts[39] > 500
    sampled = extract_video(vfr, settings, workers=1)
    sts = sampled.table.column("timestamp_ms").to_numpy()
    assert not ((sts > ts[39] + 1) & (sts < ts[40] - 1)).any()  # nothing invented inside the gap
    bins = np.floor((sts / 1000 + 0.002) * 15)
    assert np.all(np.diff(bins) >= 1)  # at most one frame per 1/15 s bin
    from signbridge.extract.timeline import read_timeline

    expected = np.flatnonzero(read_timeline(str(vfr)).sample_mask(15.0))  # ffmpeg's select == our rule
    assert sampled.table.column("frame").to_numpy().tolist() == expected.tolist()


@pytest.mark.parametrize("container", ["mkv", "avi", "h264"])
def test_other_containers(container, shared_data, settings, tmp_path):
    """Any container ffmpeg reads, including a raw stream without timestamps (frames sampled by decode order)."""
    from signbridge.extract import extract_video

    src = shared_data / "wlasl_clips" / TINY
    out = tmp_path / f"clip.{container}"
    codec = {"mkv": ["-c:v", "copy"], "avi": ["-c:v", "mpeg4", "-q:v", "2"],
             "h264": ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb"]}[container]
    ff("-i", str(src), *codec, "-an", str(out))
    ex = extract_video(out, settings, workers=1)
    ref = extract_video(src, settings, workers=1)
    n = ref.table.num_rows  # (the mp4's edit list hides its last frames; a plain copy shows them)
    assert ex.table.column("frame").to_pylist()[:n] == ref.table.column("frame").to_pylist()
    np.testing.assert_allclose(ex.table.column("timestamp_ms").to_numpy()[:n],
                               ref.table.column("timestamp_ms").to_numpy(), atol=1.0)
    assert ex.stats["pose"] == ref.stats["pose"] == 1.0


def test_4k_video_is_downscaled(batch, media, settings):
    from signbridge.extract import read_landmarks

    v = batch["by_name"][media["4k"].name]
    assert v["status"] == "ok", v["error"]
    t = read_landmarks(v["outputs"]["landmarks"])
    meta = json.loads(t.schema.metadata[b"signbridge.landmarks"])
    assert (meta["width"], meta["height"]) == (3840, 2560)
    assert (meta["frame_width"], meta["frame_height"]) == (640, 426)
    assert v["detection"]["pose"] == 1.0


def test_decoder_streams_one_frame_at_a_time(shared_data):
    """Taking one frame of a 60 s video decodes about one frame, and closing the reader stops ffmpeg."""
    import time

    from signbridge.extract.decode import DecodeReport, iter_frames

    rep = DecodeReport()
    t0 = time.perf_counter()
    frames = iter_frames(str(shared_data / "bench" / "wlasl_concat_640x480_30fps.mp4"), width=64, height=48,
                         report=rep)
    pts, img = next(frames)
    frames.close()
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8 and pts == 0
    assert rep.frames == 1 and rep.returncode is not None  # ffmpeg is gone, not left decoding
    assert time.perf_counter() - t0 < 20


def test_chunks_merge_every_frame_once(shared_data, settings):
    from signbridge.extract import extract_video
    from signbridge.extract.timeline import plan_chunks, read_timeline

    clip = shared_data / "wlasl_clips" / "62964.mp4"  # 3.0 s, 91 frames
    tl = read_timeline(str(clip))
    chunks = plan_chunks(tl, 2, chunk_s=0.8, warmup_s=0.5)
    assert len(chunks) == 4
    owned = np.concatenate([np.arange(c.first, c.stop) for c in chunks])
    assert owned.tolist() == list(range(tl.n_frames))  # each source frame owned exactly once, in order
    assert chunks[0].seek_s is None and all(c.seek_s is not None for c in chunks[1:])

    single = extract_video(clip, settings, workers=1)
    split = extract_video(clip, settings, workers=2, chunk_s=0.8)
    assert split.meta["chunks"] == 4
    assert split.table.column("frame").to_pylist() == single.table.column("frame").to_pylist()
    assert split.table.column("timestamp_ms").to_pylist() == single.table.column("timestamp_ms").to_pylist()
    # after the warm-up, tracking agrees with the single pass
    assert split.table.column("pose").null_count == single.table.column("pose").null_count
    a = np.array(split.table.column("pose").to_pylist(), dtype=np.float32).reshape(-1, 33, 4)[:, :23, :2]
    b = np.array(single.table.column("pose").to_pylist(), dtype=np.float32).reshape(-1, 33, 4)[:, :23, :2]
    assert np.abs(a - b).mean() < 0.01


def test_hands_agree_with_reference_landmarks(shared_data, settings):
    """Same frames as MediaPipe Holistic complexity 2 (the reference npy) in ≥ 90 % of frames."""
    from signbridge.extract import extract_video

    ref = np.load(shared_data / "wlasl_holistic_landmarks_npy" / "landmarks" / "62964.npy").reshape(-1, 75, 4)
    ex = extract_video(shared_data / "wlasl_clips" / "62964.mp4", settings.replace(fps=0.0), workers=1)
    assert ex.table.num_rows == ref.shape[0]
    for part, sl in (("left_hand", slice(33, 54)), ("right_hand", slice(54, 75))):
        ours = ex.table.column(part).is_valid().to_numpy(zero_copy_only=False)
        theirs = np.abs(ref[:, sl]).sum(axis=(1, 2)) > 0
        assert (ours == theirs).mean() >= 0.9, part
    rh = np.array([x if x is not None else [np.nan] * 63 for x in ex.table.column("right_hand").to_pylist()],
                  dtype=np.float32).reshape(-1, 21, 3)
    both = np.isfinite(rh).all(axis=(1, 2)) & (np.abs(ref[:, 54:75]).sum(axis=(1, 2)) > 0)
    assert np.linalg.norm(rh[both, :, :2] - ref[both, 54:75, :2], axis=2).mean() < 0.02


# --- bad input: each case is a clear per-video result, and the rest of the batch finishes ------------

BAD = {
    "zero": ("failed", "empty (0 bytes)"),
    "truncated": ("failed", "truncated"),
    "truncated_moov": ("failed", "moov atom not found"),
    "text": ("failed", "text file, not a video"),
    "audio": ("failed", "audio-only"),
    "noperson": ("no_signer", "no signer detected"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_in_batch(batch, media, case):
    status, message = BAD[case]
    v = batch["by_name"][media[case].name]
    assert v["status"] == status
    assert message in v["error"] and str(media[case]) in v["error"]  # says which file and what is wrong
    assert v["outputs"] == {}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_direct(media, settings, case):
    from signbridge.extract import extract_video

    status, message = BAD[case]
    with pytest.raises(NoSignerError if status == "no_signer" else InputError, match=re.escape(message)):
        extract_video(media[case], settings, workers=1)


def test_batch_finishes_good_videos(batch, media):
    from signbridge.extract import read_landmarks
    from signbridge.records import RunManifest

    RunManifest.from_dict(batch["manifest"])  # valid against the manifest contract
    assert batch["rc"] == 1  # some inputs failed
    assert len(batch["manifest"]["videos"]) == len(media)
    for case in ("good", "unicode", "4k"):
        v = batch["by_name"][media[case].name]
        assert v["status"] == "ok", v["error"]
        t = read_landmarks(v["outputs"]["landmarks"])
        assert t.num_rows == v["detection"]["frames"] > 0
        stats = json.loads(Path(v["outputs"]["stats"]).read_text())
        assert stats["stats"] == v["detection"] and stats["sha256"] == v["sha256"]
    assert (batch["out"] / "ñandú 手話 clip.landmarks.parquet").is_file()
    assert not batch["leftovers"]  # temporary folders removed


def test_cli_prints_one_line_per_failed_input(media, settings, tmp_path, capsys):
    from signbridge.cli import main

    rc = main(["extract", str(media["zero"]), str(media["text"]), str(tmp_path / "missing.mp4"), "-o",
               str(tmp_path / "o"), "--home", settings.home, "--workers", "1"])
    err = capsys.readouterr().err.splitlines()
    failed = [ln for ln in err if ln.startswith("FAILED")]
    assert rc == 1 and len(failed) == 3
    assert any("missing.mp4: file not found" in ln for ln in failed)


def test_s3_inputs_and_outputs(media, s3_server, s3_bucket, tmp_path):
    from signbridge.extract import read_landmarks
    from signbridge.extract.outputs import extract_inputs
    from signbridge.storage import open_store

    store = open_store(s3_bucket, s3_server)
    store.put_file("in/clips/a.mp4", media["unicode"])
    store.put_file("in/clips/readme.txt", media["text"])  # not a video extension: ignored
    store.put_file("in/broken.mp4", media["text"])
    before = {p.name for p in Path(tempfile.gettempdir()).glob("signbridge-*")}
    m = extract_inputs([f"{s3_bucket}/in"], f"{s3_bucket}/out", s3_server.replace(workers=1), exports=["kaggle"])
    status = {v.input_uri.rsplit("/", 1)[-1]: v.status for v in m.videos}
    assert status == {"a.mp4": "ok", "broken.mp4": "failed"}
    broken = next(v for v in m.videos if v.status == "failed")
    assert broken.error.startswith(f"{s3_bucket}/in/broken.mp4: this is a text file")  # the URI, not a temp path
    keys = {o.key for o in store.list("out/")}
    assert {"out/clips/a.landmarks.parquet", "out/clips/a.stats.json", "out/clips/a.kaggle.parquet",
            "out/extract_manifest.json"} <= keys
    store.get_file("out/clips/a.landmarks.parquet", tmp_path / "a.parquet")
    assert read_landmarks(tmp_path / "a.parquet").num_rows > 0
    assert {p.name for p in Path(tempfile.gettempdir()).glob("signbridge-*")} - before == set()


def test_batch_survives_a_worker_dying(shared_data, settings, caplog):
    """A worker killed mid-batch (like the OOM killer would) costs a retry, not the batch."""
    import os
    import signal
    import time

    import psutil

    from signbridge.extract.batch import run_batch
    from signbridge.storage.inputs import InputVideo

    clips = ["62964.mp4", "12328.mp4", "38530.mp4", "62746.mp4"]  # 1–3 s each
    refs = [InputVideo(str(shared_data / "wlasl_clips" / c), c, local_path=str(shared_data / "wlasl_clips" / c))
            for c in clips]
    killed: list[int] = []
    started = time.time() - 1

    def kill_workers_once(outcome) -> None:
        if killed:
            return
        for child in psutil.Process(os.getpid()).children():
            # only the pool workers this batch started: multiprocessing spawn children born during the run
            if child.create_time() >= started and "multiprocessing" in " ".join(child.cmdline()):
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)

    with caplog.at_level("WARNING", logger="signbridge.extract.batch"):
        outcomes = run_batch(refs, settings, workers=2, on_done=kill_workers_once)
    assert killed
    assert [o.status for o in outcomes] == ["ok"] * 4, [str(o.error) for o in outcomes]
    assert "a worker process died; retrying the video once" in caplog.text
