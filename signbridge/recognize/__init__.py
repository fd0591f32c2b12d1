"""Sign recognition: landmark tables -> gloss tracks (segmentation, classifier, fingerspelling, few-shot vocab).

Public entry points (torch is imported only when they are called)::

    recognize_tables(tables, settings, sources=None) -> list[GlossTrack]
    recognize_table(table, settings, source=None) -> GlossTrack
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from signbridge.records import GlossTrack

__all__ = ["recognize_tables", "recognize_table"]


def recognize_tables(tables: Sequence, settings, sources: Sequence[str] | None = None,
                     hints: Sequence | None = None) -> list["GlossTrack"]:
    from signbridge.recognize.infer import recognize_tables as _impl

    return _impl(tables, settings, sources, hints)


def recognize_table(table, settings, source: str | None = None) -> "GlossTrack":
    from signbridge.recognize.infer import recognize_table as _impl

    return _impl(table, settings, source)


recognize_tables.__doc__ = """Gloss tracks for landmark tables, in order; spans of all videos share batched forward passes.

Device from ``settings.device`` (auto: CUDA/ROCm when torch sees one, else CPU); model from
``settings.checkpoint`` (None: the shipped one); spans below ``settings.min_confidence`` become UNKNOWN
with their top-k kept. An empty table raises SchemaError; no hands / no signing gives a track with no spans.
"""
