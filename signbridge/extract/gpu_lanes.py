"""Lanes of the GPU extractor: what each concurrent caller of one engine owns.

The GPU pool runs two batching loops on one engine, so one loop's host work overlaps the other's models. Each loop
is a lane: its own CUDA stream (its step's copies back to the host wait for its own work only), its own page-locked
upload buffer, and its own CUDA graphs of the models. A step launches a few hundred small kernels per model;
launched one by one from Python they cost more than running them (measured on an H100: the GPU busy a third of
each step), so each model is captured once per padded batch size and replayed.
"""
from __future__ import annotations

import logging
import threading

import torch

log = logging.getLogger(__name__)

USE_CUDA_GRAPHS = True  # models replayed as CUDA graphs on a GPU (the speed benchmark turns it off to compare)
_CAPTURE_LOCK = threading.Lock()


class Lane:
    """One caller's resources; one thread runs a lane at a time."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        on_gpu = device.type == "cuda"
        # kept for the lane's life: torch hands out streams from a small ring, so a fresh one could be another's
        self.stream = torch.cuda.Stream(device) if on_gpu else None
        self.capture = torch.cuda.Stream(device) if on_gpu else None
        self.pinned: torch.Tensor | None = None
        self.graphs: dict[tuple, object] = {}

    def replay(self, model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """``model(x)`` through this lane's CUDA graph for that model and shape. The outputs are the graph's own
        buffers, valid until this lane replays the same graph again (its next step). A shape that fails to
        capture runs eagerly."""
        key = (id(model), tuple(x.shape), x.dtype)
        g = self.graphs.get(key)
        if g is None:
            g = self.graphs[key] = self._capture(model, x)
        if g is False:
            return model(x, layout="nchw")
        graph, static_x, static_y = g
        static_x.copy_(x)
        graph.replay()
        return static_y

    def _capture(self, model: torch.nn.Module, x: torch.Tensor):
        """One capture at a time in the process (entering a capture frees cached memory, which another capture
        under way forbids), on the lane's own capture stream; the other lane goes on running its steps."""
        cur = torch.cuda.current_stream(self.device)
        side = self.capture
        with _CAPTURE_LOCK:
            try:
                static_x = x.clone()
                side.wait_stream(cur)
                with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN picks its kernels here
                    model(static_x, layout="nchw")
                cur.wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                    static_y = model(static_x, layout="nchw")
                cur.wait_stream(side)
                return graph, static_x, static_y
            except Exception as e:  # noqa: BLE001 — a graph is an optimisation: run eagerly instead
                log.warning("GPU extractor: no CUDA graph for batch %s (%s); that shape runs eagerly",
                            tuple(x.shape), e)
                torch.cuda.synchronize(self.device)
                return False
