"""The one record of a video's progress through a run: small JSON that travels between tasks."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from signbridge.records import VideoResult


@dataclass
class VideoState:
    """Where one video is in the pipeline. JSON-able; what XCom/state files carry between tasks.

    ``status`` is ``ok`` while the video moves on (and at the end when it finished), ``failed`` or
    ``no_signer`` once it stopped, ``skipped`` when an earlier run already produced its outputs,
    ``no_signing`` when it finished but nothing was recognised (see :func:`honest_status`).
    """

    input_uri: str
    index: int = 0
    status: str = "ok"
    sha256: str | None = None
    folder: str | None = None  # key of the result folder under the output root
    size: int | None = None
    etag: str | None = None
    duration_ms: float | None = None
    chunks: int = 1
    error: str | None = None
    failed_stage: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    detection: dict[str, Any] = field(default_factory=dict)
    permanent: bool = False  # the failure is a property of the file's bytes (not the store, not a bug)
    note: str | None = None  # what a finished video's status alone does not say
    hints: dict[str, Any] | None = None  # word list / script texts (recognize.hints.HintTexts.to_dict)
    sums: dict[str, dict] = field(default_factory=dict)  # file -> size, sha256 when stored (pipeline.integrity)
    repaired: list[str] = field(default_factory=list)  # intermediates found damaged and recomputed

    @property
    def active(self) -> bool:
        return self.status == "ok"

    @property
    def name(self) -> str:
        return PurePosixPath(self.input_uri.rstrip("/")).name or self.input_uri

    def fail(self, stage: str, err: BaseException | str) -> None:
        self.status = "failed"
        self.failed_stage = stage
        self.error = str(err)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VideoState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_result(self) -> VideoResult:
        """The manifest's entry for this video (the contract's shape)."""
        return VideoResult(input_uri=self.input_uri, status=self.status, sha256=self.sha256, error=self.error,  # type: ignore[arg-type]
                           failed_stage=self.failed_stage,
                           stage_timings={k: round(float(v), 3) for k, v in self.timings.items()},
                           outputs=dict(self.outputs), detection=dict(self.detection), note=self._note())

    def _note(self) -> str | None:
        repaired = ("found damaged in the store and recomputed: " + "; ".join(self.repaired)) if self.repaired else None
        return "; ".join(n for n in (self.note, repaired) if n) or None


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def safe_run_id(raw: str) -> str:
    """Airflow run ids hold ':' and '+'; keep keys plain."""
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in raw).strip("-.")
    return out[:120] or new_run_id()


NO_SIGNING_NOTE = ("no sign was recognised, so there are no captions and no narration; "
                   "video.mp4 is the original video")


def honest_status(st: VideoState) -> None:
    """Set ``status``/``note`` of a finished (``ok``) video from its detection counts.

    Without this a video with no recognised sign (a rotated clip, an empty room) ended ``ok`` with an
    empty note, and a reader took the silent, caption-less MP4 for a translation."""
    if st.status != "ok":
        return
    d = st.detection or {}
    signs, unclear, sentences = d.get("signs"), d.get("unclear"), d.get("sentences")
    if sentences == 0 or signs == 0:
        st.status, st.note = "no_signing", NO_SIGNING_NOTE
    elif signs and unclear == signs:
        st.note = (f"no sign recognised with confidence: all {signs} signing span(s) are shown as "
                   f"[unclear sign]")
