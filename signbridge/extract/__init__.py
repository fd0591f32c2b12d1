"""Landmark extraction: video → MediaPipe Holistic → landmarks Parquet, plus exports and datasets.

Heavy imports (mediapipe, pyarrow) happen inside the functions, so importing this
package (e.g. from a DAG file at parse time) stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["extract_video", "write_landmarks", "read_landmarks", "Extraction", "WorkerPool"]

if TYPE_CHECKING:
    from signbridge.extract.io import read_landmarks, write_landmarks
    from signbridge.extract.video import Extraction, WorkerPool, extract_video


def __getattr__(name: str) -> Any:
    if name in ("extract_video", "Extraction", "WorkerPool"):
        from signbridge.extract import video

        return getattr(video, name)
    if name in ("write_landmarks", "read_landmarks"):
        from signbridge.extract import io

        return getattr(io, name)
    raise AttributeError(f"module 'signbridge.extract' has no attribute {name!r}")
