"""Caption-quality report: how often each backend's captions break a caption or faithfulness rule.

For every composer backend, the gloss tracks are composed (cache bypassed),
captioned, written as SRT and read back as a player would, then checked with
``captions.rules`` (share of cues breaking each rule) and ``compose.faithful``
(share of sentences breaking each rule). A backend that cannot run here is
reported as unavailable rather than silently scored as the rules grammar.
"""
from __future__ import annotations

import re
import time
from typing import Sequence

from signbridge.captions.cues import caption_cues
from signbridge.captions.rules import RULES, check_cues
from signbridge.captions.writers import cues_to_srt, parse_cues
from signbridge.compose import faithful
from signbridge.records import GlossTrack
from signbridge.settings import Settings


def evaluate_backend(name: str, tracks: Sequence[GlossTrack], settings: Settings) -> dict:
    from signbridge.compose import compose_tracks

    t0 = time.perf_counter()
    stats: list = []
    transcripts = compose_tracks(tracks, settings.replace(composer=name), use_cache=False, stats_out=stats)
    seconds = time.perf_counter() - t0
    st = stats[0]
    row: dict = {"backend": name, "model": st.model, "tracks": len(tracks), "status": "ok",
                 "compose_seconds": round(seconds, 2)}
    if st.fallback_from:
        row.update(status="unavailable (fell back to rules)", model="")
        return row
    cues = sentences = fast = 0
    cue_counts = dict.fromkeys(RULES, 0)
    sent_counts = dict.fromkeys(faithful.RULES, 0)
    sent_any = 0
    examples: list[str] = []
    for track, tr in zip(tracks, transcripts):
        written = parse_cues(cues_to_srt(caption_cues(tr, settings, track=track, duration_ms=track.duration_ms)))
        chk = check_cues(written, tr, settings, track=track, duration_ms=track.duration_ms)
        cues += chk.cues
        fast += chk.fast_no_room
        for rule in RULES:
            cue_counts[rule] += chk.count(rule)
        examples += [f"{track.source_uri} cue {i + 1}: {'; '.join(r)}" for i, r in chk.broken.items()][:2]
        for s in tr.sentences:
            confs = [track.spans[i].confidence for i in s.span_indices]
            broken = faithful.violations(s.text, s.glosses, confs, settings.low_confidence)
            sentences += 1
            sent_any += bool(broken)
            for rule in faithful.RULES:
                sent_counts[rule] += any(b.startswith(rule + ":") for b in broken)
            examples += [f"{s.glosses} -> {s.text!r}: {'; '.join(broken)}"][:1] if broken else []
    row.update(cues=cues, sentences=sentences, guard_rejected=st.rejected, generated=st.generated,
               guard_reasons=_reasons(st.rejections),
               cue_violations={r: _share(n, cues) for r, n in cue_counts.items()},
               sentence_violations={r: _share(n, sentences) for r, n in sent_counts.items()},
               any_cue_violation=_share(sum(cue_counts.values()), cues) if cues else 0.0,
               any_sentence_violation=_share(sent_any, sentences),
               over_17cps_no_room=_share(fast, cues), examples=examples[:8])
    return row


def _reasons(rejections: Sequence[str]) -> dict[str, int]:
    """Guard rejections by the first rule each broke (what the LLM got wrong before the rules draft stood in)."""
    out: dict[str, int] = {}
    for r in rejections:
        m = re.search(r"-> (?:'.*'|\".*\"): (.*)$", r)
        reason = (m.group(1) if m else r).split(";")[0]
        key = next((k for k in ("dropped", "added", "unclear", "tense", "unsupported", "notation", "longer", "empty",
                                "word order", "marker") if k in reason), "other")
        key = {"unsupported": "added", "marker": "unclear"}.get(key, key)
        out[key] = out.get(key, 0) + 1
    return out


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def evaluate(settings: Settings, tracks: Sequence[GlossTrack], backends: Sequence[str]) -> dict:
    return {"tracks": [{"uri": t.source_uri, "spans": len(t.spans), "duration_s": round((t.duration_ms or 0) / 1000, 1)}
                       for t in tracks],
            "low_confidence": settings.low_confidence,
            "results": [evaluate_backend(b, tracks, settings) for b in backends]}


def table(report: dict) -> str:
    rules = list(RULES)
    head = ("| backend | cues | " + " | ".join(rules) + " | sentences | " + " | ".join(faithful.RULES)
            + " | guard rejections | status |")
    lines = [head, "|---|" + "---:|" * (len(rules) + len(faithful.RULES) + 3) + "---|"]
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    for r in report["results"]:
        if r["status"] != "ok":
            lines.append(f"| {r['backend']} | – | " + " | ".join("–" for _ in rules) + " | – | "
                         + " | ".join("–" for _ in faithful.RULES) + f" | – | {r['status']} |")
            continue
        lines.append(f"| {r['backend']} | {r['cues']} | " + " | ".join(pct(r["cue_violations"][x]) for x in rules)
                     + f" | {r['sentences']} | " + " | ".join(pct(r["sentence_violations"][x]) for x in faithful.RULES)
                     + f" | {r['guard_rejected']} | {r['status']} |")
    return "\n".join(lines)
