"""`signbridge live`: a real clip streamed at real pace over UDP (ffmpeg, MPEG-TS) into the real command, its
events, SRT and page (headless Debian chromium), Ctrl-C, and the one-line errors of a source that cannot be
opened or stops mid-stream. The endpointer also runs on a real clip's landmarks, without video."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FFMPEG = "ffmpeg"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """`signbridge live ...` in its own process with empty TMPDIR, HOME, SIGNBRIDGE_HOME and working directory."""

    def __init__(self, args: list[str], root: Path, **extra_env: str):
        self.dirs = {k: root / k for k in ("tmp", "home", "sbhome", "cwd")}
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(self.dirs["tmp"]), "HOME": str(self.dirs["home"]),
               "SIGNBRIDGE_HOME": str(self.dirs["sbhome"]), "XDG_CACHE_HOME": str(self.dirs["home"] / ".cache")}
        env.pop("SIGNBRIDGE_VOCABULARY", None)
        env.update(extra_env)
        self.proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "live", *args], cwd=self.dirs["cwd"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.said: list[str] = []
        self.err: list[str] = []  # read as it comes: an unread pipe fills (64 KiB) and blocks the process's writes
        threading.Thread(target=lambda: [self.lines.put(ln) for ln in self.proc.stdout], daemon=True).start()
        self._err_reader = threading.Thread(target=lambda: [self.err.append(ln) for ln in self.proc.stderr], daemon=True)
        self._err_reader.start()

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.said.append(line)
            if re.search(pattern, line):
                return line.strip()
        raise AssertionError(f"no line matching {pattern!r}; said: {''.join(self.said)} {self.stderr()}")

    def children(self) -> set[int]:
        out: set[int] = set()
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                out |= {int(p) for p in (task / "children").read_text().split()}
            except OSError:
                pass
        return out

    def stderr(self) -> str:
        if self.proc.poll() is not None:
            self._err_reader.join(timeout=5)  # it ends when the pipe does: everything written is read
        return "".join(self.err)[-6000:]

    def ended(self, timeout: float) -> int:
        """The exit code; if it has not exited in ``timeout`` s, every thread's stack (``kill -USR1``) is in the
        failure, then it is killed."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.stop()
            time.sleep(0.5)
            raise AssertionError(f"still running {timeout:g} s after Ctrl-C; its threads and stderr:\n{self.stderr()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def send(video: Path, port: int, seconds: float | None = None) -> subprocess.Popen:
    """Stream a file at its own pace (-re) as MPEG-TS over UDP to 127.0.0.1:port, as a camera encoder would."""
    cut = ["-t", str(seconds)] if seconds else []
    return subprocess.Popen([FFMPEG, "-v", "error", "-re", "-i", str(video), *cut, "-c", "copy", "-f", "mpegts",
                             f"udp://127.0.0.1:{port}?pkt_size=1316"], stdin=subprocess.DEVNULL)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def go_eat_rest(go_eat_video, tmp_path_factory) -> Path:
    """The GO / EAT clip with 1.5 s of black after EAT: the signer's hands leave the picture, as they rest."""
    out = tmp_path_factory.mktemp("live") / "go_eat_rest.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(go_eat_video), "-vf", "tpad=stop_duration=1.5:color=black",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-g", "15", "-pix_fmt", "yuv420p", str(out)],
                   check=True)  # a key frame every 0.5 s, as cameras send them
    return out


def files_under(dirs) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*") if p.is_file())


