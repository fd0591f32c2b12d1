"""The step runner: one video's failure is recorded on it, never raised, so the batch goes on.

Only errors that hit every video of a step at once (the store is unreachable) propagate, so the
caller (an Airflow task) can retry.
"""
from __future__ import annotations

import errno
import importlib
import logging
import time
from typing import Any, Callable, Sequence

from signbridge.errors import InputError, NoSignerError, SignBridgeError, StorageError
from signbridge.pipeline.context import Context
from signbridge.pipeline.state import VideoState

log = logging.getLogger(__name__)


class ScratchFullError(SignBridgeError):
    """The scratch disk is full: a property of the machine, so the whole task fails and is retried."""

    permanent = False


def guard(st: VideoState, stage: str, fn: Callable[[], None], storage_errors: list | None = None) -> None:
    """Run one video's part of a step; its failure is recorded on it, never raised."""
    t0 = time.perf_counter()
    try:
        fn()
    except NoSignerError as e:
        st.status, st.error, st.failed_stage = "no_signer", str(e), stage
        st.permanent = True
        stats = getattr(e, "stats", None)
        if stats:
            st.detection.update(detection_summary({"detection": stats}))
    except InputError as e:
        st.fail(stage, e)
        st.permanent = True
    except StorageError as e:
        st.fail(stage, e)
        if storage_errors is not None:
            storage_errors.append(e)
    except SignBridgeError as e:
        st.fail(stage, e)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):  # the machine's disk, not the video: the task retries
            raise ScratchFullError(f"no space left for {stage}'s scratch files ({e})", source=st.input_uri,
                                   hint="free space under SIGNBRIDGE_HOME/tmp; the task is retried") from None
        log.exception("unexpected error in %s of %s", stage, st.input_uri)
        st.fail(stage, SignBridgeError(f"internal error in {stage}: {type(e).__name__}: {e}", source=st.input_uri,
                                       hint="please report this with the video"))
    except Exception as e:  # noqa: BLE001 - one video's surprise must not stop the batch
        log.exception("unexpected error in %s of %s", stage, st.input_uri)
        st.fail(stage, SignBridgeError(f"internal error in {stage}: {type(e).__name__}: {e}", source=st.input_uri,
                                       hint="please report this with the video"))
    finally:
        dt = time.perf_counter() - t0
        if dt > 0.0005:
            st.timings[stage] = round(st.timings.get(stage, 0.0) + dt, 3)


def raise_if_all_storage(attempted: int, errors: list) -> None:
    """Every video of the step hit a storage error: that is the store, not the videos; let the task retry."""
    if attempted and len(errors) == attempted:
        raise errors[0]


def stage_module(stage: str, module: str, states: Sequence[VideoState]):
    """Import a stage; if it is not part of this installation, stop the videos there and say so."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not (e.name and module.startswith(e.name)):
            raise
        for st in states:
            if st.active:
                st.fail(stage, SignBridgeError(f"the {stage} stage ({module}) is not available in this installation; "
                                               f"the stages before it finished", source=st.input_uri))
        return None


def pending(states: Sequence[VideoState], ctx: Context, output: str, filename: str) -> list[VideoState]:
    """Active videos still lacking ``output``; one already stored (an earlier, interrupted run) is reused."""
    todo = []
    for st in states:
        if st.active and output not in st.outputs:
            if ctx.folder(st).exists(filename):
                st.outputs[output] = ctx.folder(st).uri(filename)
            else:
                todo.append(st)
    return todo


def batched(stage: str, ready: list[VideoState], items: list, call) -> list[tuple[VideoState, Any]]:
    """``call(videos, items)`` once for the whole batch; if that fails, once per video, so one bad video
    fails alone instead of failing the batch. Returns (video, result) for the videos still active that got
    a result. A batch's time is shared equally; a retried video is timed by :func:`guard`."""
    t0 = time.perf_counter()
    share = 0.0
    try:
        results = call(ready, items)
        share = (time.perf_counter() - t0) / len(ready)
    except Exception as e:  # noqa: BLE001 - find the one bad video instead of failing the batch
        if isinstance(e, StorageError):
            raise
        log.warning("batched %s failed (%s); retrying video by video", stage, e)
        results = []
        for st, item in zip(ready, items):
            box: list = []
            guard(st, stage, lambda st=st, item=item: box.append(call([st], [item])[0]))
            results.append(box[0] if box else None)
    done = []
    for st, result in zip(ready, results):
        if result is not None and st.active:
            if share:
                st.timings[stage] = round(st.timings.get(stage, 0.0) + share, 3)
            done.append((st, result))
    return done




def detection_summary(meta: dict) -> dict:
    """The detection counts a manifest keeps, from landmarks metadata or a NoSignerError's stats."""
    det = dict(meta.get("detection") or {})
    return {k: det[k] for k in ("frames", "pose", "face", "left_hand", "right_hand") if k in det}
