"""Synthetic gloss tracks shaped like a signed lesson, for the caption rules' tests and quality report.

A track is sentences of 2-10 signs (300-900 ms each, short holds between them)
separated by pauses, with the recogniser's own vocabulary plus the markers the
grammar reads (FINISH, WILL, time words, pointing, WH-signs, fingerspelled
names), some low-confidence spans and some UNKNOWN spans. The default is the
issue's case: 70 spans over 3 minutes.
"""
from __future__ import annotations

import random

from signbridge.records import UNKNOWN, GlossSpan, GlossTrack

VOCAB = ("again bathroom big cake can chocolate coffee cookie drink eat food go good have hello help hot how like make "
         "me milk money more name need no pay please ready same sandwich small sorry sugar table tea time toilet "
         "want water what where work yes you").split() + ["thank you"]
MARKERS = ("finish", "will", "YESTERDAY", "TOMORROW", "IX-1p", "IX-2p", "IX-3p", "fs-JOHN", "fs-MARIA", "NOT", "WHO")


def synthetic_track(seed: int, duration_s: float = 180.0, n_spans: int = 70, *, low_share: float = 0.15,
                    unknown_share: float = 0.07) -> GlossTrack:
    """A reproducible gloss track of ``n_spans`` signs spread over ``duration_s`` seconds."""
    rng = random.Random(seed)
    sizes: list[int] = []
    while sum(sizes) < n_spans:
        sizes.append(min(rng.randint(2, 10), n_spans - sum(sizes)))
    signs = [(rng.uniform(300, 900), rng.uniform(40, 450)) for _ in range(n_spans)]
    signing = sum(d + h for d, h in signs)
    pauses = [rng.uniform(0.5, 1.5) for _ in sizes]
    scale = max(0.0, duration_s * 1000.0 - signing - 500.0) / sum(pauses)
    spans: list[GlossSpan] = []
    t = 250.0
    k = 0
    for size, pause in zip(sizes, pauses):
        for i in range(size):
            dur, hold = signs[k]
            k += 1
            r = rng.random()
            label = rng.choice(MARKERS) if rng.random() < 0.25 else rng.choice(VOCAB)
            if r < unknown_share:
                spans.append(GlossSpan(t, t + dur, UNKNOWN, "unknown", round(rng.uniform(0.1, 0.4), 3)))
            else:
                conf = rng.uniform(0.3, 0.59) if r < unknown_share + low_share else rng.uniform(0.6, 0.99)
                kind = "fingerspelling" if label.startswith("fs-") else "gloss"
                spans.append(GlossSpan(t, t + dur, label, kind, round(conf, 3)))
            t += dur + (hold if i + 1 < size else 0.0)
        t += max(pause * scale, 800.0)
    return GlossTrack(source_uri=f"synthetic://lesson-{seed}", sha256=f"{seed:064x}"[-64:], model_name="synthetic",
                      model_version="1", spans=spans, duration_ms=max(duration_s * 1000.0, t))