@pytest.mark.data
@pytest.mark.slow
def test_udp_stream_gives_events_srt_page_and_voice_then_ctrl_c_ends_it(go_eat_rest, tmp_path, browser):
    """GO, 2.5 s of black, EAT, streamed in real time: provisional glosses then committed English, each phrase
    committed once and spoken; the page shows the captions and plays the voice; Ctrl-C leaves no process and
    nothing but the asked-for files was written."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_udp_port()
    words = tmp_path / "words.txt"
    words.write_text("go\neat\nwater\nmother\n")
    events, srt = tmp_path / "out" / "events.jsonl", tmp_path / "out" / "captions.srt"
    events.parent.mkdir()
    # the stream's end is not a failure here: Ctrl-C ends the run, however long a busy box takes to play the voice
    live = Live([f"udp://127.0.0.1:{port}", "--events", str(events), "--srt", str(srt), "--serve", "--port", "0",
                 "--vocabulary", str(words)], tmp_path / "run", SIGNBRIDGE_LIVE_TIMEOUT_S="300")
    try:
        url = live.wait_for(r"^live page: http://127\.0\.0\.1:\d+/\?token=").split(": ", 1)[1]
        live.wait_for("waiting for video")
        time.sleep(1.0)  # ffmpeg listens on the port a moment after it started
        browser.get(url)
        browser.find_element(By.ID, "voice").click()  # the one click browsers need before they play audio
        WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.live.audioState") == "running")
        ffmpeg_pids = live.children()
        assert ffmpeg_pids, "live reads the stream through an ffmpeg child"
        t0 = time.time()
        sender = send(go_eat_rest, port)
        assert sender.wait(timeout=60) == 0
        try:
            WebDriverWait(browser, 30).until(lambda d: d.execute_script("return window.live.audioPlayed") >= 2)
        except Exception:
            raise AssertionError(f"page: {browser.execute_script('return window.live')}; live said: "
                                 f"{''.join(live.said)}; events: {events.read_text()}") from None
        shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#captions li .text")]
        live.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert live.ended(60) == 0, live.stderr()
        live.wait_for(r"^stopped: \d+ captions from \d+ signs")
    finally:
        live.stop()
    assert not [p for p in ffmpeg_pids | live.children() if alive(p)], "a child outlived Ctrl-C"

    evs = [json.loads(line) for line in events.read_text().splitlines()]
    assert all(set(e) >= {"type", "text", "sign_start_s", "sign_end_s", "wall_time"} for e in evs)
    assert evs[0]["type"] == "ready" and evs[0]["sign_start_s"] is None and evs[0]["wall_time"] >= t0
    assert [e["wall_time"] for e in evs] == sorted(e["wall_time"] for e in evs)
    caps = [e for e in evs if e["type"] == "caption"]
    partials = [e for e in evs if e["type"] == "partial"]
    audio = [e for e in evs if e["type"] == "audio"]
    assert caps and len(partials) >= len(caps) and len(audio) == len(caps)
    assert [c["phrase"] for c in caps] == list(range(len(caps)))  # each phrase committed once, never again
    duration = 8.0  # GO (~2.2 s) + 2.5 s black + EAT (~1.8 s) + 1.5 s black
    for c in caps:
        assert 0 <= c["sign_start_s"] < c["sign_end_s"] <= duration, c
        mine = [p for p in partials if p["phrase"] == c["phrase"]]
        assert mine and mine[0]["wall_time"] <= c["wall_time"] and mine[0]["provisional"] is True
        assert mine[-1]["sign_end_s"] == c["sign_end_s"]
        said = next(a for a in audio if a["phrase"] == c["phrase"])
        assert said["wall_time"] >= c["wall_time"] and said["audio_s"] > 0.2
        assert c["wall_time"] - t0 - c["sign_end_s"] < 5.0  # within seconds of the sign, not at the end
    assert {p["ended_by"] for p in partials} <= {"rest", "still"}  # every sign ended by a pause, before the end
    shown_words = {p["gloss"] for p in partials if p["tier"] != "unclear"}
    assert shown_words <= {"go", "eat", "water", "mother"}  # the word list limits what is shown
    assert shown == [c["text"] for c in caps]  # the page showed every committed caption, as committed
    cue_text = " ".join(ln for ln in srt.read_text().splitlines() if ln and not ln.isdigit() and "-->" not in ln)
    assert cue_text.split() == " ".join(c["text"] for c in caps).split()  # the SRT is the committed text
    asked = {events, srt}
    assert set(files_under([events.parent])) == asked
    # what else the process left: only onnxruntime's own state files (the voice engine's); no frame, no audio
    others = files_under(live.dirs.values())
    assert {p.name for p in others} <= ONNXRUNTIME_STATE, others
    assert all(p.stat().st_size < 64_000 for p in others)


ONNXRUNTIME_STATE = {".ses", "deviceid", "onnxruntime.db"}  # written by onnxruntime itself (piper's runtime)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error_line(live: Live, timeout: float = 120) -> str:
    assert live.proc.wait(timeout=timeout) == 1
    err = live.stderr().strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("signbridge live: error: "), err
    return err


@pytest.mark.data
def test_a_source_that_cannot_be_opened_gets_one_clear_line(go_eat_video, tmp_path):
    port = free_tcp_port()  # nothing listens there
    cases = [([str(tmp_path / "missing.mp4"), "--realtime"], "missing.mp4: no such file, device or stream address"),
             ([str(go_eat_video)], "add --realtime to play it at its own pace"),
             (["/dev/video99"], "/dev/video99: no such video device"),
             ([f"tcp://127.0.0.1:{port}"], f"tcp://127.0.0.1:{port}: cannot open the source (ffmpeg: "),
             (["rtmpz://example/x"], "not a stream address ffmpeg reads here")]
    for n, (args, says) in enumerate(cases):
        live = Live([*args, "--no-speech", "--source-timeout", "5"], tmp_path / f"run{n}")
        try:
            assert says in one_error_line(live)
            assert not [p for p in live.children() if alive(p)]
        finally:
            live.stop()


@pytest.mark.data
def test_a_stream_that_dies_midstream_gets_one_clear_line_and_keeps_its_captions(go_eat_rest, tmp_path):
    """The sender is killed after GO: live says so in one line within the timeout, and GO was committed first."""
    port = free_udp_port()
    events = tmp_path / "events.jsonl"
    live = Live([f"udp://127.0.0.1:{port}", "--no-speech", "--source-timeout", "3", "--events", str(events)], tmp_path / "run")
    try:
        live.wait_for("waiting for video")
        time.sleep(1.0)  # ffmpeg listens on the port a moment after it started
        pids = live.children()
        sender = send(go_eat_rest, port)
        time.sleep(3.5)  # GO, and into the black
        sender.kill()
        sender.wait()
        killed = time.monotonic()
        err = one_error_line(live, timeout=30)
        assert time.monotonic() - killed < 15
        assert re.search(r"udp://127\.0\.0\.1:\d+: the stream stopped: no video for 3 s after \d+\.\d s of stream", err)
        assert not [p for p in pids | live.children() if alive(p)]
    finally:
        live.stop()
    evs = [json.loads(line) for line in events.read_text().splitlines()]
    assert evs[0]["type"] == "ready" and [e["phrase"] for e in evs if e["type"] == "caption"] == [0]


@pytest.mark.data
def test_endpointer_finds_the_signs_of_a_real_clip_as_they_end(shared_data):
    """Frame by frame on real landmarks (three WLASL clips, 1 s without hands between them), as live feeds it:
    every clip's sign is found, ends within the hold (and one frame) of being over, and never spans two clips."""
    import numpy as np

    from signbridge.live.endpoint import Endpointer
    from signbridge.recognize.frames import body_reference, frames_from_npy
    from signbridge.recognize.segment import SegmentConfig

    clips = sorted((shared_data / "wlasl_holistic_landmarks_npy" / "landmarks").glob("*.npy"))[:3]
    assert clips
    parts = [frames_from_npy(p, fps=25.0) for p in clips]
    ep = Endpointer(SegmentConfig(), hold_ms=300.0, still_speed=0.5)
    offset, found, bounds = 0.0, [], []
    for f in parts:
        ref = body_reference(f)
        for i in range(len(f)):
            t = offset + f.t_ms[i]
            for s in ep.push(t, f.left[i], f.right[i], ref):
                found.append((s, t))
        bounds.append((offset, offset + f.duration_ms))
        rest = np.full((21, 3), np.nan, np.float32)  # 1 s with no hands between the clips: the hands rest
        for k in range(25):
            t = offset + f.duration_ms + 40.0 * k
            for s in ep.push(t, rest, rest, ref):
                found.append((s, t))
        offset += f.duration_ms + 1000.0
    for s, decided in found:
        assert s.start_ms < s.end_ms <= decided and decided - s.end_ms <= 300.0 + 80.0  # the hold, one frame late
    per_clip = [[s for s, _ in found if a <= s.start_ms and s.end_ms <= b] for a, b in bounds]
    assert sum(map(len, per_clip)) == len(found)  # no sign runs into the rest after its clip or the next clip
    assert all(1 <= len(c) <= 2 for c in per_clip), found  # every clip's sign found, at most cut once
