"""Live latency benchmark: the 60 s bench video streamed in real time into `signbridge live`, one core kept busy.

    .venv/bin/python benchmarks/bench_live.py                 # one pass of the 60 s video (28 signs), ~2 min
    .venv/bin/python benchmarks/bench_live.py --loops 10      # ~10 minutes without a break: does latency drift?

ffmpeg streams ``../shared/data/bench/wlasl_concat_640x480_30fps.mp4`` (with 2 s of black after it, so the last
sign ends with the hands leaving the picture as a camera would show it) at its own pace (``-re``) as MPEG-TS over
UDP; ``--loops N`` repeats it N times in one continuous stream. A second process keeps one core busy (a bounded
busy loop that stops itself) for the whole run.

Everything is measured from outside the live process: the benchmark relays the UDP packets and takes the stream's
start (media time 0) from the first packet it forwards, takes each sign's end from the ``sign_end_s`` of the
``partial`` events (media time), and timestamps the captions and the first piece of each phrase's voice as they
arrive over the page's event stream (``--serve``). Latency of a sign = arrival − (stream start + sign end). The
captions' ``timing`` details give the budget by stage. Writes benchmarks/results/live.json (``--loops`` > 1:
live_loop.json) and prints a table. Use ``--vocabulary none`` for open-vocabulary recognition (almost every
sign is then ``[unclear sign]``); the default gives the bench video's 28 words as the word list, as a teacher
would for a lesson.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402

SHARED = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCH_VIDEO = SHARED / "bench" / "wlasl_concat_640x480_30fps.mp4"
BENCH_LIST = SHARED / "bench" / "wlasl_concat_640x480_30fps.csv"
TAIL_S = 2.0  # black after the video: the signer has left the picture


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def padded_video(tmp: Path) -> Path:
    """The bench video with TAIL_S of black after it (re-encoded once: x264 veryfast, crf 18, 30 fps)."""
    out = tmp / "bench_tail.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(BENCH_VIDEO), "-vf",
                    f"tpad=stop_duration={TAIL_S}:color=black", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                    "-pix_fmt", "yuv420p", "-an", str(out)], check=True)
    return out


class Relay:
    """UDP from the sender to live, packet by packet; the first forwarded packet is the stream's start."""

    def __init__(self, to_port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port, self.to = self.sock.getsockname()[1], ("127.0.0.1", to_port)
        self.first: float | None = None
        self.packets = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            out.sendto(data, self.to)
            if self.first is None:
                self.first = time.time()
            self.packets += 1

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


class PageListener:
    """The live page's event stream, read as a browser would; every message stamped on arrival."""

    def __init__(self, url: str):
        m = re.match(r"http://([^:/]+):(\d+)/\?token=(\S+)", url)
        self.host, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
        self.messages: list[tuple[float, str, dict]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=3600)
        conn.request("GET", "/events", headers={"Authorization": f"Bearer {self.token}"})
        resp = conn.getresponse()
        kind, data = None, []
        while True:
            line = resp.fp.readline()
            if not line:
                return
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and kind:
                doc = json.loads("\n".join(data))
                if kind == "voice":
                    doc.pop("wav", None)
                self.messages.append((time.time(), kind, doc))
                kind, data = None, []
                if self.messages[-1][1] == "end":
                    return


def busy(seconds: float) -> subprocess.Popen:
    """One core kept busy by another process; it stops itself after ``seconds``."""
    code = f"import time\nend = time.time() + {seconds:.0f}\nx = 0\nwhile time.time() < end:\n    x += 1\n"
    return subprocess.Popen([sys.executable, "-c", code])


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 3)


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "max": round(max(xs), 3) if xs else None}


