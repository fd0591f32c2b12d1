"""The report's links to every output and its per-video player, wherever the report is opened.

Links carry the output's URI in ``data-uri`` beside a usable ``href``/``src``: a presigned URL for
S3 outputs (7 days, the most S3 allows), a path relative to the report for a local output folder.
A local copy of the run (``signbridge results``) rewrites them to its own relative paths from the
``data-uri`` alone (a link whose text was its URI then shows the local path). Caption tracks also carry
their WebVTT text: browsers refuse a ``<track>`` from another origin (every ``file://`` page is its own
origin), so a few lines of script hand the track a same-origin blob of that text; a local copy puts its
own file's text there (a review render may have replaced the captions since the run).
"""
from __future__ import annotations

import html
import logging
import os
import re
from pathlib import PurePosixPath
from typing import Callable, Mapping
from urllib.parse import quote, unquote

log = logging.getLogger(__name__)

OUTPUT_ORDER = ("video", "srt", "vtt", "narration", "transcript", "gloss_track", "landmarks")
_LINK = re.compile(r'(href|src)="[^"]*" data-uri="([^"]*)"')
_ANCHOR = re.compile(r'(<a href="[^"]*" data-uri="([^"]*)">)([^<]*)</a>')
_TRACK = re.compile(r'(<track [^>]*?data-uri="([^"]*)"[^>]*?)>')
_VTT_ATTR = re.compile(r' data-vtt="[^"]*"')
TRACK_SCRIPT = """<script>
document.querySelectorAll('track[data-vtt]').forEach(function (t) {
  t.src = URL.createObjectURL(new Blob([t.dataset.vtt], {type: 'text/vtt'}));
});
</script>"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def linker(ctx) -> Callable[[str], str]:
    """uri -> href for the report written into ``ctx``'s run folder."""
    out = ctx.out
    root = out.root_uri.rstrip("/")
    presign = (lambda key: out.presigned_url(key, 7 * 86400)) if root.startswith("s3://") else None
    run_dir = ctx.run_store().root_uri

    def link(uri: str) -> str:
        if not uri.startswith(root + "/"):
            return uri
        key = uri[len(root) + 1:]
        if presign is not None:
            try:
                return presign(key)
            except Exception as e:  # noqa: BLE001 - the URI still names the object
                log.warning("report: cannot presign %s: %s", uri, e)
                return uri
        return quote(os.path.relpath(uri, run_dir)) if not uri.startswith("s3://") else uri

    return link


def a(uri: str, link: Callable[[str], str], text: str | None = None) -> str:
    return f'<a href="{_e(link(uri))}" data-uri="{_e(uri)}">{_e(text or PurePosixPath(uri).name)}</a>'


def results_section(videos: list[dict], vtts: Mapping[str, str], link: Callable[[str], str], limit: int) -> str:
    """Per video: a player with its captions track, and a link to every output."""
    items = []
    shown = [v for v in videos if v.get("outputs")]
    for v in shown[:limit]:
        outs = v["outputs"]
        name = PurePosixPath(v["input_uri"].rstrip("/")).name or v["input_uri"]
        player = ""
        if "video" in outs:
            track = ""
            if "vtt" in outs:
                vtt = vtts.get(v["input_uri"])
                data = f' data-vtt="{_e(vtt)}"' if vtt else ""
                track = (f'<track kind="captions" srclang="en" label="Captions" default '
                         f'src="{_e(link(outs["vtt"]))}" data-uri="{_e(outs["vtt"])}"{data}>')
            player = (f'<video controls preload="metadata" width="480">'
                      f'<source src="{_e(link(outs["video"]))}" data-uri="{_e(outs["video"])}" type="video/mp4">'
                      f'{track}</video>')
        names = sorted(outs, key=lambda k: OUTPUT_ORDER.index(k) if k in OUTPUT_ORDER else 99)
        links = " &middot; ".join(a(outs[k], link, f"{k}: {PurePosixPath(outs[k]).name}") for k in names)
        note = f"<p class=note>{_e(v['note'])}</p>" if v.get("note") else ""
        items.append(f"<div class=result><h3>{_e(name)} <span class='{_e(v['status'])}'>{_e(v['status'])}</span>"
                     f"</h3>{note}{player}<p class=links>{links}</p></div>")
    if not items:
        return ""
    more = f"<p class=note>first {limit} of {len(shown)} videos shown</p>" if len(shown) > limit else ""
    return "<h2>Results</h2>" + "".join(items) + more + TRACK_SCRIPT


def relink(report_html: str, local: Mapping[str, str], captions: Mapping[str, str] | None = None) -> str:
    """The report with every link whose ``data-uri`` is in ``local`` (uri -> relative path) pointing there.

    A link that showed its URI as its text shows the local path instead, and each caption track whose URI
    is in ``captions`` (uri -> WebVTT text) carries that text (the local file's, which a review render may
    have replaced since the run)."""
    def sub(m: re.Match) -> str:
        uri = html.unescape(m.group(2))
        if uri not in local:
            return m.group(0)
        return f'{m.group(1)}="{_e(local[uri])}" data-uri="{m.group(2)}"'

    def text(m: re.Match) -> str:
        uri = html.unescape(m.group(2))
        if uri not in local or html.unescape(m.group(3)) != uri:
            return m.group(0)
        return f"{m.group(1)}{_e(unquote(local[uri]))}</a>"

    def track(m: re.Match) -> str:
        uri = html.unescape(m.group(2))
        if uri not in (captions or {}):
            return m.group(0)
        return f'{_VTT_ATTR.sub("", m.group(1))} data-vtt="{_e(captions[uri])}">'

    out = _ANCHOR.sub(text, _LINK.sub(sub, report_html))
    return _TRACK.sub(track, out) if captions else out
