"""Narration and mux benchmark: TTS real-time factor (piper, espeak-ng) and mux speed on the 60 s benchmark video.

    .venv/bin/python benchmarks/bench_speech_mux.py [--repeats 3]

Target: mux of the 60 s video with video stream copy >= 100x real time.
Everything runs side by side in one process on the same (shared, noisy) machine;
each timing is the median of --repeats runs. Writes benchmarks/results/speech_mux.json.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402

SHARED = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCH_VIDEO = SHARED / "bench" / "wlasl_concat_640x480_30fps.mp4"
BENCH_LIST = SHARED / "bench" / "wlasl_concat_640x480_30fps.csv"

SENTENCES = [
    "Yesterday I went to the store.", "What is your name?", "I am deaf.", "My friend and I went last weekend.",
    "The teacher will give the book to the student.", "I like [unclear sign].",
    "Tomorrow we will go to the school together.", "Mother does not buy the house.",
]


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_transcript(duration_ms: float):
    """One sentence every ~2.2 s across the video (28 signs in 60 s, as in the concatenated clip list)."""
    from signbridge.records import Sentence, Transcript

    n = int(duration_ms // 2200)
    sents = [Sentence(start_ms=i * 2200.0, end_ms=i * 2200.0 + 1500.0, text=SENTENCES[i % len(SENTENCES)],
                      span_indices=[i], confidence=0.9, uncertain=False) for i in range(n)]
    return Transcript(source_uri=str(BENCH_VIDEO), sha256="0" * 64, backend="rules", model="signbridge-rules",
                      prompt_version="r1", sentences=sents)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "speech_mux.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    if not BENCH_VIDEO.is_file():
        print(f"benchmark video not found: {BENCH_VIDEO} (set SIGNBRIDGE_SHARED_DATA)", file=sys.stderr)
        return 2

    from signbridge.captions import to_srt, to_vtt
    from signbridge.media import media_info
    from signbridge.mux import mux_video
    from signbridge.settings import load_settings
    from signbridge.speech import narrate_detailed
    from signbridge.speech.backends import get_tts

    info = media_info(BENCH_VIDEO)
    dur_s = info.duration_s
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    settings = load_settings(env={}, home=str(tmp / "home"))
    tr = bench_transcript(dur_s * 1000)
    rows = []

    # --- TTS real-time factor: synthesis time / length of the audio produced (lower is faster)
    from signbridge.speech.backends import PiperTTS

    narrations = {}
    for tts, label, make in (("piper", "piper, 1 thread (default)", None),
                             ("piper", "piper, onnxruntime default threads", lambda: PiperTTS(threads=0)),
                             ("espeak", "espeak-ng", None)):
        s = settings.replace(tts=tts)
        t0 = time.perf_counter()
        engine = make() if make else get_tts(s)
        load_s = time.perf_counter() - t0
        c0 = _cpu()
        el, res = median_time(lambda: narrate_detailed(tr, dur_s * 1000, s, tmp / f"{tts}.wav", tts=engine),
                              args.repeats)
        cpu = (_cpu() - c0) / args.repeats  # whole narration (synthesis, atempo, mixing): this process + children
        narrations.setdefault(tts, res.path)
        rtf = res.synth_seconds / (res.speech_ms / 1000)
        rows.append({"task": f"TTS {label}",
                     "seconds": round(res.synth_seconds, 3), "load_s": round(load_s, 3), "cpu_s": round(cpu, 3),
                     "x_realtime_cpu": round(res.speech_ms / 1000 / cpu, 1),
                     "media_s": round(res.speech_ms / 1000, 2), "rtf": round(rtf, 4),
                     "x_realtime": round(1 / rtf, 1), "narrate_total_s": round(el, 3),
                     "sentences": len(tr.sentences),
                     "sped_up": sum(p.speed > 1 for p in res.placements),
                     "delayed": sum(p.delay_ms > 1 for p in res.placements)})

    srt = tmp / "c.srt"
    srt.write_text(to_srt(tr, settings, duration_ms=dur_s * 1000))
    vtt = tmp / "c.vtt"
    vtt.write_text(to_vtt(tr, settings, duration_ms=dur_s * 1000))

    # --- mux: stream copy (the default path), each audio mode; burn-in for comparison.
    # The benchmark video has no audio; a copy with a 440 Hz AAC track (video copied) covers track/duck.
    with_audio = tmp / "bench_with_audio.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(BENCH_VIDEO), "-f", "lavfi", "-i",
                    f"sine=frequency=440:sample_rate=44100:duration={dur_s}", "-map", "0:v", "-map", "1:a",
                    "-c:v", "copy", "-c:a", "aac", "-shortest", str(with_audio)], check=True)
    cases = [("mux copy: narration + captions (video has no audio)", BENCH_VIDEO, {}),
             ("mux copy: narration + original audio as 2nd track", with_audio, {"original_audio": "track"}),
             ("mux copy: narration ducked over original audio", with_audio, {"original_audio": "duck"}),
             ("mux re-encode: burnt-in captions", BENCH_VIDEO, {"burn": True})]
    for name, src, kw in cases:
        out = tmp / f"out_{len(rows)}.mp4"
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        reps = 1 if kw.get("burn") else args.repeats
        el, _ = median_time(lambda: mux_video(src, out, narration=narrations["piper"], srt=srt, settings=settings,
                                              **kw), reps)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)) / reps  # ffmpeg + ffprobe CPU time
        rows.append({"task": name, "seconds": round(el, 3), "cpu_s": round(cpu, 3), "media_s": round(dur_s, 2),
                     "x_realtime": round(dur_s / el, 1), "x_realtime_cpu": round(dur_s / cpu, 1)})

    report = {"video": str(BENCH_VIDEO.name), "duration_s": dur_s, "video_has_audio": info.has_audio,
              "repeats": args.repeats, **machine_info(), "rows": rows,
              "target": "mux with stream copy >= 100x real time"}
    print(f"video: {BENCH_VIDEO.name}, {dur_s:.1f} s, {info.width}x{info.height} {info.fps:.2f} fps, "
          f"audio: {info.has_audio}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| task | wall s | CPU s | media s | x real time (wall) | x real time (CPU) | RTF |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['seconds']:.3f} | {r.get('cpu_s', '–')} | {r['media_s']:.1f} | "
              f"{r['x_realtime']:.1f} | {r.get('x_realtime_cpu', '–')} | {r.get('rtf', '–')} |")
    write_results(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
