"""The dataset card of ``dataset build`` / ``dataset export-reviews``: a Hugging Face YAML header + Markdown.

The header is what the Hub and ``datasets.load_dataset(OUT)`` read: the configs (``frames``, the default,
and ``videos``) with one ``data_files`` entry per split, the licences of the sources mapped onto the Hub's
licence ids, the size category. The Markdown body says the same for people.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

# the Hub's licence ids a labels file is likely to name (https://huggingface.co/docs/hub/repositories-licenses)
HUB_LICENCES = frozenset("""
apache-2.0 mit afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0
cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0
cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc mpl-2.0 odc-by odbl pddl unlicense zlib openrail other unknown
""".split())
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def hub_licence(raw: str | None) -> str | None:
    """``'CC BY 4.0'`` -> ``'cc-by-4.0'``, ``'C-UDA 1.0'`` -> ``'c-uda'``, ``'CC0'`` -> ``'cc0-1.0'``; None when
    the text names no licence the Hub knows (the card then says ``other`` and lists the text)."""
    if not raw or not raw.strip():
        return None
    v = re.sub(r"[\s_]+", "-", raw.strip().lower()).replace("licence", "").replace("license", "").strip("-")
    for cand in (v, f"{v}-1.0", v.replace("-v", "-"), re.sub(r"-?v?\d+(\.\d+)*$", "", v)):
        if cand in HUB_LICENCES:
            return cand
    return None


def licence_fields(licences: Iterable[str | None]) -> dict[str, Any]:
    """The header's ``license`` (one id or a list) and, for texts the Hub does not know, ``license_details``."""
    ids: list[str] = []
    unknown: list[str] = []
    for raw in licences:
        lid = hub_licence(raw) if raw else "unknown"
        if lid is None:
            lid = "other"
            if raw not in unknown:
                unknown.append(raw)  # type: ignore[arg-type]
        if lid not in ids:
            ids.append(lid)
    out: dict[str, Any] = {"license": (ids[0] if len(ids) == 1 else sorted(ids)) if ids else "unknown"}
    if unknown:
        out["license_name"] = "see-sources"
        out["license_details"] = "Per-video licences (see the Sources table): " + "; ".join(sorted(unknown))
    return out


def size_category(rows: int) -> str:
    return next((name for limit, name in _SIZES if rows < limit), "n>1T")


def hub_header(name: str, splits: Mapping[str, Mapping[str, Any]], licences: Iterable[str | None], rows: int,
               frames_path: str = "data/{split}/*.parquet", videos_path: str = "videos/{split}.parquet") -> str:
    """The YAML front matter: configs ``frames`` (default) and ``videos``, one data_files entry per split."""
    import yaml

    order = [s for s in ("train", "validation", "test") if s in splits] + sorted(
        s for s in splits if s not in ("train", "validation", "test"))
    header = {
        "pretty_name": name,
        **licence_fields(licences),
        "tags": ["sign-language", "landmarks", "mediapipe", "pose-estimation", "signbridge"],
        "size_categories": [size_category(rows)],
        "configs": [
            {"config_name": "frames", "default": True,
             "data_files": [{"split": s, "path": frames_path.format(split=s)} for s in order]},
            {"config_name": "videos",
             "data_files": [{"split": s, "path": videos_path.format(split=s)} for s in order]},
        ],
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120) + "---\n"


