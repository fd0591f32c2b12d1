"""``signbridge live SOURCE``: captions and voice from a camera, a stream or a file played in real time."""
from __future__ import annotations

import argparse
import signal
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json, add_setting_flags
    from signbridge.settings import setting

    p = sub.add_parser("live", help="live captions and voice from a camera, a stream, or a file in real time",
                       description="Recognise signing as it happens: each sign is shown as a provisional gloss when "
                                   "it ends, each phrase is committed as English at the next pause (never edited "
                                   "afterwards) and spoken at once. Captions print here; --serve opens a page with "
                                   "the captions and the voice. No frame and no audio is written anywhere. Ctrl-C "
                                   "ends it. See docs/live.md.")
    add_common(p)
    p.add_argument("source", metavar="SOURCE",
                   help="a V4L2 camera (/dev/video0), a stream ffmpeg reads (udp://, tcp://, rtsp://, http://), or a "
                        "video file with --realtime")
    yes_no = argparse.BooleanOptionalAction
    p.add_argument("--realtime", action=yes_no, default=False, help="play a file at its own pace (needed for files)")
    p.add_argument("--events", metavar="FILE", help="write every event as a JSON line (ready, partial, caption, audio)")
    p.add_argument("--srt", metavar="FILE", help="write the committed captions as SRT when the stream ends")
    p.add_argument("--save-landmarks", dest="save_landmarks", metavar="FILE",
                   help="write the landmarks (Parquet, the extract contract) when the stream ends; nothing else is "
                        "kept")
    p.add_argument("--serve", action=yes_no, default=False,
                   help="serve the live page (captions + voice) on 127.0.0.1 with an access token; its URL is printed")
    p.add_argument("--host", default="127.0.0.1", help="address of the page (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8766, help="port of the page (0 = any free port; default 8766)")
    p.add_argument("--speech", action=yes_no, default=True, help="speak the committed captions (default; "
                                                                 "--no-speech: captions only)")
    add_json(p, "the session's summary at the end (captions go to stderr)")
    g = p.add_argument_group("settings (each overrides its SIGNBRIDGE_* variable)")
    add_setting_flags(g, [setting(n) for n in ("vocabulary", "min_confidence", "tts", "tts_voice", "face", "live_fps",
                                               "live_max_side", "live_hold_ms", "live_timeout_s")])
    p.set_defaults(func=_live)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def _live(args) -> int:
    from signbridge.cli import emit, say, settings_from_args
    from signbridge.live.session import LiveOptions, Session

    settings = settings_from_args(args)
    opts = LiveOptions(source=args.source, realtime=args.realtime, events=args.events, srt=args.srt,
                       save_landmarks=args.save_landmarks, serve=args.serve, host=args.host, port=args.port,
                       voice=args.speech)
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop ends it as cleanly as Ctrl-C
    # Ctrl-C / SIGINT too when started where SIGINT is ignored (a shell without job control starts `cmd &` so, and
    # Python then leaves it ignored): otherwise `kill -INT` on such a run does nothing
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack, on stderr
    tell = say(args)

    def line(text: str) -> None:
        tell(text)
        sys.stdout.flush()
        sys.stderr.flush()

    session = Session(opts, settings, line)
    stats = session.run()
    if not emit(args, session.result()):
        line(("stopped: " if stats.interrupted else "stream ended: ") + session.summary())
    return 0
