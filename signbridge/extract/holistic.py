"""MediaPipe Holistic adapter and the per-chunk worker.

One Holistic graph per process and configuration, kept across chunks and videos and
restarted between them (``shared_graph``): a restarted run re-opens every calculator,
so tracking and smoothing state never leaks between videos or chunks. Results leave
as flat float32 arrays plus presence masks: the only thing that crosses the process boundary.
"""
from __future__ import annotations

import contextlib
import functools
import os
import types
from typing import Any, Callable

import numpy as np

from signbridge.extract.chunks import PART_WIDTH, PARTS, ChunkAccumulator, ChunkResult, ChunkTask, chunk_frames

MODEL_COMPLEXITY = 1


def mediapipe_version() -> str:
    from importlib.metadata import version

    return version("mediapipe")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C++ writes to fd 2 (MediaPipe's start-up notices, written before absl logging is
    initialised, so GLOG_minloglevel cannot stop them). Python exceptions still surface; what the
    native side wrote is replayed if the block fails."""
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not ok:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))


def _flat(lms, with_visibility: bool) -> np.ndarray:
    if with_visibility:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in lms.landmark], dtype=np.float32).ravel()
    return np.array([(p.x, p.y, p.z) for p in lms.landmark], dtype=np.float32).ravel()


STREAMS = {"face": "face_landmarks", "pose": "pose_landmarks", "left_hand": "left_hand_landmarks",
           "right_hand": "right_hand_landmarks"}
_DIMS = {"face": 3, "pose": 4, "left_hand": 3, "right_hand": 3}
_FIELD_TAGS = (0x0D, 0x15, 0x1D, 0x25)  # NormalizedLandmark x, y, z, visibility: fields 1-4, fixed32


@functools.lru_cache(maxsize=None)
def _wire_layout(length: int, dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte columns of one serialized landmark entry: where the tags must be, their values, where the floats are."""
    tag_cols = [0, 1] + [2 + 5 * f for f in range(dims)]
    tags = [0x0A, length] + list(_FIELD_TAGS[:dims])
    value_cols = [2 + 5 * f + 1 + b for f in range(dims) for b in range(4)]
    return np.array(tag_cols), np.array(tags, dtype=np.uint8), np.array(value_cols)


def decode_landmark_list(raw: bytes, points: int, dims: int) -> np.ndarray | None:
    """Flat float32 ``points × dims`` straight from a serialized ``NormalizedLandmarkList``.

    MediaPipe serializes every landmark as the same fixed-width record (``x, y, z[, visibility[, presence]]``,
    each a tagged little-endian float32), so the values can be sliced out with numpy instead of building
    a Python proto object and looping over it (≈ 0.3 ms a frame). Returns None for any other layout (a
    field missing, a different count): the caller then parses the proto, so the values are always the same.
    """
    if len(raw) < 2 or points <= 0:
        return None
    length = raw[1]
    stride = length + 2
    if length >= 0x80 or length < 5 * dims or len(raw) != stride * points:
        return None
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(points, stride)
    tag_cols, tags, value_cols = _wire_layout(length, dims)
    if not (rec[:, tag_cols] == tags).all():
        return None
    return np.ascontiguousarray(rec[:, value_cols]).view("<f4").astype(np.float32, copy=False).reshape(-1)


FACE_NODES = ("SplitNormalizedLandmarkListCalculator", "FaceLandmarksFromPoseCpu")  # pose[0:11] -> face mesh