def run(args) -> dict:
    """Long because it is the one experiment: start the competitor, live, the page reader, stream, stop, collect."""
    truth = list(csv.DictReader(BENCH_LIST.open()))
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    video = padded_video(tmp)
    period = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                   str(video)], capture_output=True, text=True, check=True).stdout)
    events = tmp / "events.jsonl"
    srt = tmp / "captions.srt"
    live_port = free_port()
    cmd = [sys.executable, "-m", "signbridge.cli", "live", f"udp://127.0.0.1:{live_port}", "--events", str(events),
           "--srt", str(srt), "--serve", "--port", "0"]
    if args.vocabulary != "none":
        words = tmp / "words.txt"
        words.write_text("\n".join(r["gloss"] for r in truth) + "\n")
        cmd += ["--vocabulary", str(words)]
    competitor = busy(period * args.loops + 120) if args.busy else None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    live = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp)
    out_lines: list[str] = []
    url = None
    while url is None:
        line = live.stdout.readline()
        if not line:
            raise SystemExit(f"live did not start: {live.stderr.read()}")
        out_lines.append(line)
        if line.startswith("live page: "):
            url = line.split(": ", 1)[1].strip()
    while "waiting for video" not in out_lines[-1]:
        out_lines.append(live.stdout.readline())
    threading.Thread(target=lambda: [out_lines.append(ln) for ln in live.stdout], daemon=True).start()
    page = PageListener(url)
    relay = Relay(live_port)
    time.sleep(1.0)
    loads: list[list[float]] = []
    sender = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", str(args.loops - 1), "-i", str(video),
                               "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{relay.port}?pkt_size=1316"])
    while sender.poll() is None:
        loads.append([round(x, 2) for x in os.getloadavg()])
        time.sleep(5)
    time.sleep(4.0)  # the last sign's hold, classification and voice
    live.send_signal(signal.SIGINT)
    rc = live.wait(timeout=60)
    relay.close()
    if competitor is not None:
        competitor.kill()
        competitor.wait()
    time.sleep(0.5)
    evs = [json.loads(x) for x in events.read_text().splitlines()]
    report = analyse(evs, page.messages, relay.first, truth, period, args)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    report.update({"commit": commit, "return_code": rc, "live_said_last": [ln.strip() for ln in out_lines[-2:]],
                   "load_avg_during": loads, "machine": machine_info(), "loops": args.loops,
                   "stream_s": round(period * args.loops, 1), "vocabulary": args.vocabulary,
                   "busy_core": bool(args.busy), "relay_packets": relay.packets,
                   "srt_is_committed_text": srt_words(srt) == " ".join(e["text"] for e in evs
                                                                       if e["type"] == "caption").split()})
    shutil.rmtree(tmp, ignore_errors=True)
    return report


