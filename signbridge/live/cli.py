"""``signbridge live SOURCE``: captions and voice from a camera, a stream or a file played in real time."""
from __future__ import annotations

import argparse
import signal


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common
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
    p.add_argument("--realtime", action="store_true", help="play a file at its own pace (needed for files)")
    p.add_argument("--events", metavar="FILE", help="write every event as a JSON line (ready, partial, caption, audio)")
    p.add_argument("--srt", metavar="FILE", help="write the committed captions as SRT when the stream ends")
    p.add_argument("--save-landmarks", dest="save_landmarks", metavar="FILE",
                   help="write the landmarks (Parquet, the extract contract) when the stream ends; nothing else is "
                        "kept")
    p.add_argument("--serve", action="store_true", help="serve the live page (captions + voice) on 127.0.0.1 with "
                                                        "an access token; its URL is printed")
    p.add_argument("--host", default="127.0.0.1", help="address of the page (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8766, help="port of the page (0 = any free port; default 8766)")
    p.add_argument("--no-voice", dest="voice", action="store_false", help="captions only, no speech")
    g = p.add_argument_group("settings (each overrides its SIGNBRIDGE_* variable)")
    for name, flag, metavar in (("vocabulary", "--vocabulary", "FILE"), ("min_confidence", "--min-confidence", "P"),
                                ("tts", "--tts", None), ("tts_voice", "--voice", "VOICE"), ("face", "--face", None),
                                ("live_fps", "--live-fps", "FPS"), ("live_max_side", "--live-max-side", "PIXELS"),
                                ("live_hold_ms", "--hold-ms", "MS"), ("live_timeout_s", "--timeout", "SECONDS")):
        s = setting(name)
        g.add_argument(flag, dest=name, type=s.type, choices=s.choices, metavar=metavar, help=f"{s.help} ({s.env})")
    p.set_defaults(func=_live)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def _live(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.live.session import LiveOptions, Session

    settings = settings_from_args(args)
    opts = LiveOptions(source=args.source, realtime=args.realtime, events=args.events, srt=args.srt,
                       save_landmarks=args.save_landmarks, serve=args.serve, host=args.host, port=args.port,
                       voice=args.voice)
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop ends it as cleanly as Ctrl-C

    def say(line: str) -> None:
        print(line, flush=True)

    session = Session(opts, settings, say)
    stats = session.run()
    say(("stopped: " if stats.interrupted else "stream ended: ") + session.summary())
    return 0