def holistic_graph_config(path: str, graph_threads: int = 0, face: bool = True):
    """The Holistic graph file, with an executor of ``graph_threads`` threads and, for ``face=False``,
    without the face nodes.

    Dropping the face nodes is what ``--no-face`` means: the face mesh model never sees a frame (a
    privacy promise, not only a column left empty) and ≈ 2 of ≈ 20 CPU-ms a frame are saved. Nothing
    flows from the face nodes to the pose or hand nodes, so those landmarks stay bit-identical (tested).
    """
    from mediapipe.framework import calculator_pb2, thread_pool_executor_pb2

    config = calculator_pb2.CalculatorGraphConfig()
    with open(path, "rb") as f:
        config.ParseFromString(f.read())
    if not face and without_nodes(config, FACE_NODES) != len(FACE_NODES):
        raise RuntimeError(f"unexpected Holistic graph layout in {path}: cannot leave the face model out")
    if graph_threads and not any(e.name == "" for e in config.executor):
        ex = config.executor.add(name="", type="ThreadPoolExecutor")
        ex.options.Extensions[thread_pool_executor_pb2.ThreadPoolExecutorOptions.ext].num_threads = graph_threads
    return config


def without_nodes(config, calculators) -> int:
    """Drop the top-level nodes of these calculator types, and the graph outputs nothing produces any more.
    Returns how many nodes went."""
    kept = [n for n in config.node if n.calculator not in set(calculators)]
    dropped = len(config.node) - len(kept)
    made = {s.split(":")[-1] for n in kept for s in n.output_stream}
    outs = [o for o in config.output_stream if o.split(":")[-1] in made]
    del config.node[:]
    config.node.extend(kept)
    del config.output_stream[:]
    config.output_stream.extend(outs)
    return dropped


@functools.lru_cache(maxsize=None)
def _solution_class(graph_threads: int, face: bool = True):
    """MediaPipe's Holistic solution, its graph run by an executor of ``graph_threads`` threads (0: default)
    and, for ``face=False``, without the face nodes (``holistic_graph_config``).

    By default a graph runs its calculators on one thread per core, so face and hand models of one frame
    can run side by side. When every core already has a worker process, that only adds hand-offs between
    threads: one thread per graph measured ≈ 1.2–1.8 % less CPU per frame, identical landmarks.
    """
    import mediapipe as mp
    from mediapipe.python import solution_base

    base = mp.solutions.holistic.Holistic
    if not graph_threads and face:
        return base

    class _Configured(solution_base.SolutionBase):
        # sits between Holistic and SolutionBase in the MRO: the same graph file, edited
        def __init__(self, binary_graph_path=None, graph_config=None, outputs=None, **kw):
            if not binary_graph_path or graph_config is not None:
                return super().__init__(binary_graph_path=binary_graph_path, graph_config=graph_config,
                                        outputs=outputs, **kw)
            root = os.sep.join(os.path.abspath(solution_base.__file__).split(os.sep)[:-3])  # as SolutionBase does
            config = holistic_graph_config(os.path.join(root, binary_graph_path), graph_threads, face)
            if not face:  # the face nodes' stream and side packet are gone with them
                outputs = [o for o in outputs or () if o != "face_landmarks"]
                kw["side_inputs"] = {k: v for k, v in (kw.get("side_inputs") or {}).items()
                                     if k != "refine_face_landmarks"}
            return super().__init__(graph_config=config, outputs=outputs, **kw)

    return type("Holistic", (base, _Configured), {"__doc__": base.__doc__})


