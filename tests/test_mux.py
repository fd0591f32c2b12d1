"""Mux with real ffmpeg on real clips: stream copy, audio modes, soft/burnt captions, WebM, bad input, publishing."""
from __future__ import annotations

import json
import subprocess

import pytest

from signbridge.captions import to_srt, to_vtt
from signbridge.errors import SignBridgeError
from signbridge.media import media_info
from signbridge.mux import mux_video
from signbridge.pipeline.layout import publish_files
from signbridge.pipeline.render import render_outputs
from signbridge.records import GlossSpan, GlossTrack, Sentence, Transcript
from signbridge.settings import load_settings
from signbridge.speech import narrate

WITH_AUDIO = "wlasl_clips/68011.mp4"  # 1.86 s, 29.97 fps, AAC audio
NO_AUDIO = "wlasl_clips/01377.mp4"  # 0.77 s, 29.97 fps, no audio


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(env={}, home=str(tmp_path_factory.mktemp("home")), tts="espeak")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("mux")


def _transcript(*sentences):
    return Transcript(source_uri="file:///v.mp4", sha256="ab" * 32, backend="rules", model="m", prompt_version="r1",
                      sentences=[Sentence(start_ms=a, end_ms=b, text=t, span_indices=[i], confidence=0.9,
                                          uncertain=False) for i, (a, b, t) in enumerate(sentences)])


@pytest.fixture(scope="module")
def assets(work, settings):
    """Narration + captions for a ~1.9 s clip, made once."""
    tr = _transcript((100, 1200, "This is a book: café, 日本."))  # non-ASCII through mov_text/WebVTT
    wav = narrate(tr, 1900, settings, work / "n.wav")
    srt = work / "c.srt"
    srt.write_text(to_srt(tr, settings))
    vtt = work / "c.vtt"
    vtt.write_text(to_vtt(tr, settings))
    return {"transcript": tr, "wav": wav, "srt": srt, "vtt": vtt}


@pytest.fixture(scope="module")
def vfr_clip(work):
    """A variable-frame-rate clip: 6 of every 10 frames kept with their original timestamps."""
    out = work / "vfr.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30",
                    "-t", "2", "-vf", r"select='lt(mod(n\,10)\,6)'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-preset", "ultrafast", str(out)], check=True)
    info = media_info(out)
    assert info.variable_frame_rate
    return out


def streams(path):
    res = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)["streams"]


def decoded_frames(path) -> int:
    res = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True)
    return int(res.stdout.strip())


def video_packets(path):
    """(pts, size) of every video packet: equal lists mean the stream was copied, not re-encoded."""
    res = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,size",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return res.stdout.split()


def test_mp4_2997fps_stream_copy_narration_default_original_second_track(shared_data, assets, settings, work):
    src = shared_data / WITH_AUDIO
    out = mux_video(src, work / "track.mp4", narration=assets["wav"], srt=assets["srt"], settings=settings)
    st = streams(out)
    kinds = [(s["codec_type"], s["codec_name"]) for s in st]
    assert kinds == [("video", "h264"), ("audio", "aac"), ("audio", "aac"), ("subtitle", "mov_text")]
    assert st[1]["disposition"]["default"] == 1 and st[2]["disposition"]["default"] == 0
    assert st[1]["tags"]["language"] == "eng" and st[1]["tags"]["handler_name"] == "Narration"
    assert st[2]["tags"]["handler_name"] == "Original audio"
    assert st[3]["tags"]["language"] == "eng"
    back = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-map", "0:s:0", "-f", "srt", "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "café, 日本" in back  # UTF-8 captions survive mov_text
    assert video_packets(out) == video_packets(src)  # no re-encode, 29.97 fps timestamps intact
    assert media_info(out).fps == pytest.approx(media_info(src).fps)


