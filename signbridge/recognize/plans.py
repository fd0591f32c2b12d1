"""Sign spans of each video before any decision: what the classifier and the VLM recogniser both start from."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from signbridge.records import NO_SIGNING, GlossTrack
from signbridge.recognize.frames import Frames, body_reference
from signbridge.recognize.segment import segment_runs

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """One video's reported spans, the tighter cores the models see, and their run ids."""

    frames: Frames
    spans: np.ndarray
    core: np.ndarray
    runs: np.ndarray
    ref: tuple[float, float, float, float]
    source: str
    sha256: str


def plan_frames(items: Sequence[tuple[Frames, str, str]], rec) -> list[Plan]:
    """The sign spans of every video (segmentation only)."""
    plans: list[Plan] = []
    for frames, uri, sha in items:
        if not frames.any_hand.any():
            log.warning("%s: no hands detected in any frame; %s", uri, NO_SIGNING)
        ref = body_reference(frames)
        spans, core, runs = segment_runs(frames, rec.segment_cfg, ref)
        plans.append(Plan(frames, spans, core, runs, ref, uri, sha))
    return plans


def status_of(track: GlossTrack, frames: Frames) -> tuple[str, str]:
    """(status, reason): whether any word is shown, and if not, why (for the run summary)."""
    if not track.no_signing_recognised:
        return "signing_recognised", ""
    if not frames.any_hand.any():
        return NO_SIGNING, "no hands detected in any frame"
    if not track.spans:
        return NO_SIGNING, "hands seen but no sign span found"
    return NO_SIGNING, f"{len(track.spans)} sign span(s), none recognised with enough confidence ([unclear sign])"
