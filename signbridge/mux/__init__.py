"""The mux stage: the original video, the narration and the captions in one file (ffmpeg)."""
from signbridge.mux.muxer import MuxError, ffmpeg_error_line, has_cues, mux_video

__all__ = ["MuxError", "ffmpeg_error_line", "has_cues", "mux_video"]
