"""Labelled probe inputs: images (Sign-MNIST CSV or a folder per label) and frames sampled from videos.

Everything is read into memory as uint8 RGB arrays with a label, an id and,
where samples are correlated (frames of one video), a group: probes are split
by group so frames of one clip never sit on both sides of a split. A file that
cannot be read is skipped and listed, so one bad image does not stop a study;
inputs that make the study meaningless (no labels, one class) raise
:class:`InputError` naming the file.
"""
from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
# Sign-MNIST numbers letters A=0 ... Y=24 and has no J (9) or Z (25): both need motion.
SIGN_MNIST_LETTERS = {i: chr(ord("A") + i) for i in range(26) if i not in (9, 25)}


@dataclass
class LabelledSet:
    """Samples (images or landmark arrays) with labels, ids and optional split groups."""

    items: list[Any]
    labels: np.ndarray
    ids: list[str]
    source: str
    groups: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "images"

    def __len__(self) -> int:
        return len(self.items)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()))

    def digest(self) -> str:
        """Content hash of samples, labels and groups: the inputs half of the cache key."""
        h = hashlib.sha256()
        h.update(self.kind.encode())
        for item, label in zip(self.items, self.labels):
            a = np.ascontiguousarray(item)
            h.update(f"{label}|{a.dtype}|{a.shape}|".encode())
            h.update(a.tobytes())
        if self.groups is not None:
            h.update("|".join(map(str, self.groups)).encode())
        return h.hexdigest()

    def subset(self, idx: np.ndarray | list[int]) -> "LabelledSet":
        idx = list(idx)
        return LabelledSet(
            items=[self.items[i] for i in idx],
            labels=self.labels[idx],
            ids=[self.ids[i] for i in idx],
            source=self.source,
            groups=None if self.groups is None else self.groups[idx],
            skipped=list(self.skipped),
            kind=self.kind,
        )

    def per_class(self, n: int | None) -> "LabelledSet":
        """The first ``n`` samples of each class, in file order (reproducible, no RNG)."""
        if not n:
            return self
        seen: Counter[str] = Counter()
        keep = []
        for i, lab in enumerate(self.labels.tolist()):
            if seen[lab] < n:
                seen[lab] += 1
                keep.append(i)
        return self.subset(keep)

    def check_probeable(self) -> "LabelledSet":
        counts = Counter(self.labels.tolist())
        if len(counts) < 2:
            raise InputError(
                f"needs at least 2 labels to probe, found {len(counts)} ({', '.join(counts) or 'none'})",
                source=self.source, hint="give labelled samples of two or more signs")
        thin = sorted(k for k, v in counts.items() if v < 2)
        if thin:
            raise InputError(f"labels with fewer than 2 samples cannot be split: {', '.join(thin[:10])}",
                             source=self.source, hint="add samples or drop those labels")
        return self


def load_images(path: str | Path) -> LabelledSet:
    """Dispatch: a ``.csv`` in Sign-MNIST layout, or a folder with one sub-folder per label."""
    p = Path(path)
    if not p.exists():
        raise InputError("does not exist", source=str(p), hint="pass a Sign-MNIST style CSV or a folder per label")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise InputError("is not a .csv file or a folder", source=str(p),
                             hint="pass a Sign-MNIST style CSV (label,pixel1..pixelN) or a folder per label")
        return load_sign_mnist_csv(p)
    return load_image_folder(p)


def load_sign_mnist_csv(path: str | Path) -> LabelledSet:
    """``label,pixel1..pixelN`` rows of square grey images; label is 0-24 (A-Y) or a letter."""
    p = Path(path)
    try:
        with p.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot be read as CSV text: {e}", source=str(p)) from None
    if not header:
        raise InputError("is empty", source=str(p), hint="expected a header row: label,pixel1,...,pixel784")
    if header[0].strip().lower() != "label" or len(header) < 5:
        raise InputError(f"header starts {','.join(header[:3])!r}, expected 'label,pixel1,...'", source=str(p),
                         hint="use the Sign Language MNIST layout: label then one column per pixel")
    n_pix = len(header) - 1
    side = int(round(n_pix ** 0.5))
    if side * side != n_pix:
        raise InputError(f"has {n_pix} pixel columns, which is not a square image", source=str(p))
    items, labels, ids = [], [], []
    skipped: list[tuple[str, str]] = []
    for line, row in enumerate(rows, start=2):
        rid = f"{p.name}:{line}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != n_pix + 1:
            skipped.append((rid, f"{len(row)} columns, expected {n_pix + 1}"))
            continue
        label = _mnist_label(row[0])
        if label is None:
            skipped.append((rid, f"label {row[0]!r} is not 0-24 (no 9) or a letter"))
            continue
        try:
            px = np.asarray(row[1:], dtype=np.float64)
        except ValueError:
            skipped.append((rid, "non-numeric pixel value"))
            continue
        if not np.isfinite(px).all() or px.min() < 0 or px.max() > 255:
            skipped.append((rid, "pixel values outside 0-255"))
            continue
        img = px.reshape(side, side).round().astype(np.uint8)
        items.append(np.repeat(img[:, :, None], 3, axis=2))
        labels.append(label)
        ids.append(rid)
    _warn_skipped(p, skipped)
    if not items:
        raise InputError("has no usable rows" + (f" ({skipped[0][1]} in {skipped[0][0]})" if skipped else ""),
                         source=str(p))
    return LabelledSet(items, np.asarray(labels), ids, str(p), skipped=skipped)


