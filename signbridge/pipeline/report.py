"""The HTML run report written next to the manifest: one static file, no external assets.

Per-video status (with the reason for failures), stage timings, detection rates, a caption
preview and a timeline of recognised spans (an inline matplotlib SVG; unclear signs grey and
hatched, the rest coloured by confidence). Large runs show the first videos in the plot and
the previews, and say how many were left out.
"""
from __future__ import annotations

import html
import io
import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

log = logging.getLogger(__name__)

MAX_TIMELINE = 40
MAX_PREVIEW = 200
STAGES = ("inspect", "extract", "recognize", "compose", "speak", "mux")
CJK_FONTS = ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _name(uri: str) -> str:
    return PurePosixPath(uri.rstrip("/")).name or uri


def _pct(x: Any) -> str:
    try:
        return f"{float(x):.0%}"
    except (TypeError, ValueError):
        return "–"


def _load_docs(states: Sequence, ctx, limit: int) -> dict[int, dict]:
    """gloss track + transcript of the first ``limit`` videos that have them."""
    from signbridge.pipeline.layout import GLOSS_TRACK, TRANSCRIPT, VTT

    out: dict[int, dict] = {}
    for st in states:
        if len(out) >= limit:
            break
        if st.status not in ("ok", "skipped", "no_signing") or not st.folder:
            continue
        folder = ctx.out.child(st.folder)
        docs: dict[str, Any] = {}
        for key, name in (("track", GLOSS_TRACK), ("transcript", TRANSCRIPT), ("vtt", VTT)):
            try:
                if folder.exists(name):
                    raw = folder.get_bytes(name)
                    docs[key] = raw.decode("utf-8") if key == "vtt" else json.loads(raw)
            except Exception as e:  # noqa: BLE001 - the report shows what it can
                log.warning("report: cannot read %s of %s: %s", name, st.input_uri, e)
        if docs:
            out[st.index] = docs
    return out


def timeline_svg(rows: list[tuple[str, float, list[dict]]]) -> str:
    """Spans per video on a shared time axis, as inline SVG. ``rows``: (label, duration_ms, spans)."""
    import matplotlib.pyplot as plt

    if not rows:
        return ""
    import matplotlib

    with matplotlib.rc_context({"font.family": _fonts()}):  # fallback fonts for non-Latin names
        fig = timeline_figure(rows)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg"):]


