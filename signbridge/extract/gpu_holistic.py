"""MediaPipe Holistic's graph, reimplemented over batches: the GPU extractor's engine.

The same TFLite models the CPU graph runs (read from the installed mediapipe wheel, run in PyTorch by
:mod:`signbridge.extract.tflite_torch`) and the same logic between them, as the legacy
``HolisticLandmarkCpu`` graph at ``model_complexity=1`` does it: pose detection only when tracking is lost,
pose landmarks refined from the heatmap and smoothed (one-euro, visibility low-pass), hand ROIs from the pose
re-cropped by the hand re-crop model, the face ROI from the pose re-found by the face detector, each tracked
from the previous frame's landmarks when the ROI-tracking checks pass. Constants and formulas follow
``docs/extraction.md`` ("Two extractors").

One call to :meth:`HolisticGPU.process` takes one frame from each of many streams (videos or chunks) and
runs each model once over every crop that needs it. Crops are bilinear samples of the full frame at the
coordinates OpenCV's ``warpPerspective`` uses (1/32-pixel coordinates, uint8 rounding), gathered from one
padded uint8 canvas on the device. Geometry between the models is vectorised numpy on the host (float64).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from signbridge.extract import gpu_lanes
from signbridge.extract.gpu_lanes import Lane
from signbridge.extract.gpu_geometry import (OneEuro, alignment_rect, bbox_rect, face_rect_from_landmarks,
                                             hand_rect_from_landmarks, project, rotation, ssd_anchors, track,
                                             transform_rect)
from signbridge.torch_device import torch_device

VERSION = "1"
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}  # bf16 measured: loses hand detections

POSE_DET, POSE_LM = "pose_detection/pose_detection.tflite", "pose_landmark/pose_landmark_full.tflite"
HAND_RECROP, HAND_LM = "holistic_landmark/hand_recrop.tflite", "hand_landmark/hand_landmark_full.tflite"
FACE_DET, FACE_LM = "face_detection/face_detection_short_range.tflite", "face_landmark/face_landmark.tflite"

HAND_POSE_POINTS = {"left_hand": (15, 17, 19), "right_hand": (16, 18, 20)}  # wrist, pinky, index


def models_dir() -> Path:
    """The mediapipe wheel's own model files: read where the package is installed (found without importing
    it: the GPU extractor needs its model files, not its graph runtime), never downloaded or copied."""
    import importlib.util

    from signbridge.errors import ConfigError

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the GPU extractor reads MediaPipe's models from the installed mediapipe package, "
                          "which is not installed", hint="pip install mediapipe==0.10.21")
    root = Path(list(spec.submodule_search_locations)[0]) / "modules"
    missing = [m for m in (POSE_DET, POSE_LM, HAND_RECROP, HAND_LM, FACE_DET, FACE_LM) if not (root / m).is_file()]
    if missing:
        raise ConfigError(f"the installed mediapipe package ({root.parent}) lacks {', '.join(missing)}",
                          hint="install mediapipe==0.10.21, the last release whose wheel ships the Holistic models")
    return root


@dataclass
class StreamState:
    """What one stream (a video or chunk) carries from frame to frame."""

    pose_rect: np.ndarray | None = None
    pose_filter: OneEuro = field(default_factory=lambda: OneEuro(0.05, 80.0, 1.0))
    aux_filter: OneEuro = field(default_factory=lambda: OneEuro(0.01, 10.0, 1.0))
    pose_vis: np.ndarray | None = None
    aux_vis: np.ndarray | None = None
    hands: dict = field(default_factory=lambda: {"left_hand": None, "right_hand": None})
    face: np.ndarray | None = None
    frames: int = 0


def _lpf(prev: np.ndarray | None, v: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    return v.astype(np.float32) if prev is None else (alpha * v + (1 - alpha) * prev).astype(np.float32)


# --------------------------------------------------------------------------------------------- engine
class HolisticGPU:
    """The Holistic graph over batches of frames from many streams, on ``device`` (CUDA, ROCm or CPU)."""

    def __init__(self, device: str = "auto", face: bool = True, precision: str = "fp32") -> None:
        from signbridge.errors import ConfigError
        from signbridge.extract.tflite_torch import TFLiteModule

        if precision not in PRECISIONS:
            raise ConfigError(f"GPU extractor precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        self.device = torch_device(device)
        if self.device.type not in ("cpu", "cuda"):
            raise ConfigError(f"the GPU extractor runs on cpu or cuda devices (ROCm GPUs are cuda too), not {device!r}")
        self.face = face
        self.precision = precision
        # fp16: weights and activations in half precision, as MediaPipe's own GPU graph runs these models;
        # channels-last on a GPU, the layout tensor-core convolutions read without a transpose
        self.dtype = PRECISIONS[precision]
        self.channels_last = self.dtype != torch.float32 and self.device.type == "cuda"
        self.graphs = self.device.type == "cuda" and gpu_lanes.USE_CUDA_GRAPHS
        root = models_dir()

        def load(name: str, outputs: list[str] | None = None):
            m = TFLiteModule(root / name, outputs).to(self.device, self.dtype).eval()
            return m.to(memory_format=torch.channels_last) if self.channels_last else m

        self.pose_det = load(POSE_DET)
        self.pose_lm = load(POSE_LM, ["Identity", "Identity_1", "Identity_3"])
        self.hand_recrop = load(HAND_RECROP)
        self.hand_lm = load(HAND_LM, ["Identity", "Identity_1"])
        if face:
            self.face_det = load(FACE_DET)
            self.face_lm = load(FACE_LM)
        # a lane per concurrent caller (the pool's loops): its CUDA stream, page-locked buffer and CUDA graphs;
        # each thread notes the lane of the step it is running
        self._lanes: dict[int, Lane] = {}
        self._local = threading.local()
        self.timing: dict[str, float] = {}  # seconds per phase (each ends with a copy to the host), for benchmarks
        self._lock = threading.Lock()
        self.pose_anchors = torch.from_numpy(ssd_anchors(224, (8, 16, 32, 32, 32))).to(self.device)
        self.face_anchors = torch.from_numpy(ssd_anchors(128, (8, 16, 16, 16))).to(self.device)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return f"torch {torch.__version__}, {self.device}: {name}" + (f", {self.precision}" if self.precision != "fp32" else "")

    def new_stream(self) -> StreamState:
        return StreamState()

    def _upload(self, frames: list[np.ndarray]) -> torch.Tensor:
        """The batch's frames on the device, top-left aligned in one (n, H, W, 3) uint8 canvas. On a GPU the
        host side is a reused page-locked buffer (allocating one per batch costs more than the copy)."""
        n = len(frames)
        hmax = max(f.shape[0] for f in frames)
        wmax = max(f.shape[1] for f in frames)
        if self.device.type != "cuda":
            host = np.zeros((n, hmax, wmax, 3), dtype=np.uint8)
            for i, f in enumerate(frames):
                host[i, :f.shape[0], :f.shape[1]] = f
            return torch.from_numpy(host)
        need = n * hmax * wmax * 3
        lane = self._local.lane
        pinned = lane.pinned
        if pinned is None or pinned.numel() < need:
            pinned = lane.pinned = torch.empty(max(need, 2 * (pinned.numel() if pinned is not None else 0)),
                                                      dtype=torch.uint8).pin_memory()
        host = pinned[:need].numpy().reshape(n, hmax, wmax, 3)
        for i, f in enumerate(frames):
            h, w = f.shape[:2]
            host[i, :h, :w] = f
            if w < wmax:
                host[i, :h, w:] = 0
            if h < hmax:
                host[i, h:] = 0
        return pinned[:need].view(n, hmax, wmax, 3).to(self.device, non_blocking=True)

    def _run(self, model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """One model over a batch of crops. On a GPU the batch is padded to a few fixed sizes, so cuDNN tunes
        each model for a handful of shapes instead of every count of crops a step can have."""
        n = x.shape[0]
        if self.device.type == "cuda":
            size = 1 << max(0, (n - 1).bit_length()) if n <= 64 else -(-n // 64) * 64
            if size != n:
                x = torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])
        if self.dtype != torch.float32:  # after the padding: the batch the model reads is in its layout
            x = x.to(self.dtype)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        ys = self._local.lane.replay(model, x) if self.graphs else model(x, layout="nchw")
        ys = [y[:n] for y in ys]
        return ys if self.dtype == torch.float32 else [y.float() for y in ys]

    # ---- crops -------------------------------------------------------------------------------------
    def _crop(self, canvas: torch.Tensor, sizes: torch.Tensor, img: np.ndarray, rects: np.ndarray, out: int,
              lo: float, hi: float, zero_border: bool, keep_aspect: bool = True) -> torch.Tensor:
        """ImageToTensor: rotated rect crops (rects normalised, one per row, from image ``img[i]`` of the float
        NCHW ``canvas``) as an (n, 3, out, out) tensor in [lo, hi]. One ``grid_sample`` over the images that
        have crops, their crops side by side in the grid; the source coordinates are OpenCV's (pixel i's centre
        at i, rounded to 1/32 px) and the result is rounded to whole levels as OpenCV's uint8 warp does."""
        dev = self.device
        n = len(img)
        wh = sizes[torch.from_numpy(img).to(dev)].float()  # (n, 2)
        r = torch.from_numpy(rects).to(dev)
        cx, cy = (r[:, 0] * wh[:, 0]).float(), (r[:, 1] * wh[:, 1]).float()
        w, h = (r[:, 2] * wh[:, 0]).float(), (r[:, 3] * wh[:, 1]).float()
        if keep_aspect:  # pad the ROI to the tensor's (square) aspect: letterbox
            w = h = torch.maximum(w, h)
        c, s = torch.cos(r[:, 4]).float(), torch.sin(r[:, 4]).float()
        g = torch.arange(out, device=dev, dtype=torch.float32) / out - 0.5
        u = g.view(1, 1, out) * w.view(-1, 1, 1)  # along the rect's x, per output column
        v = g.view(1, out, 1) * h.view(-1, 1, 1)  # along the rect's y, per output row
        sx = cx.view(-1, 1, 1) + c.view(-1, 1, 1) * u - s.view(-1, 1, 1) * v
        sy = cy.view(-1, 1, 1) + s.view(-1, 1, 1) * u + c.view(-1, 1, 1) * v
        sx = torch.round(sx * 32) / 32  # OpenCV's fixed-point coordinates (INTER_BITS = 5)
        sy = torch.round(sy * 32) / 32
        if not zero_border:  # replicate: the nearest edge pixel
            sx = torch.minimum(sx.clamp(min=0.0), wh[:, 0].view(-1, 1, 1) - 1)
            sy = torch.minimum(sy.clamp(min=0.0), wh[:, 1].view(-1, 1, 1) - 1)
        # zero border: the canvas is zero beyond each frame, and grid_sample is zero beyond the canvas
        ch, cw = canvas.shape[2], canvas.shape[3]
        grid = torch.stack([sx * (2.0 / max(cw - 1, 1)) - 1, sy * (2.0 / max(ch - 1, 1)) - 1], dim=-1)
        images, row = np.unique(img, return_inverse=True)
        slot = np.zeros(n, dtype=np.int64)
        seen: dict[int, int] = {}
        for i, rw in enumerate(row):
            slot[i] = seen.get(rw, 0)
            seen[rw] = slot[i] + 1
        k = int(slot.max()) + 1
        src = canvas if len(images) == canvas.shape[0] else canvas[torch.from_numpy(images).to(dev)]
        full = torch.full((len(images), k * out, out, 2), -4.0, device=dev)  # unused slots sample nothing
        rt, st = torch.from_numpy(row).to(dev), torch.from_numpy(slot).to(dev)
        full.view(len(images), k, out, out, 2)[rt, st] = grid
        sampled = F.grid_sample(src, full, mode="bilinear", padding_mode="zeros", align_corners=True)
        crops = sampled.view(len(images), 3, k, out, out)[rt, :, st]
        return torch.round(crops) * ((hi - lo) / 255.0) + lo

    # ---- detection ---------------------------------------------------------------------------------
    @staticmethod
    def _best_detection(raw: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor, scale: float,
                        n_kp: int, thresh: float = 0.5):
        """Decode SSD boxes and return the first detection of weighted NMS (IoU 0.3): the top-scoring box,
        its box and keypoints averaged over the boxes overlapping it, weighted by score. (n, 4), (n, k, 2),
        found (n,)."""
        a = anchors.unsqueeze(0)
        xc = raw[..., 0] / scale + a[..., 0]
        yc = raw[..., 1] / scale + a[..., 1]
        w, h = raw[..., 2] / scale, raw[..., 3] / scale
        boxes = torch.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], dim=-1)
        kp = raw[..., 4:4 + 2 * n_kp].reshape(*raw.shape[:2], n_kp, 2) / scale + a.unsqueeze(2)
        score = torch.sigmoid(logits[..., 0].clamp(-100, 100))
        valid = (score >= thresh) & (w >= 0) & (h >= 0)
        masked = torch.where(valid, score, torch.full_like(score, -1.0))
        best = masked.argmax(dim=1)
        found = masked.gather(1, best[:, None])[:, 0] >= 0
        seed = boxes[torch.arange(len(best)), best]
        ix = (torch.minimum(boxes[..., 2], seed[:, None, 2]) - torch.maximum(boxes[..., 0], seed[:, None, 0])).clamp(min=0)
        iy = (torch.minimum(boxes[..., 3], seed[:, None, 3]) - torch.maximum(boxes[..., 1], seed[:, None, 1])).clamp(min=0)
        inter = ix * iy
        area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
        sa = (seed[:, 2] - seed[:, 0]) * (seed[:, 3] - seed[:, 1])
        iou = inter / (area + sa[:, None] - inter).clamp(min=1e-12)
        wts = torch.where(valid & (iou > 0.3), score, torch.zeros_like(score))
        tot = wts.sum(dim=1).clamp(min=1e-12)
        box = (wts.unsqueeze(-1) * boxes).sum(1) / tot[:, None]
        kps = (wts.view(*wts.shape, 1, 1) * kp).sum(1) / tot.view(-1, 1, 1)
        return box, kps, found

    # ---- one step ----------------------------------------------------------------------------------
    def process(self, states: list[StreamState], frames: list[np.ndarray],
                timestamps_us: list[int | None], lane: int = 0) -> list[dict[str, np.ndarray | None]]:
        """One frame of each stream. Threads may call it at once, each with its own ``lane`` (the models are
        read-only): on a GPU each lane runs on its own CUDA stream, and its step's copies back to the host wait
        for that stream only."""
        with self._lock:
            ln = self._lanes.get(lane)
            if ln is None:
                ln = self._lanes[lane] = Lane(self.device)
        self._local.lane = ln
        if self.device.type != "cuda":
            return self._process(states, frames, timestamps_us)
        with torch.cuda.stream(ln.stream):
            return self._process(states, frames, timestamps_us)

    @torch.no_grad()
    def _process(self, states: list[StreamState], frames: list[np.ndarray],
                 timestamps_us: list[int | None]) -> list[dict[str, np.ndarray | None]]:
        n = len(frames)
        out: list[dict[str, np.ndarray | None]] = [
            {"face": None, "pose": None, "left_hand": None, "right_hand": None} for _ in range(n)]
        if n == 0:
            return out
        ts = []
        for st, t in zip(states, timestamps_us):
            st.frames += 1
            ts.append(int(t) * 1000 if t is not None else st.frames * 33_333_000)
        clock = time.perf_counter
        t0 = clock()
        canvas = self._upload(frames).permute(0, 3, 1, 2).float()  # (n, 3, H, W), 0..255
        wh = np.array([[f.shape[1], f.shape[0]] for f in frames], dtype=np.float64)
        sizes = torch.from_numpy(wh).to(self.device)

        # 1. pose ROI: the previous frame's, else detection on the full frame (letterboxed)
        rects, have = self._pose_rois(states, canvas, sizes, wh)
        t1 = clock()
        # 2. pose landmarks, smoothed; the next frame's ROI
        pose_ok, pose33 = self._pose(states, canvas, sizes, wh, rects, have, np.asarray(ts))
        for i in np.flatnonzero(~have):
            st = states[i]
            st.pose_filter.reset()
            st.aux_filter.reset()
        for i in np.flatnonzero(~pose_ok):
            st = states[i]
            st.hands = {"left_hand": None, "right_hand": None}
            st.face = None

        t2 = clock()
        # 3. hands and face from the pose, in two model rounds: re-crop / detection, then landmarks
        ok = np.flatnonzero(pose_ok)
        for i in ok:
            out[i]["pose"] = pose33[i].astype(np.float32).ravel()
        if len(ok):
            self._hands(states, canvas, sizes, wh, ok, pose33, out)
        t3 = clock()
        if len(ok) and self.face:
            self._face(states, canvas, sizes, wh, ok, pose33, out)
        t4 = clock()
        with self._lock:
            for k, v in (("upload_and_pose_detection", t1 - t0), ("pose_landmarks", t2 - t1), ("hands", t3 - t2),
                         ("face", t4 - t3), ("steps", 1), ("frames", n)):
                self.timing[k] = self.timing.get(k, 0) + v
        return out

    def _pose_rois(self, states, canvas, sizes, wh) -> tuple[np.ndarray, np.ndarray]:
        """Each stream's pose ROI: the one tracking left, else the first detection on the full frame."""
        n = len(states)
        rects = np.zeros((n, 5))
        have = np.zeros(n, dtype=bool)
        detect = []
        for i, st in enumerate(states):
            if st.pose_rect is not None:
                rects[i], have[i] = st.pose_rect, True
            else:
                detect.append(i)
        if detect:
            di = np.array(detect)
            full = np.tile(np.array([[0.5, 0.5, 1.0, 1.0, 0.0]]), (len(di), 1))
            x = self._crop(canvas, sizes, di, full, 224, -1.0, 1.0, zero_border=True)
            raw, logits = self._run(self.pose_det, x)
            _, kps, found = self._best_detection(raw, logits, self.pose_anchors, 224.0, 4)
            kps, found = kps.double().cpu().numpy(), found.cpu().numpy()
            W, H = wh[di, 0], wh[di, 1]
            side = np.maximum(W, H)
            pad_x, pad_y = (1 - W / side) / 2, (1 - H / side) / 2  # letterbox removal
            kps[..., 0] = (kps[..., 0] - pad_x[:, None]) / (1 - 2 * pad_x[:, None])
            kps[..., 1] = (kps[..., 1] - pad_y[:, None]) / (1 - 2 * pad_y[:, None])
            r = transform_rect(alignment_rect(kps[:, 0], kps[:, 1], wh[di], np.pi / 2), wh[di], 1.25)
            rects[di[found]] = r[found]
            have[di[found]] = True

        return rects, have

    def _pose(self, states, canvas, sizes, wh, rects, have, ts) -> tuple[np.ndarray, np.ndarray]:
        """Pose landmarks in every ROI; a stream whose pose flag is low loses its tracking."""
        n = len(states)
        pi = np.flatnonzero(have)
        pose_ok = np.zeros(n, dtype=bool)
        pose33 = np.zeros((n, 33, 4))
        if len(pi):
            x = self._crop(canvas, sizes, pi, rects[pi], 256, 0.0, 1.0, zero_border=False)
            lm, flag, heat = self._run(self.pose_lm, x)
            lm = lm.view(-1, 39, 5)
            refined = self._refine_from_heatmap(lm[..., :2], heat)
            lm = torch.cat([refined, lm[..., 2:]], dim=-1).double().cpu().numpy()
            flag = flag[:, 0].cpu().numpy()
            lost = pi[flag <= 0.5]
            for i in lost:
                states[i].pose_rect = None
                states[i].pose_filter.reset()
                states[i].aux_filter.reset()
            keep = flag > 0.5
            if keep.any():
                si = pi[keep]
                raw = lm[keep]
                raw[..., :3] /= 256.0
                raw[..., 3:] = 1 / (1 + np.exp(-raw[..., 3:]))
                proj = project(raw[..., :3], rects[si])
                self._smooth([states[i] for i in si], proj, raw[..., 3], wh[si], ts[si], pose33, si)
                pose_ok[si] = True
        return pose_ok, pose33

    def _refine_from_heatmap(self, xy: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        """RefineLandmarksFromHeatmap (kernel 7, min confidence 0.5) on crop-pixel coordinates (n, 39, 2)."""
        n, hm, wm, k = heat.shape
        pos = xy / 256.0
        col = torch.trunc(pos[..., 0] * wm).long()
        row = torch.trunc(pos[..., 1] * hm).long()
        inside = (col >= 0) & (col < wm) & (row >= 0) & (row < hm)
        off = torch.arange(-3, 4, device=xy.device)
        rr = row.unsqueeze(-1).unsqueeze(-1) + off.view(1, 1, 7, 1)  # (n, k, 7, 1)
        cc = col.unsqueeze(-1).unsqueeze(-1) + off.view(1, 1, 1, 7)  # (n, k, 1, 7)
        valid = (rr >= 0) & (rr < hm) & (cc >= 0) & (cc < wm)
        rrc, ccc = rr.clamp(0, hm - 1), cc.clamp(0, wm - 1)
        hmap = torch.sigmoid(heat.permute(0, 3, 1, 2))  # (n, k, h, w)
        idx = (rrc * wm + ccc).expand(n, k, 7, 7).reshape(n, k, 49)
        conf = hmap.reshape(n, k, hm * wm).gather(2, idx).view(n, k, 7, 7) * valid
        total = conf.sum(dim=(2, 3))
        mx = conf.amax(dim=(2, 3))
        sx = (conf * ccc.float()).sum(dim=(2, 3))
        sy = (conf * rrc.float()).sum(dim=(2, 3))
        use = inside & (mx >= 0.5) & (total > 0)
        nx = sx / wm / total.clamp(min=1e-12) * 256.0
        ny = sy / hm / total.clamp(min=1e-12) * 256.0
        return torch.stack([torch.where(use, nx, xy[..., 0]), torch.where(use, ny, xy[..., 1])], dim=-1)

    def _smooth(self, states: list[StreamState], proj: np.ndarray, vis: np.ndarray, wh: np.ndarray,
                t_ns: np.ndarray, pose33: np.ndarray, idx: np.ndarray) -> None:
        """PoseLandmarkFiltering for the streams whose pose was found (rows of ``proj``, (m, 39, 3)):
        visibility low-pass, one-euro on pixels scaled by the aux span, and each stream's next pose ROI."""
        W, H = wh[:, 0:1], wh[:, 1:2]
        aux = proj[:, 33:35]
        scale_px = 2 * np.hypot((aux[:, 1, 0] - aux[:, 0, 0]) * W[:, 0], (aux[:, 1, 1] - aux[:, 0, 1]) * H[:, 0])
        for st, v in zip(states, vis):
            st.pose_vis = _lpf(st.pose_vis, v[:33])
            st.aux_vis = _lpf(st.aux_vis, v[33:35])
        to_px = np.stack([W, H, W], axis=-1)  # (m, 1, 3)
        px = proj[:, :35] * to_px
        body, aux_f = px[:, :33].copy(), px[:, 33:35].copy()
        f = np.flatnonzero(scale_px >= 1e-6)  # a collapsed body passes through unfiltered
        if len(f):
            body[f] = OneEuro.apply([states[i].pose_filter for i in f], t_ns[f], 1.0 / scale_px[f], px[f, :33])
            aux_f[f] = OneEuro.apply([states[i].aux_filter for i in f], t_ns[f], 1.0 / scale_px[f], px[f, 33:35])
        body, aux_f = body / to_px, aux_f / to_px
        pose33[idx, :, :3] = body
        pose33[idx, :, 3] = np.stack([st.pose_vis for st in states])
        rects = transform_rect(alignment_rect(aux_f[:, 0, :2], aux_f[:, 1, :2], wh, np.pi / 2), wh, 1.25)
        for st, r in zip(states, rects):
            st.pose_rect = r

    def _hands(self, states, canvas, sizes, wh, ok, pose33, out) -> None:
        items = []  # (stream index, side)
        for i in ok:
            for side, (wr, _p, _ix) in HAND_POSE_POINTS.items():
                if pose33[i, wr, 3] > 0.1:
                    items.append((i, side))
                else:
                    states[i].hands[side] = None
        if not items:
            return
        idx = np.array([i for i, _ in items])
        whs = wh[idx]
        pts = np.stack([pose33[i, list(HAND_POSE_POINTS[s]), :2] for i, s in items])  # wrist, pinky, index
        wrist, pinky, index = pts[:, 0] * whs, pts[:, 1] * whs, pts[:, 2] * whs
        m = (2 * index + pinky) / 3
        box = 2 * np.hypot(*(m - wrist).T)
        r = np.stack([m[:, 0] / whs[:, 0], m[:, 1] / whs[:, 1], box / whs[:, 0], box / whs[:, 1],
                      rotation(wrist, m, np.pi / 2)], axis=1)
        roi_pose = transform_rect(r, whs, 2.7, -0.1)
        x = self._crop(canvas, sizes, idx, roi_pose, 256, 0.0, 1.0, zero_border=False)
        (crop,) = self._run(self.hand_recrop, x)
        kp = crop.reshape(-1, 2, 2).double().cpu().numpy() / 256.0
        kp = project(np.concatenate([kp, np.zeros((len(kp), 2, 1))], axis=2), roi_pose)[..., :2]
        roi = transform_rect(alignment_rect(kp[:, 0], kp[:, 1], whs, -np.pi / 2), whs, 1.0, -0.1)
        track([states[i].hands[s] for i, s in items], roi, whs, hand_rect_from_landmarks, 40.0, 0.2, 0.4, -0.1)
        x = self._crop(canvas, sizes, idx, roi, 224, 0.0, 1.0, zero_border=False)
        lm, flag = self._run(self.hand_lm, x)
        lm = lm.view(-1, 21, 3).double().cpu().numpy()
        flag = flag[:, 0].cpu().numpy()
        lm[..., :2] /= 224.0
        lm[..., 2] /= 224.0 * 0.4
        proj = project(lm, roi)
        for j, (i, side) in enumerate(items):
            if flag[j] > 0.5:
                states[i].hands[side] = proj[j]
                out[i][side] = proj[j].astype(np.float32).ravel()
            else:
                states[i].hands[side] = None

    def _face(self, states, canvas, sizes, wh, ok, pose33, out) -> None:
        whs = wh[ok]
        roi_pose = transform_rect(bbox_rect(pose33[ok, :11, :2], whs, 5, 2, 0.0), whs, 3.0)
        x = self._crop(canvas, sizes, ok, roi_pose, 128, -1.0, 1.0, zero_border=True)
        raw, logits = self._run(self.face_det, x)
        _, kps, found = self._best_detection(raw, logits, self.face_anchors, 128.0, 6)
        kps, found = kps.double().cpu().numpy(), found.cpu().numpy()
        kp = project(np.concatenate([kps, np.zeros((*kps.shape[:2], 1))], axis=2), roi_pose)[..., :2]
        roi = transform_rect(bbox_rect(kp, whs, 0, 1, 0.0), whs, 2.0, -0.1)
        for j in np.flatnonzero(~found):
            states[ok[j]].face = None
        f = np.flatnonzero(found)
        if not len(f):
            return
        idx, roi, whs = ok[f], roi[f], whs[f]
        track([states[i].face for i in idx], roi, whs, face_rect_from_landmarks, 15.0, 0.1, 0.3, -0.2)
        x = self._crop(canvas, sizes, idx, roi, 192, 0.0, 1.0, zero_border=False, keep_aspect=False)
        lm, flag = self._run(self.face_lm, x)
        lm = lm.reshape(-1, 468, 3).double().cpu().numpy() / 192.0
        flag = torch.sigmoid(flag.reshape(-1)).cpu().numpy()
        proj = project(lm, roi)
        for j, i in enumerate(idx):
            if flag[j] > 0.5:
                states[i].face = proj[j]
                out[i]["face"] = proj[j].astype(np.float32).ravel()
            else:
                states[i].face = None