def render_card(card: Mapping[str, Any]) -> str:
    """README.md of ``dataset build``: the Hub header, then layout, splits, labels, detection, sources."""
    c = card["counts"]
    sp = card["splits"]
    lines = [hub_header(card["name"], sp["counts"], [s["licence"] for s in card["sources"]], c["frames"]),
             f"# {card['name']}", "",
             f"Landmark dataset built by {card['created_by']} on {card['created_at'][:10]} from "
             f"`{card['labels_file']}`.", "",
             f"**{c['videos']} videos, {c['frames']} frames, {c['labels']} labels** ({c['failed']} inputs failed).", "",
             "## Layout", "",
             "- `data/<split>/<video_id>.parquet`: one row per sampled frame, columns "
             + ", ".join(f"`{x}`" for x in card["layout"]["frame_columns"]) + " (zstd). Every file has the same "
             "schema, so `data/` reads as one table.",
             "- `videos/<split>.parquet`: one row per video (label, split, signer, source, sha256, licence, fps, "
             "size, detection rates, and the labels file's other columns).",
             "- `dataset.json`: this card as JSON.", "",
             "Read it with `datasets.load_dataset('path/to/this/folder')` (configs `frames`, the default, and "
             "`videos`), `pyarrow.dataset.dataset('data')`, `pandas.read_parquet('data')` or DuckDB "
             "`SELECT * FROM read_parquet('data/*/*.parquet')`.", "",
             "Landmarks follow the SignBridge landmarks contract (`schemas/landmarks.v1.json`): normalised image "
             "coordinates, float32 lists of points × dims values, point-major (face 468×3, pose 33×4 with "
             "visibility, hands 21×3), null when a part was not detected. Each column's Arrow field metadata "
             "carries `points` and `dims` (e.g. `21` and `x,y,z`).", "",
             "## Splits", "", _split_sentence(sp), "",
             "| split | videos | frames | labels | signers |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['videos']} | {v['frames']} | {v['labels']} | {v['signers']} |"
              for k, v in sp["counts"].items()]
    if sp.get("labels_not_in_train"):
        lines += ["", "Labels with no training video: " + ", ".join(sp["labels_not_in_train"]) + "."]
    lines += ["", "## Extraction", ""]
    lines += [f"- {k}: {v}" for k, v in card["extraction"].items()]
    lines += ["", "## Labels", "", "| label | videos | frames |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['videos']} | {v['frames']} |" for k, v in card["per_label"].items()]
    lines += ["", "## Detection rates", "", "| part | mean per video | share of frames |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['mean_per_video']:.3f} | {v['share_of_frames']:.3f} |" for k, v in card["detection"].items()]
    for title, key in (("Source frame rates", "fps_histogram"), ("Resolutions", "resolution_histogram"),
                       ("Frames per video", "frames_histogram"), ("Licences", "licences")):
        if card.get(key):
            lines += ["", f"## {title}", "", "| value | videos |", "|---|---:|"]
            lines += [f"| {k} | {v} |" for k, v in card[key].items()]
    if not card.get("licence_column"):
        lines += ["", "The labels file had no licence column: check the terms of every source before sharing."]
    lines += ["", "## Sources", "", "| video_id | label | split | source | licence |", "|---|---|---|---|---|"]
    lines += [f"| {s['video_id']} | {s['label']} | {s['split']} | {s['source_uri']} | {s['licence'] or ''} |"
              for s in card["sources"]]
    if card["failures"]:
        lines += ["", "## Not included", "", "| video_id | status | reason |", "|---|---|---|"]
        lines += [f"| {f['video_id']} | {f['status']} | {(f['error'] or '').replace('|', '/')} |"
                  for f in card["failures"]]
    return "\n".join(lines) + "\n"


def _split_sentence(sp: Mapping[str, Any]) -> str:
    if sp["method"] == "column":
        return f"Splits as given in the labels file's `{sp['column']}` column."
    if sp["method"] == "signer":
        s = (f"Signer-disjoint: each signer (column `{sp['column']}`) is in one split only, aiming at "
             f"{sp['shares']['validation']:.0%} of videos for validation and {sp['shares']['test']:.0%} for test.")
        if sp.get("unknown_signer"):
            s += f" {sp['unknown_signer']} videos with no signer id are in train."
        return s
    return ("All videos are in `train`: the labels file names no signers (a `signer` column), so a held-out split "
            "could share signers with train. Add one to get signer-disjoint validation and test splits.")


__all__ = ["hub_header", "hub_licence", "licence_fields", "render_card", "size_category"]
