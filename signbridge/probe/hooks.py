"""Per-layer pooled activations through forward hooks.

Layer 0 is the input to the first block (for a VLM: token embeddings with the
projected image features spliced in), layer k the output of block k, so the
numbering matches Hugging Face ``hidden_states[k]`` (except that the last layer
here is taken before the final norm). Only pooled vectors leave the hook, so a
7B model's full hidden states are never held for a whole batch.

The recorder is armed for one forward pass at a time and ignores calls whose
sequence length differs from the armed mask: during ``generate()`` it captures
the prompt (prefill) pass and skips the one-token decoding steps, so one call
gives both the activations and the model's own answer.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

POOLINGS = ("last", "mean", "image")


def _tensor_of(out):
    if isinstance(out, (tuple, list)):
        return out[0]
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    return out


class LayerRecorder:
    """Hooks ``layers`` (a sequence of blocks) and pools their outputs per armed pass."""

    def __init__(self, layers: Sequence, poolings: Sequence[str] = ("last", "mean"), input_module=None):
        """Slot 0 is the input of ``input_module`` (default: the first layer), slot k the output of layer k.

        A layer whose output is 2-D (batch, dim), such as a pooled embedding or an MLP
        layer, gives the same vector for every pooling.
        """
        bad = [p for p in poolings if p not in POOLINGS]
        if bad:
            raise ValueError(f"unknown pooling {bad}; choose from {POOLINGS}")
        self.layers = list(layers)
        self.poolings = tuple(poolings)
        self.n_slots = len(self.layers) + 1
        self._handles = []
        self._mask = None
        self._image_mask = None
        self._got: dict[int, dict[str, np.ndarray]] = {}
        first = self.layers[0] if input_module is None else input_module
        self._handles.append(first.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
        for i, layer in enumerate(self.layers, start=1):
            self._handles.append(layer.register_forward_hook(self._make_hook(i)))

    # -- arming -------------------------------------------------------------------------------------
    def arm(self, attention_mask, image_mask=None) -> None:
        """Capture the next forward pass whose sequence length equals the mask's."""
        import torch

        self._mask = attention_mask.bool()
        self._image_mask = None if image_mask is None else (image_mask.bool() & self._mask)
        if "image" in self.poolings and (self._image_mask is None or not bool(torch.all(self._image_mask.any(1)))):
            raise ValueError("pooling 'image' needs image-token positions in every sample")
        self._got = {}

    def collect(self) -> dict[str, np.ndarray]:
        """{pooling: (n_slots, batch, hidden) float32} for the armed pass; disarms.

        Layers of different widths (an MLP) give a list of (batch, width) arrays instead.
        """
        missing = [i for i in range(self.n_slots) if i not in self._got]
        self._mask = None
        if missing:
            raise RuntimeError(f"layers {missing} were not captured (the model skipped hooked blocks?)")
        out = {}
        for p in self.poolings:
            per = [self._got[i][p] for i in range(self.n_slots)]
            out[p] = np.stack(per) if len({a.shape for a in per}) == 1 else per
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    # -- hooks --------------------------------------------------------------------------------------
    def _pre_hook(self, module, args, kwargs):
        h = args[0] if args else kwargs.get("hidden_states", kwargs.get("src"))
        self._store(0, h)

    def _make_hook(self, slot: int):
        def hook(module, args, out):
            self._store(slot, _tensor_of(out))
        return hook

    def _store(self, slot: int, h) -> None:
        import torch

        if self._mask is None or slot in self._got or h is None or h.dim() not in (2, 3):
            return
        mask = self._mask.to(h.device)
        if h.dim() == 2:
            if h.shape[0] == mask.shape[0]:
                v = h.detach().float().cpu().numpy()
                self._got[slot] = {p: v for p in self.poolings}
            return
        if h.shape[:2] != mask.shape:
            if h.shape[:2] == mask.shape[::-1]:  # (seq, batch, hidden) encoders
                h = h.transpose(0, 1)
            else:
                return  # a decoding step, not the armed pass
        with torch.no_grad():
            hf = h.float()
            pooled: dict[str, np.ndarray] = {}
            if "last" in self.poolings:
                pos = torch.arange(mask.shape[1], device=h.device).expand_as(mask)
                last = torch.where(mask, pos, torch.full_like(pos, -1)).max(1).values.clamp(min=0)
                pooled["last"] = hf[torch.arange(h.shape[0], device=h.device), last].cpu().numpy()
            if "mean" in self.poolings:
                pooled["mean"] = _masked_mean(hf, mask).cpu().numpy()
            if "image" in self.poolings:
                pooled["image"] = _masked_mean(hf, self._image_mask.to(h.device)).cpu().numpy()
        self._got[slot] = pooled


def _masked_mean(h, mask):
    m = mask.to(h.dtype).unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def concat_batches(chunks: list) -> np.ndarray | list[np.ndarray]:
    """Join per-batch results of :meth:`LayerRecorder.collect` along the sample axis."""
    if all(isinstance(c, np.ndarray) for c in chunks):
        return np.concatenate(chunks, axis=1)
    n = len(chunks[0])
    return [np.concatenate([c[i] for c in chunks], axis=0) for i in range(n)]