class Holistic:
    """MediaPipe Holistic (legacy solutions API), video mode, ``model_complexity=1``.

    Frames go straight to the solution's calculator graph and the four landmark streams are read
    from its packets (``decode_landmark_list``): the solution's own ``process`` also converts the
    world landmarks, builds a namedtuple class per frame and walks every landmark in Python, which
    adds ≈ 0.4 ms a frame to a ≈ 22 ms graph. If the installed MediaPipe lacks the internals this
    relies on, ``process`` falls back to the public path with identical results.
    """

    def __init__(self, graph_threads: int = 0, face: bool = True) -> None:
        """``graph_threads``: threads of the graph's executor (0: MediaPipe's default, one per core).
        ``face=False``: the graph has no face nodes; ``face`` is always None."""
        self.face = face
        with quiet_native_stderr():
            self._h = _solution_class(graph_threads, face)(
                static_image_mode=False, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=True,
                enable_segmentation=False, refine_face_landmarks=False)
            graph = getattr(self._h, "_graph", None)
            if graph is not None:
                graph.wait_until_idle()  # calculators open (and log) on graph threads: let them finish here
        self._first = True
        self._direct = self._direct_api()

    def _direct_api(self):
        try:
            from mediapipe.python import packet_creator
            from mediapipe.python._framework_bindings import _packet_getter
            from mediapipe.python._framework_bindings import image_frame
        except ImportError:
            return None
        h = self._h
        if not (hasattr(h, "_graph") and isinstance(getattr(h, "_graph_outputs", None), dict)
                and isinstance(getattr(h, "_simulated_timestamp", None), int)
                and hasattr(_packet_getter, "_get_serialized_proto")):
            return None
        return packet_creator.create_image_frame, image_frame.ImageFormat.SRGB, _packet_getter._get_serialized_proto

    def process(self, rgb: np.ndarray, timestamp_us: int | None = None) -> dict[str, np.ndarray | None]:
        """Landmarks of one frame. ``timestamp_us`` (strictly increasing) gives the tracking and
        smoothing filters the real time between sampled frames instead of an assumed 30 fps."""
        if self._first:  # the graph's calculators log their one-time notices on the first frame
            self._first = False
            with quiet_native_stderr():
                return self._process(rgb, timestamp_us)
        return self._process(rgb, timestamp_us)

    def _process(self, rgb: np.ndarray, timestamp_us: int | None) -> dict[str, np.ndarray | None]:
        h = self._h
        if self._direct is None:
            if timestamp_us is not None and hasattr(h, "_simulated_timestamp"):
                if timestamp_us > h._simulated_timestamp:  # last packet's time; must increase
                    h._simulated_timestamp = timestamp_us - 33333  # process() adds its 33333 µs step back
            r = h.process(rgb)
            return {part: (_flat(lms, _DIMS[part] == 4) if lms else None)
                    for part, lms in ((p, getattr(r, STREAMS[p], None)) for p in PARTS)}
        create_image_frame, srgb, serialized = self._direct
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError("Holistic needs an RGB image (height, width, 3)")
        # the same timestamps the solution would use: the real one, else 30 fps steps after the last packet
        ts = timestamp_us if timestamp_us is not None and timestamp_us > h._simulated_timestamp \
            else h._simulated_timestamp + 33333
        h._simulated_timestamp = ts
        h._graph_outputs.clear()
        h._graph.add_packet_to_input_stream(stream="image", packet=create_image_frame(rgb, image_format=srgb).at(ts))
        h._graph.wait_until_idle()
        out = {}
        for part in PARTS:
            packet = h._graph_outputs.get(STREAMS[part])
            if packet is None or packet.is_empty():
                out[part] = None
                continue
            dims = _DIMS[part]
            raw = serialized(packet)
            v = decode_landmark_list(raw, PART_WIDTH[part] // dims, dims)
            if v is None:
                from mediapipe.framework.formats import landmark_pb2

                lms = landmark_pb2.NormalizedLandmarkList()
                lms.ParseFromString(raw)
                v = _flat(lms, dims == 4) if len(lms.landmark) else None
            out[part] = v
        return out

    def reset(self) -> None:
        """Start a new run of the same graph: every calculator is closed and opened again, so the
        next frame is processed exactly as by a new ``Holistic`` (tested bit-identical), without
        parsing, validating and building the graph again."""
        with quiet_native_stderr():
            self._h.reset()
            self._h._graph.wait_until_idle()
        self._h._simulated_timestamp = 0  # a new run accepts timestamps from zero again
        self._first = True

    def close(self) -> None:
        self._h.close()

    def __enter__(self) -> "Holistic":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_progress_queue = None  # set in worker processes by init_worker
_graphs: dict[tuple[int, bool], Holistic] = {}
_inherited: list[Holistic] = []


def _forget_inherited_graphs() -> None:
    """A forked child must not use or destroy its parent's graphs (their threads did not come along):
    they stay referenced, untouched, and the child builds its own."""
    _inherited.extend(_graphs.values())
    _graphs.clear()


os.register_at_fork(after_in_child=_forget_inherited_graphs)


def shared_graph(graph_threads: int = 0, face: bool = True) -> Holistic:
    """This process's graph for this configuration, on a fresh run.

    Building a graph parses and validates its config and wires ≈ 200 nodes; a restart
    (``Holistic.reset``) only re-opens the calculators. A graph whose restart fails (left in an
    error state by a failed chunk) is replaced by a new one.
    """
    key = (graph_threads, face)
    h = _graphs.get(key)
    if h is not None:
        try:
            h.reset()
            return h
        except Exception:  # noqa: BLE001 — any failure to restart: build a new graph instead
            del _graphs[key]
            with contextlib.suppress(Exception):
                h.close()
    h = _graphs[key] = Holistic(graph_threads, face)
    return h


class _DeferredModule(types.ModuleType):
    """Stands in for a module a worker never uses; the first attribute lookup imports the real one."""

    def __getattr__(self, attr: str):
        import importlib
        import sys

        for name, stub in _DEFERRED_STUBS.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]
        return getattr(importlib.import_module(self.__name__), attr)


