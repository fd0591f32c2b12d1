"""One Holistic graph per worker, restarted between clips, gives every clip exactly the landmarks a new
graph gives (bit-identical), and the test would notice leaked tracking state."""
from __future__ import annotations

import numpy as np
import pytest

CLIPS = ("01377.mp4", "01558.mp4", "01586.mp4")  # 22, 34 and 43 frames, 288x192, one signer each


def _task(shared_data, name: str):
    from signbridge.extract.video import prepare
    from signbridge.settings import load_settings

    return prepare(shared_data / "wlasl_clips" / name, load_settings(env={}, fps=0.0), workers=1).tasks[0]


def _assert_same(a, b, name: str) -> None:
    assert np.array_equal(a.pts, b.pts), name
    for part in a.data:
        assert np.array_equal(a.present[part], b.present[part]), f"{name}: {part} detected in other frames"
        assert np.array_equal(a.data[part], b.data[part]), f"{name}: {part} landmarks differ"


@pytest.mark.data
def test_restarted_graph_gives_each_clip_what_a_new_graph_gives(shared_data):
    from signbridge.extract import holistic

    tasks = {n: _task(shared_data, n) for n in CLIPS}
    fresh = {}
    for n, t in tasks.items():
        holistic._graphs.clear()  # a new graph for this clip alone
        fresh[n] = holistic.run_chunk(t, graph_threads=1)
    holistic._graphs.clear()
    graph = holistic.shared_graph(1)
    for n in (*CLIPS, CLIPS[0]):  # the first clip again, after the others ran on the same graph
        r = holistic.run_chunk(tasks[n], graph_threads=1)
        assert holistic.shared_graph(1) is graph  # reused, not rebuilt
        _assert_same(r, fresh[n], n)
    assert any(r.present["right_hand"].any() for r in fresh.values())  # hands were tracked, not all empty


@pytest.mark.data
def test_without_the_restart_state_leaks_into_the_next_clip(shared_data):
    """Why the restart is needed: even a blank frame between clips (which empties the tracked pose,
    hands and face) leaves the pose visibility filter holding the previous clip's values."""
    from signbridge.extract.decode import iter_frames
    from signbridge.extract.holistic import Holistic

    def frames(name):
        return [rgb for _pts, rgb in iter_frames(str(shared_data / "wlasl_clips" / name), width=288, height=192)]

    a, b = frames(CLIPS[1])[:10], frames(CLIPS[0])[:10]
    with Holistic(1) as new:
        want = [new.process(f, 1_000_000 + 33_333 * i)["pose"] for i, f in enumerate(b)]
    with Holistic(1) as h:
        for i, f in enumerate(a):
            h.process(f, 1_000_000 + 33_333 * i)
        assert all(v is None for v in h.process(np.zeros_like(b[0]), 3_000_000).values())
        got = [h.process(f, 4_000_000 + 33_333 * i)["pose"] for i, f in enumerate(b)]
        assert want[0] is not None and got[0] is not None
        assert not np.array_equal(got[0], want[0])  # the leak this test suite would catch
        h.reset()
        again = [h.process(f, 1_000_000 + 33_333 * i)["pose"] for i, f in enumerate(b)]
    assert all(np.array_equal(x, y) for x, y in zip(again, want))


@pytest.mark.data
def test_a_graph_that_cannot_restart_is_replaced(shared_data):
    from signbridge.extract import holistic

    holistic._graphs.clear()
    broken = holistic.shared_graph(1)
    broken.close()  # as if a failed chunk had left it unusable
    graph = holistic.shared_graph(1)
    assert graph is not broken
    r = holistic.run_chunk(_task(shared_data, CLIPS[0]), graph_threads=1)
    assert r.present["pose"].any()


def test_a_forked_child_builds_its_own_graph_and_leaves_the_parents_alone():
    """A graph's threads do not survive fork: a child must neither use nor destroy the parent's graphs."""
    import os

    from signbridge.extract import holistic

    sentinel = object()
    holistic._graphs[(99, True)] = sentinel  # stands in for a live graph; no MediaPipe needed
    try:
        pid = os.fork()
        if pid == 0:  # child: the parent's graph is kept referenced but no longer offered
            os._exit(0 if (99, True) not in holistic._graphs and sentinel in holistic._inherited else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert holistic._graphs[(99, True)] is sentinel  # the parent still has it
    finally:
        holistic._graphs.pop((99, True), None)
