"""The extractor's speed-ups change nothing in the output: direct graph path, wire-format landmark
decoding, one-thread graphs in full pools, balanced chunk plan, deferred plotting import."""
from __future__ import annotations

import subprocess
from pathlib import Path
import sys
from fractions import Fraction

import numpy as np
import pytest


def _landmark_list(points: int, dims: int, seed: int = 0, presence: bool = False):
    from mediapipe.framework.formats import landmark_pb2

    rng = np.random.default_rng(seed)
    lms = landmark_pb2.NormalizedLandmarkList()
    for v in rng.normal(size=(points, dims)).astype(np.float32):
        lm = lms.landmark.add(x=float(v[0]), y=float(v[1]), z=float(v[2]))
        if dims == 4:
            lm.visibility = float(v[3])
        if presence:
            lm.presence = 0.5
    lms.landmark[0].x = 0.0  # an explicit zero is still on the wire (proto2)
    return lms


@pytest.mark.parametrize("points,dims,presence", [(468, 3, False), (33, 4, True), (21, 3, False)])
def test_wire_decoding_equals_proto_parsing(points, dims, presence):
    from signbridge.extract.holistic import _flat, decode_landmark_list

    lms = _landmark_list(points, dims, presence=presence)
    got = decode_landmark_list(lms.SerializeToString(), points, dims)
    assert got is not None and got.dtype == np.float32
    assert np.array_equal(got, _flat(lms, dims == 4))


def test_wire_decoding_declines_other_layouts():
    from signbridge.extract.holistic import decode_landmark_list

    lms = _landmark_list(21, 3)
    assert decode_landmark_list(lms.SerializeToString(), 33, 3) is None  # another count
    assert decode_landmark_list(lms.SerializeToString(), 21, 4) is None  # no visibility on the wire
    lms.landmark[5].ClearField("z")  # one record shorter than the rest
    assert decode_landmark_list(lms.SerializeToString(), 21, 3) is None
    assert decode_landmark_list(b"", 21, 3) is None


def _clip_frames(shared_data, n: int):
    """The first ``n`` frames of one WLASL clip, small, as (index, rgb)."""
    from signbridge.extract.decode import iter_frames

    frames = iter_frames(str(shared_data / "wlasl_clips" / "12328.mp4"), width=288, height=192)
    try:
        for i, (_pts, rgb) in enumerate(frames):
            if i == n:
                break
            yield i, rgb
    finally:
        frames.close()


@pytest.mark.data
def test_direct_graph_path_equals_solution_api(shared_data):
    """Same frames, same timestamps: the direct path returns bit-identical landmarks."""
    from signbridge.extract.holistic import PARTS, Holistic

    fast, slow = Holistic(), Holistic()
    assert fast._direct is not None  # the installed MediaPipe has what the direct path needs
    slow._direct = None
    seen = {p: 0 for p in PARTS}
    try:
        for i, rgb in _clip_frames(shared_data, 30):
            ts = 1_000_000 + i * 50_000  # real (non-30 fps) steps, as sampled video gives them
            a, b = fast.process(rgb, ts), slow.process(rgb, ts)
            for p in PARTS:
                assert (a[p] is None) == (b[p] is None), (i, p)
                if a[p] is not None:
                    seen[p] += 1
                    assert a[p].dtype == np.float32 and np.array_equal(a[p], b[p]), (i, p)
    finally:
        fast.close()
        slow.close()
    assert all(seen.values()), seen  # every part was compared on some frame


def _graph_threads_now() -> int:
    from pathlib import Path

    return sum((t / "comm").read_text().startswith("mediapipe") for t in Path("/proc/self/task").iterdir())


@pytest.mark.data
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads through /proc")
def test_one_thread_graph_gives_identical_landmarks(shared_data):
    """Pool workers on every core run their graph on one thread: same landmarks, one graph thread."""
    from signbridge.extract.holistic import PARTS, Holistic

    before = _graph_threads_now()
    one = Holistic(graph_threads=1)
    assert _graph_threads_now() - before == 1
    default = Holistic()
    try:
        for i, rgb in _clip_frames(shared_data, 20):
            a, b = one.process(rgb, 1_000_000 + i * 33_333), default.process(rgb, 1_000_000 + i * 33_333)
            for p in PARTS:
                assert (a[p] is None) == (b[p] is None) and (a[p] is None or np.array_equal(a[p], b[p])), (i, p)
    finally:
        one.close()
        default.close()


