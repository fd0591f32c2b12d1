"""Found damage is redone, not trusted: a stored intermediate that no longer matches the size and sha256
recorded when it was written is recomputed before a later stage uses it, and the run says so.

A real clip goes through the steps into the real SeaweedFS store; between steps an intermediate is
replaced the way a fault would leave it (truncated, or the same size with other bytes). The next step
finds it, deletes it, has the step that made it redo it, and the outputs equal those of a clean pass.
"""
from __future__ import annotations

import dataclasses
import uuid

import pytest

CLIP = "wlasl_clips/01377.mp4"


@pytest.fixture
def ctx(s3_server, tmp_path, one_torch_thread):
    from signbridge.pipeline.context import Context

    settings = dataclasses.replace(s3_server, home=str(tmp_path / "home"), tts="espeak")
    with Context(settings, f"s3://ig-{uuid.uuid4().hex[:10]}/out", run_id="r1") as c:
        yield c


def _state(shared_data):
    from signbridge.pipeline.state import VideoState

    return VideoState(input_uri=str(shared_data / CLIP))


def test_truncated_landmarks_are_extracted_again_before_recognition(shared_data, ctx):
    from signbridge.pipeline.extract_step import extract_videos
    from signbridge.pipeline.layout import GLOSS_TRACK, LANDMARKS
    from signbridge.pipeline.state import VideoState
    from signbridge.pipeline.steps import compose_videos, recognize_videos

    st = _state(shared_data)
    extract_videos([st], ctx, workers=1)
    assert st.active, st.error
    folder = ctx.folder(st)
    clean = folder.get_bytes(LANDMARKS)
    assert st.sums[LANDMARKS]["size"] == len(clean)
    st = VideoState.from_dict(st.to_dict())  # the record travels with the state, as between two tasks
    folder.put_bytes(LANDMARKS, clean[: len(clean) // 2])  # the fault: half the object, between the stages

    recognize_videos([st], ctx)
    assert st.active, st.error
    assert folder.get_bytes(LANDMARKS) == clean  # recomputed, byte-identical
    assert st.repaired and LANDMARKS in st.repaired[0] and f"{len(clean) // 2} bytes stored" in st.repaired[0]
    assert "found damaged in the store and recomputed: landmarks.parquet" in st.to_result().note

    # the same size with other bytes: only the checksum sees it
    track = folder.get_bytes(GLOSS_TRACK)
    folder.put_bytes(GLOSS_TRACK, track.replace(b'"', b"'", 1) if b'"' in track else track[::-1])
    compose_videos([st], ctx)
    assert st.active, st.error
    assert folder.get_bytes(GLOSS_TRACK) == track
    assert any(r.startswith(GLOSS_TRACK) and "sha256 differs" in r for r in st.repaired)


def test_landmarks_gone_from_the_store_are_extracted_again(shared_data, ctx):
    """A try killed after deleting damaged landmarks and before storing the new ones leaves them gone: the
    retry recomputes them instead of failing the video on NoSuchKey (found by the fault soak)."""
    from signbridge.pipeline.extract_step import extract_videos
    from signbridge.pipeline.layout import LANDMARKS
    from signbridge.pipeline.state import VideoState
    from signbridge.pipeline.steps import recognize_videos

    st = _state(shared_data)
    extract_videos([st], ctx, workers=1)
    folder = ctx.folder(st)
    clean = folder.get_bytes(LANDMARKS)
    st = VideoState.from_dict(st.to_dict())
    folder.delete(LANDMARKS)
    recognize_videos([st], ctx)
    assert st.active, st.error
    assert folder.get_bytes(LANDMARKS) == clean
    assert any(r.startswith(LANDMARKS) and "gone from the store" in r for r in st.repaired), st.repaired


def test_undamaged_intermediates_are_used_as_they_are(shared_data, ctx):
    from signbridge.pipeline.extract_step import extract_videos
    from signbridge.pipeline.layout import LANDMARKS
    from signbridge.pipeline.steps import recognize_videos

    st = _state(shared_data)
    extract_videos([st], ctx, workers=1)
    etag = {o.key: o.etag for o in ctx.folder(st).list()}[LANDMARKS]
    recognize_videos([st], ctx)
    assert st.active and not st.repaired and st.to_result().note is None
    assert {o.key: o.etag for o in ctx.folder(st).list()}[LANDMARKS] == etag  # not rewritten


def test_a_full_scratch_disk_fails_the_task_not_the_video():
    """ENOSPC is the machine's, not the video's: the step raises (its task is retried) and the video stays active."""
    import errno

    from signbridge.pipeline.guard import ScratchFullError, guard
    from signbridge.pipeline.state import VideoState

    st = VideoState(input_uri="s3://b/v.mp4")

    def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ScratchFullError) as e:
        guard(st, "mux", full)
    assert st.active and st.error is None and "no space left for mux's scratch files" in str(e.value)
    assert e.value.permanent is False
