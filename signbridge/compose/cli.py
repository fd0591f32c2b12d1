"""``signbridge compose`` (gloss tracks -> transcripts) and ``signbridge eval-compose``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _composer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--composer", choices=["rules", "local", "vllm"], help="backend (SIGNBRIDGE_COMPOSER)")
    p.add_argument("--llm-model", dest="llm_model", help="model path/id (SIGNBRIDGE_LLM_MODEL)")
    p.add_argument("--llm-url", dest="llm_url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
                                                     "(SIGNBRIDGE_LLM_URL)")


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    p = sub.add_parser("compose", help="compose English sentences from gloss tracks",
                       description="Gloss track JSON files -> transcript JSON files (one batched backend call for "
                                   "all inputs). With --text, compose one gloss string and print the sentence.")
    add_common(p)
    _composer_flags(p)
    p.add_argument("inputs", nargs="*", metavar="GLOSS_TRACK.json")
    p.add_argument("-o", "--output", help="output .json (one input) or folder (<name>.transcript.json each); "
                                          "default: print to stdout")
    p.add_argument("--text", help='a gloss string, e.g. "YESTERDAY IX-1p GO STORE"')
    p.add_argument("--cache", dest="use_cache", action=argparse.BooleanOptionalAction, default=True,
                   help="read and write the composition cache (default: on)")
    add_json(p, "the transcripts (or, with -o, the files written) and the composer's statistics")
    p.set_defaults(func=_compose)

    e = sub.add_parser("eval-compose", help="score every composer backend with sacreBLEU and chrF",
                       description="Score composer backends on ../shared/data/gloss_english (ASLG-PC12 and NCSLGR "
                                   "dev) and print a table.")
    add_common(e)
    _composer_flags(e)
    e.add_argument("--data", help="gloss_english folder (default: ../shared/data/gloss_english next to the repo)")
    e.add_argument("--backends", default="rules,local,vllm", help="comma-separated (default: rules,local,vllm)")
    e.add_argument("--limit", type=int, default=200,
                   help="rows per set for every backend (the first N; 0 = all). Rules are also scored on all rows.")
    e.add_argument("--json-out", dest="json_out", default="benchmarks/results/compose_eval.json", metavar="PATH",
                   help="where to write the JSON report ('' for none; was --json PATH before 0.2)")
    add_json(e, "the report")
    e.set_defaults(func=_eval)

    q = sub.add_parser("eval-captions", help="share of captions and sentences breaking each rule, per backend",
                       description="Compose, caption and check gloss tracks with every backend: the share of cues "
                                   "breaking each caption rule (timing, duration, length, cps, split markers, text) "
                                   "and of sentences breaking each faithfulness rule (dropped, added, unclear, "
                                   "tense). Without inputs: synthetic 3-minute lessons of 70 signs.")
    add_common(q)
    _composer_flags(q)
    q.add_argument("inputs", nargs="*", metavar="GLOSS_TRACK.json", help="gloss tracks (default: synthetic)")
    q.add_argument("--synthetic", type=int, default=10, help="synthetic tracks when no inputs are given (default 10)")
    q.add_argument("--backends", default="rules,local,vllm", help="comma-separated (default: rules,local,vllm)")
    q.add_argument("--json-out", dest="json_out", default="benchmarks/results/caption_quality.json", metavar="PATH",
                   help="where to write the JSON report ('' for none; was --json PATH before 0.2)")
    add_json(q, "the report")
    q.set_defaults(func=_eval_captions)


def _compose(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.compose import compose_text, compose_tracks
    from signbridge.errors import ConfigError
    from signbridge.records import GlossTrack

    settings = settings_from_args(args)
    if args.text:
        sentence = compose_text(args.text, settings)
        if not emit(args, {"glosses": args.text, "sentence": sentence}):
            print(sentence)
        return 0
    if not args.inputs:
        raise ConfigError("give GLOSS_TRACK.json files or --text")
    tracks = [GlossTrack.read(p) for p in args.inputs]
    stats: list = []
    transcripts = compose_tracks(tracks, settings, use_cache=args.use_cache, stats_out=stats)
    docs = [t.to_dict() for t in transcripts]
    st = stats[0]
    print(f"composer {st.backend} ({st.model}): {st.items} sentence(s), {st.cached} cached, {st.rejected} rejected "
          f"by the guard{', fell back from ' + st.fallback_from if st.fallback_from else ''}", file=sys.stderr)
    stats_doc = {"backend": st.backend, "model": st.model, "sentences": st.items, "cached": st.cached,
                 "rejected": st.rejected, "fallback_from": st.fallback_from}
    if not args.output:  # the transcripts are the output (as they were before --json existed)
        if not emit(args, {"transcripts": docs, "composer": stats_doc}):
            print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, ensure_ascii=False))
        return 0
    out = Path(args.output)
    written = []
    if len(docs) == 1 and out.suffix == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(docs[0], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(str(out))
    else:
        out.mkdir(parents=True, exist_ok=True)
        for src, doc in zip(args.inputs, docs):
            stem = Path(src).name.removesuffix(".json").removesuffix(".gloss_track").removesuffix(".gloss")
            dst = out / f"{stem}.transcript.json"
            dst.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(dst))
    if not emit(args, {"written": written, "composer": stats_doc}):
        print("\n".join(written))
    return 0


def _eval(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.compose.evaluate import evaluate, table, write_json

    settings = settings_from_args(args)
    import os

    shared = os.environ.get("SIGNBRIDGE_SHARED_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
    data = Path(args.data) if args.data else Path(shared) / "gloss_english"
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    report = evaluate(settings, data, backends, limit=args.limit)
    if not emit(args, report):
        print(table(report))
    if args.json_out:
        print(f"\nwritten: {write_json(report, args.json_out)}", file=sys.stderr)
    return 0


def _eval_captions(args) -> int:
    from signbridge.captions.quality import evaluate, table
    from signbridge.captions.synthetic import synthetic_track
    from signbridge.cli import emit, settings_from_args
    from signbridge.compose.evaluate import write_json
    from signbridge.records import GlossTrack

    settings = settings_from_args(args)
    tracks = [GlossTrack.read(p) for p in args.inputs] or [synthetic_track(seed) for seed in range(args.synthetic)]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    report = evaluate(settings, tracks, backends)
    if not emit(args, report):
        print(table(report))
    if args.json_out:
        print(f"\nwritten: {write_json(report, args.json_out)}", file=sys.stderr)
    return 0
