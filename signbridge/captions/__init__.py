"""Captions: cues timed to the signs, laid out to caption guidelines, written as SRT and WebVTT.

``cues`` times and cuts sentences into cues, ``layout`` breaks lines, ``marking``
marks low-confidence words, ``writers`` writes (and reads back) SRT/WebVTT,
``rules`` checks cues against the rules the tests and the quality report share.
"""
from signbridge.captions.cues import GAP_MS, MAX_CPS, MAX_MS, MIN_MS, Cue, caption_cues
from signbridge.captions.layout import MAX_LINE, break_lines
from signbridge.captions.marking import mark_low_confidence
from signbridge.captions.writers import cues_to_srt, cues_to_vtt, parse_cues, to_srt, to_vtt

__all__ = ["GAP_MS", "MAX_CPS", "MAX_LINE", "MAX_MS", "MIN_MS", "Cue", "break_lines", "caption_cues",
           "cues_to_srt", "cues_to_vtt", "mark_low_confidence", "parse_cues", "to_srt", "to_vtt"]
