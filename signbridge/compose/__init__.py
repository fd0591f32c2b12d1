"""Sentence composition: gloss tracks -> English transcripts (rules, local SmolLM2, or vLLM)."""
from signbridge.compose.core import ComposeStats, Item, compose_items, compose_text, compose_tracks
from signbridge.compose.gloss import UNCLEAR
from signbridge.compose.grouping import group_spans
from signbridge.compose.rules import compose_rules

__all__ = ["compose_tracks", "compose_items", "compose_text", "compose_rules", "group_spans", "ComposeStats",
           "Item", "UNCLEAR"]