def test_pool_gives_graphs_one_thread_only_when_workers_fill_the_cores():
    from signbridge.extract.video import WorkerPool, usable_cores

    cores = usable_cores()
    with WorkerPool(cores) as full:  # workers start lazily: nothing is spawned here
        assert full.graph_threads == 1
    if cores > 1:
        with WorkerPool(cores - 1) as partial:
            assert partial.graph_threads == 0


def test_chunk_plan_gives_every_worker_the_same_work():
    """The chunk after a boundary also runs the warm-up second, so the first chunk owns that much more."""
    from signbridge.extract.timeline import Timeline, plan_chunks

    tl = Timeline(pts=np.arange(1821, dtype=np.int64) * 512, time_base=Fraction(1, 15360))  # 60.7 s at 30 fps
    chunks = plan_chunks(tl, 2, warmup_s=1.0)
    assert len(chunks) == 2 and chunks[0].first == 0 and chunks[-1].stop == 1821
    assert chunks[0].stop == chunks[1].first
    owned = [c.stop - c.first for c in chunks]
    warm = [0] + [round(1.0 * 30)] * (len(chunks) - 1)
    work = [o + w for o, w in zip(owned, warm)]
    assert abs(work[0] - work[1]) <= 1, work
    # a forced chunk length keeps plain, equal splits
    forced = plan_chunks(tl, 2, chunk_s=20.0, warmup_s=1.0)  # 4 chunks of 60.67 s / 4
    assert [c.stop - c.first for c in forced] == [455, 455, 455, 456]


def test_worker_import_skips_matplotlib_until_used():
    code = (
        "import sys\n"
        "from signbridge.extract.holistic import defer_plotting_imports\n"
        "assert defer_plotting_imports()\n"
        "import mediapipe\n"
        "assert type(sys.modules['matplotlib']).__name__ == '_DeferredModule'\n"
        "import matplotlib.colors\n"
        "assert matplotlib.colors.to_hex('red') == '#ff0000'\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "assert callable(drawing_utils.plt.figure)\n"
        "assert type(sys.modules['matplotlib']).__name__ == 'module'\n"
        "assert not defer_plotting_imports()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.data
def test_no_face_graph_runs_no_face_model_and_keeps_pose_and_hands(shared_data):
    """``--no-face`` leaves the face nodes out of the graph: no face landmarks are computed, and pose
    and hands are bit-identical to the full graph's (on both the direct and the solution path)."""
    import mediapipe as mp

    from signbridge.extract.holistic import FACE_NODES, PARTS, Holistic, holistic_graph_config

    path = str(Path(mp.__file__).parent / "modules" / "holistic_landmark" / "holistic_landmark_cpu.binarypb")
    calculators = [n.calculator for n in holistic_graph_config(path, face=False).node]
    assert not set(FACE_NODES) & set(calculators) and "HandLandmarksLeftAndRightCpu" in calculators
    full, noface, noface_api = Holistic(graph_threads=1), Holistic(graph_threads=1, face=False), Holistic(face=False)
    noface_api._direct = None
    seen = {p: 0 for p in PARTS}
    try:
        for i, rgb in _clip_frames(shared_data, 25):
            ts = 1_000_000 + i * 33_333
            a, b, c = full.process(rgb, ts), noface.process(rgb, ts), noface_api.process(rgb, ts)
            assert b["face"] is None and c["face"] is None
            for p in ("pose", "left_hand", "right_hand"):
                assert (a[p] is None) == (b[p] is None) == (c[p] is None), (i, p)
                if a[p] is not None:
                    assert np.array_equal(a[p], b[p]) and np.array_equal(a[p], c[p]), (i, p)
            for p in PARTS:
                seen[p] += a[p] is not None
    finally:
        for h in (full, noface, noface_api):
            h.close()
    assert all(seen.values()), seen  # the full graph found every part, so each was compared
