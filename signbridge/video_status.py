"""A finished video's status says what the output holds: ``no_signing`` when nothing was recognised.

Without this a video with no recognised sign (a rotated clip, an empty room) ended ``ok`` with an
empty note, and a reader took the silent, caption-less MP4 for a translation.
"""
from __future__ import annotations

from typing import Any

NO_SIGNING_NOTE = ("no sign was recognised, so there are no captions and no narration; "
                   "video.mp4 is the original video")


def honest_status(st: Any) -> None:
    """Set ``status``/``note`` of a finished (``ok``) video from its detection counts."""
    if st.status != "ok":
        return
    d = st.detection or {}
    signs, unclear, sentences = d.get("signs"), d.get("unclear"), d.get("sentences")
    if sentences == 0 or signs == 0:
        st.status, st.note = "no_signing", NO_SIGNING_NOTE
    elif signs and unclear == signs:
        st.note = (f"no sign recognised with confidence: all {signs} signing span(s) are shown as "
                   f"[unclear sign]")
