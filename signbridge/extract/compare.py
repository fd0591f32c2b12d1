"""How far two landmark tables of the same video agree: the GPU extractor's parity measure.

Per part, over the frames both tables have: the share of frames where both or neither detect it, and where both
do, each point's distance in x, y as a share of the frame diagonal. Shared by ``benchmarks/bench_extract_gpu.py``
and the tests, so the suite checks the same numbers the benchmark reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PARTS = ("face", "pose", "left_hand", "right_hand")
_DIMS = {"face": 3, "pose": 4, "left_hand": 3, "right_hand": 3}


@dataclass
class PartAgreement:
    frames: int = 0
    agree: int = 0  # frames where both or neither detect the part
    detected_a: int = 0
    detected_b: int = 0
    both: int = 0
    distances: list[float] = field(default_factory=list)  # per point, share of the diagonal

    def add(self, other: "PartAgreement") -> None:
        self.frames += other.frames
        self.agree += other.agree
        self.detected_a += other.detected_a
        self.detected_b += other.detected_b
        self.both += other.both
        self.distances.extend(other.distances)

    @property
    def detection_agreement(self) -> float:
        return self.agree / self.frames if self.frames else 1.0

    def median_pct(self) -> float | None:
        return float(np.median(self.distances)) * 100 if self.distances else None

    def percentile_pct(self, q: float) -> float | None:
        return float(np.percentile(self.distances, q)) * 100 if self.distances else None

    def summary(self) -> dict:
        r = lambda v: None if v is None else round(v, 4)  # noqa: E731
        return {"frames": self.frames, "detected_cpu": self.detected_a, "detected_gpu": self.detected_b,
                "both": self.both, "detection_agreement": round(self.detection_agreement, 4),
                "median_distance_pct_of_diagonal": r(self.median_pct()),
                "p90_distance_pct_of_diagonal": r(self.percentile_pct(90))}


def compare_tables(a, b) -> tuple[dict[str, PartAgreement], int]:
    """Agreement of two landmark tables of one video, per part; and how many frames only one table has."""
    from signbridge.contracts import read_landmarks_metadata

    meta = read_landmarks_metadata(a)
    W = float(meta.get("frame_width") or meta["width"])
    H = float(meta.get("frame_height") or meta["height"])
    diag = float(np.hypot(W, H))
    fa, fb = a.column("frame").to_numpy(), b.column("frame").to_numpy()
    common = np.intersect1d(fa, fb)
    ia, ib = np.searchsorted(fa, common), np.searchsorted(fb, common)
    out = {}
    for part in PARTS:
        ca, cb = a.column(part).to_pylist(), b.column(part).to_pylist()
        r = PartAgreement(frames=len(common))
        for i, j in zip(ia, ib):
            pa, pb = ca[i] is not None, cb[j] is not None
            r.agree += pa == pb
            r.detected_a += pa
            r.detected_b += pb
            if pa and pb:
                r.both += 1
                x = np.asarray(ca[i], dtype=np.float64).reshape(-1, _DIMS[part])
                y = np.asarray(cb[j], dtype=np.float64).reshape(-1, _DIMS[part])
                d = np.hypot((x[:, 0] - y[:, 0]) * W, (x[:, 1] - y[:, 1]) * H) / diag
                r.distances.extend(d[np.isfinite(d)].tolist())
        out[part] = r
    return out, int(len(fa) + len(fb) - 2 * len(common))