def test_duck_and_drop_modes(shared_data, assets, settings, work):
    src = shared_data / WITH_AUDIO
    duck = mux_video(src, work / "duck.mp4", narration=assets["wav"], srt=assets["srt"], settings=settings,
                     original_audio="duck")
    audio = [s for s in streams(duck) if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["tags"]["handler_name"] == "Narration over original audio"
    assert audio[0]["channels"] == 2
    drop = mux_video(src, work / "drop.mp4", narration=assets["wav"], settings=settings.replace(original_audio="drop"))
    assert [s["codec_type"] for s in streams(drop)] == ["video", "audio"]
    assert video_packets(duck) == video_packets(src) == video_packets(drop)


def test_video_without_audio_stream(shared_data, assets, settings, work):
    src = shared_data / NO_AUDIO
    assert not media_info(src).has_audio
    out = mux_video(src, work / "noaudio.mp4", narration=assets["wav"], srt=assets["srt"], settings=settings,
                    original_audio="duck")  # nothing to duck: narration alone
    assert [s["codec_type"] for s in streams(out)] == ["video", "audio", "subtitle"]
    assert video_packets(out) == video_packets(src)


def test_variable_frame_rate_is_copied_exactly(vfr_clip, assets, settings, work):
    out = mux_video(vfr_clip, work / "vfr_out.mp4", narration=assets["wav"], srt=assets["srt"], settings=settings)
    assert video_packets(out) == video_packets(vfr_clip)
    assert media_info(out).variable_frame_rate


def test_burn_captions_reencodes_without_subtitle_track(shared_data, assets, settings, work):
    src = shared_data / NO_AUDIO
    out = mux_video(src, work / "burn.mp4", narration=assets["wav"], srt=assets["srt"], settings=settings, burn=True)
    st = streams(out)
    assert [s["codec_type"] for s in st] == ["video", "audio"]
    assert video_packets(out) != video_packets(src)  # pixels changed: re-encoded with captions drawn in
    assert int(st[0]["nb_frames"]) == decoded_frames(src)  # every displayed frame kept, none duplicated


def test_webm_with_webvtt(shared_data, assets, settings, work):
    out = mux_video(shared_data / NO_AUDIO, work / "o.webm", narration=assets["wav"], vtt=assets["vtt"],
                    settings=settings)
    kinds = [(s["codec_type"], s["codec_name"]) for s in streams(out)]
    assert kinds == [("video", "vp9"), ("audio", "opus"), ("subtitle", "webvtt")]


def test_ffmpeg_failure_names_input_and_ffmpeg_error(shared_data, settings, work):
    bad = work / "not_audio.wav"
    bad.write_text("this is not a wav file")
    with pytest.raises(SignBridgeError) as ei:
        mux_video(shared_data / WITH_AUDIO, work / "fail.mp4", narration=bad, settings=settings)
    msg = str(ei.value)
    assert msg.startswith("68011.mp4: ffmpeg failed: ")
    assert "not_audio.wav" in msg and "Invalid data found when processing input" in msg
    assert not (work / "fail.mp4").exists()
    with pytest.raises(SignBridgeError, match="unsupported output type '.avi'"):
        mux_video(shared_data / WITH_AUDIO, work / "x.avi", settings=settings)


def test_no_signing_outputs_original_video_only(shared_data, settings, work):
    src = shared_data / WITH_AUDIO
    empty = GlossTrack(source_uri=str(src), sha256="ef" * 32, model_name="m", model_version="1", spans=[])
    from signbridge.compose import compose_tracks

    tr = compose_tracks([empty], settings)[0]
    files = render_outputs(src, tr, work / "nosign", settings, track=empty)
    assert set(files) == {"transcript", "video"}
    doc = json.loads(files["transcript"].read_text())
    assert doc["no_signing"] is True and doc["sentences"] == []
    st = streams(files["video"])
    assert [(s["codec_type"], s["codec_name"]) for s in st] == [("video", "h264"), ("audio", "aac")]
    assert video_packets(files["video"]) == video_packets(src)


def test_render_and_publish_to_object_storage(shared_data, settings, work, s3_server, s3_bucket):
    from signbridge.storage import open_store

    src = shared_data / WITH_AUDIO
    spans = [GlossSpan(0, 500, "IX-1p", "gloss", 0.9), GlossSpan(550, 1000, "like", "gloss", 0.5),
             GlossSpan(1050, 1500, "book", "gloss", 0.9)]
    track = GlossTrack(source_uri=str(src), sha256="ef" * 32, model_name="m", model_version="1", spans=spans)
    from signbridge.compose import compose_tracks

    tr = compose_tracks([track], settings)[0]
    files = render_outputs(src, tr, work / "full", settings, track=track)
    assert set(files) == {"transcript", "srt", "vtt", "narration", "video"}
    assert "like(?)" in files["srt"].read_text()
    store = open_store(s3_bucket + "/results", s3_server)
    uris = publish_files(store, "vid1", files)
    assert uris["video"] == f"{s3_bucket}/results/vid1/video.mp4"
    assert store.get_bytes("vid1/captions.srt") == files["srt"].read_bytes()
    assert json.loads(store.get_bytes("vid1/transcript.json"))["sentences"][0]["text"] == tr.sentences[0].text


def test_mux_cli_with_transcript(shared_data, settings, work, capsys):
    from signbridge.cli import main

    tj = work / "cli_t.json"
    tj.write_text(json.dumps(_transcript((100, 1200, "This is a book.")).to_dict()))
    out = work / "cli_out"
    rc = main(["mux", "--home", settings.home, str(shared_data / NO_AUDIO), "-o", str(out), "--transcript", str(tj),
               "--tts", "espeak", "--publish", str(work / "published")])
    assert rc == 0
    uris = json.loads(capsys.readouterr().out)
    assert (work / "published" / "video.mp4").is_file() and set(uris) >= {"video", "srt", "vtt", "narration"}