def srt_words(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return " ".join(ln for ln in lines if ln and not ln.isdigit() and "-->" not in ln).split()


def analyse(evs: list[dict], msgs: list, t0: float, truth: list[dict], period: float, args) -> dict:
    """Latencies per sign and per phrase, from outside (page arrival) and as the events say, plus the budget."""
    caps = {e["phrase"]: e for e in evs if e["type"] == "caption"}
    audio = {e["phrase"]: e for e in evs if e["type"] == "audio"}
    seen_cap = {d["phrase"]: t for t, k, d in msgs if k == "caption"}
    seen_voice = {}
    for t, k, d in msgs:
        if k == "voice" and d["seq"] == 0:
            seen_voice.setdefault(d["phrase"], t)
    per_sign = []
    for p in (e for e in evs if e["type"] == "partial"):
        c = caps.get(p["phrase"])
        if c is None:
            continue
        end = t0 + p["sign_end_s"]
        row = {"phrase": p["phrase"], "sign_start_s": p["sign_start_s"], "sign_end_s": p["sign_end_s"], "gloss": p["gloss"], "tier": p["tier"],
               "ended_by": p["ended_by"], "last_of_phrase": p["sign_end_s"] == c["sign_end_s"],
               "caption_s": _r(seen_cap.get(p["phrase"]), end), "caption_events_s": _r(c["wall_time"], end),
               "audio_s": _r(seen_voice.get(p["phrase"]), end),
               "audio_events_s": _r(audio.get(p["phrase"], {}).get("wall_time"), end)}
        per_sign.append(row)
    texts_page = [d["text"] for _, k, d in msgs if k == "caption"]
    edits = len(caps) != len([e for e in evs if e["type"] == "caption"]) or \
        texts_page != [e["text"] for e in evs if e["type"] == "caption"]
    rep = {"signs": len(per_sign), "phrases": len(caps), "edits_to_committed_text": int(edits),
           "caption": summary([r["caption_s"] for r in per_sign if r["caption_s"] is not None]),
           "first_audio": summary([r["audio_s"] for r in per_sign if r["audio_s"] is not None]),
           "caption_events": summary([r["caption_events_s"] for r in per_sign if r["caption_events_s"] is not None]),
           "first_audio_events": summary([r["audio_events_s"] for r in per_sign if r["audio_events_s"] is not None]),
           "caption_last_sign_of_phrase": summary([r["caption_s"] for r in per_sign
                                                   if r["caption_s"] is not None and r["last_of_phrase"]]),
           "budget_ms": budget(caps, audio, seen_cap, seen_voice, t0),
           "accuracy": accuracy(per_sign, truth, period, args.loops), "per_sign": per_sign}
    rep["drift"] = drift(per_sign, period)
    return rep


def _r(t: float | None, end: float) -> float | None:
    return None if t is None else round(t - end, 3)


def budget(caps: dict, audio: dict, seen_cap: dict, seen_voice: dict, t0: float) -> dict:
    """Median and p95 of each stage, over the phrases committed by a pause (their last sign's path)."""
    stages: dict[str, list[float]] = {k: [] for k in ("endpoint hold", "capture", "wait for landmarks", "landmarks",
                                                      "classify", "compose", "caption sent", "first audio",
                                                      "audio sent")}
    for ph, c in caps.items():
        t = c.get("timing") or {}
        if "frame_arrived" not in t:
            continue
        stages["endpoint hold"].append(1000 * (t["decided_s"] - c["sign_end_s"]))
        stages["capture"].append(1000 * (t["frame_arrived"] - (t0 + t["decided_s"])))
        stages["wait for landmarks"].append(t["wait_ms"])
        stages["landmarks"].append(t["landmarks_ms"])
        stages["classify"].append(t["classify_ms"])
        stages["compose"].append(t["compose_ms"])
        if ph in seen_cap:
            stages["caption sent"].append(1000 * (seen_cap[ph] - c["wall_time"]))
        if ph in audio:
            stages["first audio"].append(1000 * (audio[ph]["wall_time"] - c["wall_time"]))
            if ph in seen_voice:
                stages["audio sent"].append(1000 * (seen_voice[ph] - audio[ph]["wall_time"]))
    return {k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for k, v in stages.items()}


def accuracy(per_sign: list[dict], truth: list[dict], period: float, loops: int) -> dict:
    """Signs found and words shown against the video's list (the clip a sign's end falls in)."""
    ends, t = [], 0.0
    for r in truth:
        t += float(r["duration_s"])
        ends.append(t)
    shown = right = 0
    clips = set()
    for r in per_sign:
        loop, at = divmod((r["sign_start_s"] + r["sign_end_s"]) / 2, period)  # the clip its middle falls in
        k = next((i for i, e in enumerate(ends) if at <= e), len(ends) - 1)
        clips.add((int(loop), k))
        if r["tier"] != "unclear":
            shown += 1
            right += r["gloss"].lower() == truth[k]["gloss"].lower()
    return {"signs_in_video": len(truth) * loops, "clips_with_a_sign": len(clips), "words_shown": shown,
            "words_right": right}


def drift(per_sign: list[dict], period: float) -> dict:
    """Caption latency per pass of the video (and its least-squares slope over the run, in ms per minute)."""
    rows = [(r["sign_end_s"], r["caption_s"]) for r in per_sign if r["caption_s"] is not None]
    if len(rows) < 3:
        return {}
    xs, ys = [x for x, _ in rows], [y for _, y in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in rows) / max(sum((x - mx) ** 2 for x in xs), 1e-9)
    passes = {}
    for x, y in rows:
        passes.setdefault(int(x // period), []).append(y)
    return {"slope_ms_per_minute": round(slope * 1000 * 60, 2),
            "per_pass": [{"pass": k, **summary(v)} for k, v in sorted(passes.items())]}


def table(rep: dict) -> str:
    lines = ["| measure (end of sign →) | n | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|"]
    for key, name in (("caption", "committed caption (page)"), ("first_audio", "first audio (page)"),
                      ("caption_events", "committed caption (events file)"),
                      ("first_audio_events", "first audio (events file)")):
        s = rep[key]
        lines.append(f"| {name} | {s['n']} | {s['p50']} | {s['p95']} | {s['max']} |")
    lines += ["", "| stage | p50 ms | p95 ms |", "|---|---:|---:|"]
    for k, v in rep["budget_ms"].items():
        lines.append(f"| {k} | {v['p50']} | {v['p95']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loops", type=int, default=1, help="passes of the video in one continuous stream")
    ap.add_argument("--vocabulary", choices=("bench", "none"), default="bench")
    ap.add_argument("--no-busy", dest="busy", action="store_false", help="without the competing busy core")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/live.json or live_loop.json)")
    args = ap.parse_args()
    rep = run(args)
    print(table(rep))
    print(f"drift: {rep['drift'].get('slope_ms_per_minute')} ms/min; edits: {rep['edits_to_committed_text']}; "
          f"accuracy: {rep['accuracy']}; load: {rep['load_avg_during'][:1]}…{rep['load_avg_during'][-1:]}")
    out = args.out or ROOT / "benchmarks" / "results" / ("live.json" if args.loops == 1 else "live_loop.json")
    write_results(out, rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
