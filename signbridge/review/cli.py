"""``signbridge review``, ``signbridge revise``, ``vocab add-from-reviews``, ``dataset export-reviews``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json
    from signbridge.orchestrate.options import add_stage_options

    p = sub.add_parser("review", help="browser page to check and correct a run's recognised signs",
                       description="Serve a local web page over a run's results: its local results folder (as "
                                   "`process` and `results --to` write it; revisions and renders then go to the "
                                   "store the run wrote to, and the folder is updated), or an output folder or "
                                   "s3:// prefix (default SIGNBRIDGE_OUTPUT). Play each video with its captions, "
                                   "correct its signs, save revisions and render corrected captions and voice. Open "
                                   "the printed URL: it carries the access token. Stop with Ctrl-C.")
    add_common(p)
    p.add_argument("target", nargs="?", metavar="RESULTS",
                   help="a run's local results (e.g. ./signbridge-results), or an output folder or s3://bucket/prefix "
                        "(default SIGNBRIDGE_OUTPUT)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port; default 8765)")
    add_stage_options(p)
    p.set_defaults(func=_review)

    r = sub.add_parser("revise", help="re-render one video's results from a reviewed gloss track",
                       description="Recompose, re-caption, re-narrate and re-mux one result folder from an edited "
                                   "gloss track, redoing only the sentences that changed. The edit is stored as a "
                                   "revision; the outputs it replaces stay under review/renders/<revision>/.")
    add_common(r)
    r.add_argument("folder", help="one video's result folder (local or s3://), or its folder in a run's local "
                                  "results (then the store's folder is revised and the local copy updated)")
    r.add_argument("--gloss-track", dest="gloss_track", help="the edited gloss track (JSON); or give --vocabulary "
                   "or --script to recognise the stored landmarks again with a word list or the script")
    r.add_argument("--reviewer", help="who made the edit (recorded in the revision; default: your user name)")
    add_json(r, "the revision, what was redone and every output's URI")
    add_stage_options(r)
    r.set_defaults(func=_revise)


def register_vocab_actions(vs: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    a = vs.add_parser("add-from-reviews", help="add the new signs reviewers labelled to the few-shot vocabulary",
                      description="Every gloss a reviewer declared new (outside the vocabulary) in the newest "
                                  "revision of each video under RESULTS becomes a few-shot gloss, with the reviewed "
                                  "spans' landmarks as its examples.")
    add_common(a)
    a.add_argument("results", help="results folder or s3://bucket/prefix")
    add_json(a, "the glosses added")
    a.set_defaults(func=_vocab_from_reviews)


def register_dataset_actions(dsub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    e = dsub.add_parser("export-reviews", help="reviewed spans → labelled landmark dataset (Parquet + card)",
                        description="Write every span a reviewer checked in the newest revision of each video "
                                    "under RESULTS as a labelled landmark clip, in the layout of `dataset build`.")
    add_common(e)
    e.add_argument("results", help="results folder or s3://bucket/prefix")
    e.add_argument("-o", "--output", required=True, help="dataset folder or s3://bucket/prefix")
    e.add_argument("--name", help="dataset name for the card (default: output folder name)")
    add_json(e, "the dataset card")
    e.set_defaults(func=_export_reviews)


def _review(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.review.serve import serve

    settings = settings_from_args(args)
    results = args.target or settings.output  # (not `results`: that names the SIGNBRIDGE_RESULTS setting)
    serve(results, _with_store(results, settings), host=args.host, port=args.port)
    return 0


def _with_store(results: str, settings):
    """Settings that reach the store holding ``results`` (for a local copy: the store its run wrote to);
    the embedded store is started when that is S3 and no endpoint is configured, as `process` does."""
    from signbridge.orchestrate.embedded import ensure_store
    from signbridge.review.runs import store_of

    store = store_of(results)
    if not store.startswith("s3://"):
        return settings
    return ensure_store(settings, [store], lambda line: print(line, file=sys.stderr, flush=True))[0]


def _revise(args) -> int:
    import getpass

    from signbridge.cli import emit, settings_from_args
    from signbridge.review.revise import revise_folder
    from signbridge.review.runs import local_video, refresh

    settings = settings_from_args(args)
    copy = local_video(args.folder, settings)  # a local copy's folder: the store's folder is revised, then copied
    folder = f"{copy[0].root}/{copy[1]}" if copy else args.folder
    settings = _with_store(folder, settings) if copy else settings
    edited = args.gloss_track
    if edited is None:
        if not (settings.vocabulary or settings.script):
            from signbridge.errors import ConfigError

            raise ConfigError("revise needs --gloss-track EDITED.json, or --vocabulary/--script to recognise the "
                              "folder again with a word list or the script")
        from signbridge.review.rerecognize import rerecognized_track

        edited = rerecognized_track(folder, settings)
    out = revise_folder(folder, edited, settings, reviewer=args.reviewer or getpass.getuser(),
                        source=None if args.gloss_track else "re-recognised track")
    files = refresh(copy[0], copy[1], settings) if copy else None
    if files is not None:
        out["local_copy"] = {"folder": str(Path(args.folder).resolve()), "files": len(files)}
    if emit(args, out):
        return 0
    print(f"revision {out['revision']} rendered ({len(out['kept_sentences'])} of {out['sentences']} sentences "
          f"unchanged; {out['narration']['synthesised']} narration clips synthesised, "
          f"{out['narration']['cached']} from the cache); previous outputs: review/renders/{out['previous']}/")
    for name, uri in out["outputs"].items():
        print(f"    {name:<16} {uri}")
    for note in out.get("notes", []):  # labels changed by hand: the model's fields they still carried were replaced
        print(f"note: {note}")
    if files is not None:
        print(f"local copy updated: {len(files)} file(s) in {Path(args.folder).resolve()}")
    return 0


def _vocab_from_reviews(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.review.feedback import add_from_reviews

    out = add_from_reviews(args.results, settings_from_args(args))
    if emit(args, out):
        return 0
    for a in out["added"]:
        print(f"added {a['gloss']!r} from {a['clips']} reviewed span(s) -> {a['file']}")
    if out["already_in_vocabulary"]:
        print("already in the vocabulary: " + ", ".join(out["already_in_vocabulary"]))
    if not out["added"] and not out["already_in_vocabulary"]:
        print(f"no new sign declared by reviewers under {out['results']}")
    return 0


def _export_reviews(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.review.feedback import export_reviews

    card = export_reviews(args.results, args.output, settings_from_args(args), name=args.name)
    if emit(args, {"output": args.output, "card": card}):
        return 0
    print(f"dataset {card['name']}: {card['counts']['clips']} reviewed clips, {card['counts']['labels']} labels "
          f"-> {args.output}")
    return 0
