"""``signbridge review``, ``signbridge revise``, ``vocab add-from-reviews``, ``dataset export-reviews``."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common
    from signbridge.orchestrate.options import add_stage_options

    p = sub.add_parser("review", help="browser page to check and correct a run's recognised signs",
                       description="Serve a local web page over a run's results (a folder or s3:// prefix; default "
                                   "SIGNBRIDGE_OUTPUT): play each video with its captions, correct its signs, save "
                                   "revisions and render corrected captions and voice. Open the printed URL: it "
                                   "carries the access token. Stop with Ctrl-C.")
    add_common(p)
    p.add_argument("results", nargs="?", help="results folder or s3://bucket/prefix (SIGNBRIDGE_OUTPUT)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port; default 8765)")
    add_stage_options(p)
    p.set_defaults(func=_review)

    r = sub.add_parser("revise", help="re-render one video's results from a reviewed gloss track",
                       description="Recompose, re-caption, re-narrate and re-mux one result folder from an edited "
                                   "gloss track, redoing only the sentences that changed. The edit is stored as a "
                                   "revision; the outputs it replaces stay under review/renders/<revision>/.")
    add_common(r)
    r.add_argument("folder", help="one video's result folder (local or s3://)")
    r.add_argument("--gloss-track", dest="gloss_track", required=True, help="the edited gloss track (JSON)")
    r.add_argument("--reviewer", help="who made the edit (recorded in the revision; default: your user name)")
    add_stage_options(r)
    r.set_defaults(func=_revise)


def register_vocab_actions(vs: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common

    a = vs.add_parser("add-from-reviews", help="add the new signs reviewers labelled to the few-shot vocabulary",
                      description="Every gloss a reviewer declared new (outside the vocabulary) in the newest "
                                  "revision of each video under RESULTS becomes a few-shot gloss, with the reviewed "
                                  "spans' landmarks as its examples.")
    add_common(a)
    a.add_argument("results", help="results folder or s3://bucket/prefix")
    a.set_defaults(func=_vocab_from_reviews)


def register_dataset_actions(dsub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common

    e = dsub.add_parser("export-reviews", help="reviewed spans → labelled landmark dataset (Parquet + card)",
                        description="Write every span a reviewer checked in the newest revision of each video "
                                    "under RESULTS as a labelled landmark clip, in the layout of `dataset build`.")
    add_common(e)
    e.add_argument("results", help="results folder or s3://bucket/prefix")
    e.add_argument("-o", "--output", required=True, help="dataset folder or s3://bucket/prefix")
    e.add_argument("--name", help="dataset name for the card (default: output folder name)")
    e.set_defaults(func=_export_reviews)


def _review(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.review.serve import serve

    settings = settings_from_args(args)
    serve(args.results or settings.output, settings, host=args.host, port=args.port)
    return 0


def _revise(args) -> int:
    import getpass

    from signbridge.cli import settings_from_args
    from signbridge.review.revise import revise_folder

    settings = settings_from_args(args)
    out = revise_folder(args.folder, args.gloss_track, settings, reviewer=args.reviewer or getpass.getuser())
    print(f"revision {out['revision']} rendered ({len(out['kept_sentences'])} of {out['sentences']} sentences "
          f"unchanged; {out['narration']['synthesised']} narration clips synthesised, "
          f"{out['narration']['cached']} from the cache); previous outputs: review/renders/{out['previous']}/")
    for name, uri in out["outputs"].items():
        print(f"    {name:<16} {uri}")
    for note in out.get("notes", []):  # labels changed by hand: the model's fields they still carried were replaced
        print(f"note: {note}")
    return 0


def _vocab_from_reviews(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.review.feedback import add_from_reviews

    out = add_from_reviews(args.results, settings_from_args(args))
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


def _export_reviews(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.review.feedback import export_reviews

    card = export_reviews(args.results, args.output, settings_from_args(args), name=args.name)
    print(f"dataset {card['name']}: {card['counts']['clips']} reviewed clips, {card['counts']['labels']} labels "
          f"-> {args.output}")
    return 0