def timeline_figure(rows: list[tuple[str, float, list[dict]]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    norm = colors.Normalize(vmin=0.0, vmax=1.0)
    cmap = matplotlib.colormaps.get_cmap("viridis")
    rows = [(_plot_label(i, r[0]), *r[1:]) for i, r in enumerate(rows)]
    height = 0.9 + 0.42 * len(rows)
    fig, ax = plt.subplots(figsize=(10, height))
    xmax = 0.0
    for y, (_label, dur, spans) in enumerate(rows):
        xmax = max(xmax, (dur or 0) / 1000.0, *[(s["end_ms"] / 1000.0) for s in spans] or [0])
        ax.broken_barh([(0, (dur or 0) / 1000.0)], (y - 0.36, 0.72), facecolors="#f2f2f2", edgecolors="#cccccc")
        for s in spans:
            x0, w = s["start_ms"] / 1000.0, max(0.02, (s["end_ms"] - s["start_ms"]) / 1000.0)
            unclear = s.get("kind") == "unknown"
            ax.broken_barh([(x0, w)], (y - 0.3, 0.6), facecolors="#bbbbbb" if unclear else cmap(norm(s["confidence"])),
                           edgecolors="#555555", hatch="//" if unclear else None, linewidth=0.5)
            text = "?" if unclear else s["label"]
            ax.text(x0 + w / 2, y, text[:14], ha="center", va="center", fontsize=7,
                    color="black" if unclear or s["confidence"] > 0.5 else "white", clip_on=True)
    ax.set_yticks(range(len(rows)), [r[0][:30] for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, max(xmax, 0.5) * 1.02)
    ax.set_xlabel("seconds")
    ax.grid(axis="x", alpha=0.3)
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.01).set_label("confidence", fontsize=8)
    fig.tight_layout()
    return fig


def _fonts() -> list[str]:
    """DejaVu Sans, then a CJK-capable fallback when one is installed (Debian: fonts-droid-fallback)."""
    from matplotlib import font_manager

    families = ["DejaVu Sans"]
    for path in CJK_FONTS:
        if Path(path).is_file():
            font_manager.fontManager.addfont(path)
            families.append(font_manager.FontProperties(fname=path).get_name())
            break
    return families


def _plot_label(i: int, name: str) -> str:
    """The video's name when the plot's fonts have every glyph of it, else its row number in the tables
    (never boxes in place of letters)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    covered: set[int] = set()
    for family in _fonts():
        covered |= set(FT2Font(font_manager.findfont(family, fallback_to_default=False)).get_charmap())
    if all(ord(c) in covered for c in name if not c.isspace()):
        return name
    return f"video #{i + 1} (name: see the tables)"


def render_report(manifest: dict, states: Sequence, ctx) -> str:
    """The whole HTML page of a run.

    Long because it is one page template filled top to bottom."""
    from signbridge.pipeline.report_links import a, linker, results_section

    videos = manifest["videos"]
    by_index = sorted(states, key=lambda s: s.index)
    docs = _load_docs(by_index, ctx, MAX_PREVIEW)
    link = linker(ctx)
    counts: dict[str, int] = {}
    for v in videos:
        counts[v["status"]] = counts.get(v["status"], 0) + 1

    parts = [f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>SignBridge run {_e(manifest['run_id'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}} th,td{{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.ok{{color:#176b1f}} .skipped{{color:#555}} .failed{{color:#b00020;font-weight:bold}} .no_signer,.no_signing{{color:#a65f00}}
.uncertain{{color:#8a5a00}} code{{font-size:12px}} .note{{color:#555;font-size:13px}}
.result{{margin:0 0 1.2em}} .result h3{{font-size:15px;margin:0.4em 0}} .links{{font-size:13px}}
</style></head><body>
<h1>SignBridge run <code>{_e(manifest['run_id'])}</code></h1>
<p>{_e(manifest['created_at'])} &middot; {len(videos)} video(s): {_e(', '.join(f'{n} {k}' for k, n in sorted(counts.items())))}
&middot; output <code>{_e(manifest.get('settings', {}).get('output'))}</code>
&middot; settings hash <code>{_e(manifest.get('settings', {}).get('fingerprint'))}</code></p>
<p class="note">Recognised signs carry confidences; signs the recogniser is unsure of are shown as
<em>[unclear sign]</em> and grey in the timeline. This is machine output, not an interpretation.</p>
"""]

    # status table
    parts.append("<h2>Videos</h2><table><tr><th>#</th><th>video</th><th>status</th><th>duration</th>"
                 "<th>frames</th><th>pose</th><th>face</th><th>left hand</th><th>right hand</th><th>signs</th>"
                 "<th>unclear</th><th>sentences</th><th>result / reason</th></tr>")
    for i, v in enumerate(videos):
        d = v.get("detection") or {}
        st = next((s for s in by_index if s.input_uri == v["input_uri"]), None)
        dur = f"{st.duration_ms / 1000:.1f} s" if st is not None and st.duration_ms else "–"
        if v["status"] in ("ok", "skipped", "no_signing"):
            out = v.get("outputs", {}).get("video") or v.get("outputs", {}).get("transcript") or ""
            what = (a(out, link, out) if out else "") + (" (finished in an earlier run)"
                                                          if v["status"] == "skipped" else "")
            what += f"<div class=note>{_e(v['note'])}</div>" if v.get("note") else ""
            what += f"<div class=note>{_e(fallback_note(d))}</div>" if fallback_note(d) else ""
        else:
            what = f"{_e(v.get('failed_stage') or '')}: {_e(v.get('error'))}"
        parts.append(f"<tr><td class=num>{i + 1}</td><td title='{_e(v['input_uri'])}'>{_e(_name(v['input_uri']))}</td>"
                     f"<td class='{_e(v['status'])}'>{_e(v['status'])}</td><td class=num>{dur}</td>"
                     f"<td class=num>{_e(d.get('frames', '–'))}</td>"
                     + "".join(f"<td class=num>{_pct(d.get(k)) if k in d else '–'}</td>"
                               for k in ("pose", "face", "left_hand", "right_hand"))
                     + f"<td class=num>{_e(d.get('signs', '–'))}</td><td class=num>{_e(d.get('unclear', '–'))}</td>"
                     f"<td class=num>{_e(d.get('sentences', '–'))}</td><td>{what}</td></tr>")
    parts.append("</table>")
    vtts = {st.input_uri: docs[st.index]["vtt"] for st in by_index if "vtt" in docs.get(st.index, {})}
    parts.append(results_section(videos, vtts, link, MAX_PREVIEW))

    # stage timings
    parts.append("<h2>Stage timings (seconds)</h2><table><tr><th>video</th>"
                 + "".join(f"<th>{s}</th>" for s in STAGES) + "<th>total</th></tr>")
    totals = {s: 0.0 for s in STAGES}
    for v in videos:
        t = v.get("stage_timings") or {}
        for s in STAGES:
            totals[s] += float(t.get(s, 0.0))
        parts.append(f"<tr><td>{_e(_name(v['input_uri']))}</td>"
                     + "".join(f"<td class=num>{t[s]:.2f}</td>" if s in t else "<td class=num>–</td>" for s in STAGES)
                     + f"<td class=num>{sum(float(x) for x in t.values()):.2f}</td></tr>")
    parts.append("<tr><th>all</th>" + "".join(f"<th class=num>{totals[s]:.2f}</th>" for s in STAGES)
                 + f"<th class=num>{sum(totals.values()):.2f}</th></tr></table>")

    # timeline
    rows = []
    for st in by_index:
        if st.index in docs and "track" in docs[st.index] and len(rows) < MAX_TIMELINE:
            tr = docs[st.index]["track"]
            dur = st.duration_ms or tr.get("source", {}).get("duration_ms") or 0
            rows.append((_name(st.input_uri), float(dur), tr.get("spans", [])))
    if rows:
        try:
            parts.append("<h2>Recognised spans</h2>" + timeline_svg(rows))
            shown = sum(1 for st in by_index if st.index in docs and "track" in docs[st.index])
            if shown > len(rows):
                parts.append(f"<p class=note>first {len(rows)} of {shown} videos shown</p>")
        except Exception as e:  # noqa: BLE001 - the tables still help without the plot
            log.warning("report: timeline plot failed: %s", e)
            parts.append(f"<p class=note>timeline plot unavailable: {_e(e)}</p>")

    # caption preview
    previews = []
    for st in by_index:
        tdoc = docs.get(st.index, {}).get("transcript")
        if not tdoc:
            continue
        sents = tdoc.get("sentences", [])
        if not sents:
            previews.append(f"<li><b>{_e(_name(st.input_uri))}</b>: <em>no signing recognised</em></li>")
            continue
        items = "".join(
            f"<li><code>{s['start_ms'] / 1000:.1f}–{s['end_ms'] / 1000:.1f} s</code> "
            f"<span class='{'uncertain' if s.get('uncertain') else ''}'>{_e(s['text'])}</span>"
            f" <span class=note>({_e(' '.join(s.get('glosses', [])))}; confidence {float(s['confidence']):.2f}"
            f"{', uncertain' if s.get('uncertain') else ''})</span></li>" for s in sents[:3])
        more = f"<li class=note>… {len(sents) - 3} more</li>" if len(sents) > 3 else ""
        previews.append(f"<li><b>{_e(_name(st.input_uri))}</b><ul>{items}{more}</ul></li>")
    if previews:
        parts.append("<h2>Captions (first sentences)</h2><ul>" + "".join(previews) + "</ul>")

    parts.append("<p class=note>Manifest: <a href=\"manifest.json\">manifest.json</a> next to this file "
                 "(schema <code>schemas/manifest.v1.schema.json</code>).</p></body></html>\n")
    return "".join(parts)


def _short(uri: str, width: int = 28) -> str:
    name = PurePosixPath(uri.rstrip("/")).name or uri
    return name if len(name) <= width else name[: width - 1] + "…"


def fallback_note(detection: dict) -> str | None:
    """How many sentences the rules grammar wrote because the configured composer could not, and why."""
    fb = (detection or {}).get("rules_fallbacks") or {}
    n = sum(fb.values())
    if not n:
        return None
    total = detection.get("sentences") or n
    why = "; ".join(f"{k if len(k) <= 240 else k[:239] + '…'}" + (f" ({c}×)" if c > 1 else "")
                    for k, c in sorted(fb.items(), key=lambda kv: -kv[1]))
    return f"{n} of {total} sentence(s) fell back to the rules grammar: {why}"


def summary_table(manifest: dict) -> str:
    """One line per video: status, what was recognised, detection, stage seconds, first caption."""
    head = ["video", "status", "signs", "unclear", "sentences", "hands", "extract", "recog", "compose", "speak",
            "mux", "note"]
    rows = []
    for v in manifest.get("videos", []):
        d = v.get("detection") or {}
        t = v.get("stage_timings") or {}
        hands = max(float(d.get("left_hand") or 0), float(d.get("right_hand") or 0)) if d else None
        note = v.get("error") or v.get("note") or ""
        if v["status"] == "failed":
            note = f"[{v.get('failed_stage') or '?'}] {note}"
        elif v["status"] == "skipped":
            note = "done in an earlier run" + (f"; {v['note']}" if v.get("note") else "")
        elif d.get("rules_fallbacks") and not note:
            note = f"{sum(d['rules_fallbacks'].values())} of {d.get('sentences', '?')} sentence(s) fell back to rules"
        rows.append([_short(v["input_uri"]), v["status"], str(d.get("signs", "-")), str(d.get("unclear", "-")),
                     str(d.get("sentences", "-")), f"{hands:.0%}" if hands is not None else "-",
                     *[f"{t[s]:.1f}s" if s in t else "-" for s in ("extract", "recognize", "compose", "speak", "mux")],
                     note[:90]])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def video_lines(v: dict, local: dict[str, str] | None = None) -> list[str]:
    """A video's status line and where each output is (its local copy when there is one), or why it
    failed, for the console."""
    from signbridge.pipeline.layout import ordered_outputs

    lines = [f"{v['input_uri']}  [{v['status']}]"]
    if v["status"] in ("ok", "skipped", "no_signing"):
        lines += [f"    note: {v['note']}"] if v.get("note") else []
        lines += [f"    hints: {v['detection']['hints']}"] if (v.get("detection") or {}).get("hints") else []
        fb = fallback_note(v.get("detection") or {})
        lines += [f"    composer: {fb}"] if fb else []
        lines += [f"    {name:<12} {uri}" for name, uri in ordered_outputs(local or v.get("outputs") or {})]
    elif v.get("error"):
        lines.append(f"    {v.get('failed_stage') or ''}: {v['error']}")
    return lines