def _mnist_label(raw: str) -> str | None:
    raw = raw.strip()
    if raw.isdigit():
        return SIGN_MNIST_LETTERS.get(int(raw))
    if len(raw) == 1 and raw.isalpha():
        return raw.upper()
    return None


def load_image_folder(root: str | Path) -> LabelledSet:
    """``root/<label>/<image>``; the folder name is the label."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    items, labels, ids = [], [], []
    skipped: list[tuple[str, str]] = []
    for d in sorted(x for x in root.iterdir() if x.is_dir() and not x.name.startswith(".")):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES or not f.is_file():
                continue
            rid = f"{d.name}/{f.name}"
            try:
                with Image.open(f) as im:
                    items.append(np.asarray(im.convert("RGB")))
            except (UnidentifiedImageError, OSError, ValueError) as e:
                skipped.append((rid, f"unreadable image: {e}"))
                continue
            labels.append(d.name)
            ids.append(rid)
    _warn_skipped(root, skipped)
    if not items:
        raise InputError("has no readable images in label sub-folders", source=str(root),
                         hint=f"lay out images as {root}/<label>/<image>{IMAGE_SUFFIXES[0]}")
    return LabelledSet(items, np.asarray(labels), ids, str(root), skipped=skipped)


def load_video_frames(manifest: str | Path, frames_per_video: int = 3, max_side: int = 640) -> LabelledSet:
    """Frames sampled evenly from labelled videos; each video is one split group.

    ``manifest`` is a CSV with ``file`` (or ``path``/``video``; relative to the CSV's
    folder) and ``label`` (or ``gloss``), optionally ``start_s``/``end_s`` to sample
    inside a span. Unreadable videos are skipped and listed.
    """
    import cv2

    mp = Path(manifest)
    if not mp.is_file():
        raise InputError("does not exist", source=str(mp), hint="pass a CSV with columns file,label")
    with mp.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise InputError("has no rows", source=str(mp), hint="expected columns file,label[,start_s,end_s]")
    cols = set(rows[0])
    fcol = next((c for c in ("file", "path", "video") if c in cols), None)
    lcol = next((c for c in ("label", "gloss") if c in cols), None)
    if not fcol or not lcol:
        raise InputError(f"columns are {', '.join(sorted(cols))}; need file and label", source=str(mp),
                         hint="name the video column file (or path/video) and the label column label (or gloss)")
    items, labels, ids, groups = [], [], [], []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        vid = (mp.parent / row[fcol]).resolve() if not Path(row[fcol]).is_absolute() else Path(row[fcol])
        rid = row[fcol]
        cap = cv2.VideoCapture(str(vid))
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            if n <= 0:
                skipped.append((rid, "not a readable video"))
                continue
            lo, hi = 0, n
            if row.get("start_s"):
                lo = max(0, min(n - 1, int(float(row["start_s"]) * fps)))
            if row.get("end_s"):
                hi = max(lo + 1, min(n, int(float(row["end_s"]) * fps)))
            picks = sorted({lo + int((i + 0.5) * (hi - lo) / frames_per_video) for i in range(frames_per_video)})
            got = 0
            for k in picks:
                cap.set(cv2.CAP_PROP_POS_FRAMES, k)
                ok, frame = cap.read()
                if not ok:
                    continue
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                h, w = frame.shape[:2]
                if max(h, w) > max_side:
                    s = max_side / max(h, w)
                    frame = cv2.resize(frame, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
                items.append(frame)
                labels.append(row[lcol].strip())
                ids.append(f"{rid}#{k}")
                groups.append(rid)
                got += 1
            if not got:
                skipped.append((rid, "no frame could be decoded"))
        except ValueError as e:
            skipped.append((rid, f"bad start_s/end_s: {e}"))
        finally:
            cap.release()
    _warn_skipped(mp, skipped)
    if not items:
        raise InputError("no frames could be read from any listed video", source=str(mp),
                         hint=f"first problem: {skipped[0][0]}: {skipped[0][1]}" if skipped else None)
    return LabelledSet(items, np.asarray(labels), ids, str(mp), groups=np.asarray(groups), skipped=skipped)


def _warn_skipped(src: Path, skipped: list[tuple[str, str]]) -> None:
    if skipped:
        log.warning("%s: skipped %d unusable sample(s), e.g. %s: %s", src, len(skipped), *skipped[0])
