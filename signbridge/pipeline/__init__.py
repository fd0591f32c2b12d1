"""The run machinery: the per-video steps over URIs, shared by ``signbridge run`` and the Airflow tasks.

Each step takes a list of :class:`VideoState` (small JSON that can travel between tasks), reads its
inputs from object storage, calls the stage, writes the stage's output under
``<output>/<sha256[:16]>-<settings hash>/`` and returns. A step whose output already exists does no
work, so a rerun, a retried task or a rerun after a killed worker redoes only what is missing and
never writes duplicates. Outputs are written only after a stage succeeded (each object is one atomic
put), so a failed video leaves no partial files; its state carries the reason and the stage.

Modules: ``state`` (the per-video record), ``layout`` (result names), ``fingerprint`` (settings hash),
``context`` (store + scratch), ``discover`` and ``results_index`` (what to do), ``planning`` (tasks),
``guard`` (the step runner), ``extract_step``/``chunks``/``steps`` (the stage adapters), ``render``
(captions -> narration -> mux), ``record``/``report`` (manifest and HTML), ``run_video`` (no Airflow).
"""
from signbridge.pipeline.chunks import assemble_chunks, extract_chunk
from signbridge.pipeline.context import Context
from signbridge.pipeline.discover import list_inputs, measure_durations
from signbridge.pipeline.extract_step import extract_videos
from signbridge.pipeline.fingerprint import fingerprint, output_params
from signbridge.pipeline.layout import RESULT_FILES, RUNS, folder_for, ordered_outputs
from signbridge.pipeline.planning import group_batches, plan_units
from signbridge.pipeline.record import write_run_record
from signbridge.pipeline.results_index import lookup_done
from signbridge.pipeline.run_video import run_video
from signbridge.pipeline.state import VideoState, new_run_id, safe_run_id
from signbridge.pipeline.steps import compose_videos, finish_videos, mux_videos, recognize_videos, speak_videos

__all__ = ["Context", "RESULT_FILES", "RUNS", "VideoState", "assemble_chunks", "compose_videos", "extract_chunk",
           "extract_videos", "fingerprint", "finish_videos", "folder_for", "group_batches", "list_inputs",
           "lookup_done", "measure_durations", "mux_videos", "new_run_id", "ordered_outputs", "output_params",
           "plan_units", "recognize_videos", "run_video", "safe_run_id", "speak_videos", "write_run_record"]
