"""Captions and sentences of an older commit, checked with today's caption and faithfulness rules.

    .venv/bin/python benchmarks/caption_before_after.py [--commit e281345] [--tracks 10]

The older ``signbridge`` package is exported with ``git archive`` into a temporary folder and run in a
subprocess on the same synthetic 3-minute lessons `signbridge eval-captions` uses (rules composer, the
gloss track passed to the captions); its transcripts and SRT text are then checked here with
signbridge.captions.rules and signbridge.compose.faithful. Writes benchmarks/results/caption_before_after.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402

_OLD = """
import json, sys
from signbridge.captions import to_srt
from signbridge.compose import compose_tracks
from signbridge.records import GlossTrack
from signbridge.settings import load_settings
st = load_settings(env={}, home=sys.argv[3])
out = []
for d in json.load(open(sys.argv[1])):
    tr = GlossTrack.from_dict(d)
    t = compose_tracks([tr], st)[0]
    out.append({"transcript": t.to_dict(), "srt": to_srt(t, st, track=tr, duration_ms=tr.duration_ms)})
json.dump(out, open(sys.argv[2], "w"))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="e281345", help="the older commit (default: main before issue 13)")
    ap.add_argument("--tracks", type=int, default=10)
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "caption_before_after.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    from signbridge.captions import parse_cues
    from signbridge.captions.rules import RULES, check_cues
    from signbridge.captions.synthetic import synthetic_track
    from signbridge.compose import faithful
    from signbridge.records import Transcript
    from signbridge.settings import load_settings

    tracks = [synthetic_track(seed) for seed in range(args.tracks)]
    with tempfile.TemporaryDirectory(prefix="sb-before-") as tmp:
        t = Path(tmp)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.commit, "signbridge"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(t)], input=archive, check=True)
        schemas = t / "signbridge" / "_schemas"
        if schemas.is_symlink() or not schemas.exists():
            schemas.unlink(missing_ok=True)
            schemas.symlink_to(ROOT / "schemas")
        (t / "tracks.json").write_text(json.dumps([tr.to_dict() for tr in tracks]))
        env = {**os.environ, "PYTHONPATH": str(t)}
        subprocess.run([sys.executable, "-c", _OLD, str(t / "tracks.json"), str(t / "out.json"), str(t / "home")],
                       env=env, check=True, cwd=tmp)
        olds = json.loads((t / "out.json").read_text())
    settings = load_settings(env={}, home=tempfile.mkdtemp(prefix="sb-bench-"))
    cues = sentences = any_cue = any_sentence = 0
    cue_n = dict.fromkeys(RULES, 0)
    sent_n = dict.fromkeys(faithful.RULES, 0)
    for track, old in zip(tracks, olds):
        tr = Transcript.from_dict(old["transcript"])
        chk = check_cues(parse_cues(old["srt"]), tr, settings, track=track, duration_ms=track.duration_ms)
        cues += chk.cues
        any_cue += len(chk.broken)
        for r in RULES:
            cue_n[r] += chk.count(r)
        for s in tr.sentences:
            broken = faithful.violations(s.text, s.glosses, [track.spans[i].confidence for i in s.span_indices],
                                         settings.low_confidence)
            sentences += 1
            any_sentence += bool(broken)
            for r in faithful.RULES:
                sent_n[r] += any(b.startswith(r + ":") for b in broken)
    row = {"commit": args.commit, "tracks": len(tracks), "cues": cues, "sentences": sentences,
           "any_cue_violation": round(any_cue / cues, 4), "any_sentence_violation": round(any_sentence / sentences, 4),
           "cue_violations": {r: round(n / cues, 4) for r, n in cue_n.items()},
           "sentence_violations": {r: round(n / sentences, 4) for r, n in sent_n.items()}}
    print(json.dumps(row, indent=1))
    write_results(args.json, {**machine_info(), "before": row})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