_DEFERRED_STUBS: dict[str, types.ModuleType] = {}


def defer_plotting_imports() -> bool:
    """Keep ``import mediapipe`` from loading matplotlib in a worker process.

    MediaPipe's package import pulls in its drawing helpers, which import ``matplotlib.pyplot``:
    ≈ 0.18 of the ≈ 0.3 CPU-s the import costs each worker, and extraction never draws. Stand-ins
    are installed only when nothing has imported matplotlib yet; any use of them imports the real
    module, so code that does plot still works.
    """
    import sys

    if "matplotlib" in sys.modules or "matplotlib.pyplot" in sys.modules:
        return False
    top, sub = _DeferredModule("matplotlib"), _DeferredModule("matplotlib.pyplot")
    top.__dict__["pyplot"] = sub
    _DEFERRED_STUBS.update({"matplotlib": top, "matplotlib.pyplot": sub})
    sys.modules.update(_DEFERRED_STUBS)
    return True


_graph_threads = 0  # set in worker processes by init_worker


def init_worker(progress_queue, graph_threads: int = 0) -> None:
    """Pool initializer: import MediaPipe early, remember where to report progress and how many
    threads each graph gets."""
    global _progress_queue, _graph_threads
    _progress_queue = progress_queue
    _graph_threads = graph_threads
    defer_plotting_imports()
    with quiet_native_stderr():
        import mediapipe  # noqa: F401  (pay the import while the parent is still probing)


def run_chunk_in_worker(task: ChunkTask) -> ChunkResult:
    q = _progress_queue

    def report(n: int) -> None:
        if q is not None:
            q.put((task.video_key, n))

    return run_chunk(task, progress=report, graph_threads=_graph_threads)


def run_chunk(task: ChunkTask, progress: Callable[[int], None] | None = None,
              graph_threads: int = 0) -> ChunkResult:
    """Decode one chunk, run Holistic on every frame, keep the frames the chunk owns."""
    if task.extractor == "gpu":  # a lone chunk (a DAG unit, a re-read): this process's GPU pool
        from signbridge.extract.gpu_pool import shared_pool

        return shared_pool(task.device, face=task.face_mode != "none", precision=task.precision).run(task, progress)
    acc = ChunkAccumulator(task, progress)
    h = shared_graph(graph_threads, face=task.face_mode != "none")
    for ordinal, pts, rgb, ts in chunk_frames(task, acc.report):
        acc.add(ordinal, pts, h.process(rgb, ts))
    return acc.result()
