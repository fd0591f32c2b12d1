"""One video end to end without Airflow (``signbridge run``), through the steps the DAG tasks call."""
from __future__ import annotations

from typing import Callable

from signbridge.errors import InputError
from signbridge.pipeline.context import Context
from signbridge.pipeline.discover import list_inputs, measure_durations
from signbridge.pipeline.extract_step import extract_videos
from signbridge.pipeline.record import write_run_record
from signbridge.pipeline.results_index import lookup_done
from signbridge.pipeline.state import VideoState
from signbridge.pipeline.steps import compose_videos, finish_videos, mux_videos, recognize_videos, speak_videos
from signbridge.settings import Settings


def run_video(video: str, settings: Settings, output: str | None = None, *, workers: int | None = None,
              run_id: str | None = None, on_stage: Callable[[str], None] | None = None
              ) -> tuple[VideoState, dict[str, str]]:
    """Process ``video`` into ``output``; returns its final state and the run record's URIs."""
    states, bad = list_inputs([video], settings)
    if bad:
        raise InputError(bad[0].error or "no video", source=video)
    if len(states) > 1:  # a folder or prefix: one video of it, picked silently, would surprise
        raise InputError(f"holds {len(states)} videos; `signbridge run` processes one video", source=video,
                         hint="name one file, or run `signbridge process " + video + " -o OUT` for all of them")
    st = states[0]
    with Context(settings, output, run_id=run_id) as ctx:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("check", lambda: (lookup_done([st], ctx), st.active and measure_durations([st], ctx))),
            ("extract", lambda: extract_videos([st], ctx, workers=workers)),
            ("recognize", lambda: recognize_videos([st], ctx)),
            ("compose", lambda: compose_videos([st], ctx)),
            ("speak", lambda: speak_videos([st], ctx)),
            ("mux", lambda: mux_videos([st], ctx)),
            ("publish", lambda: finish_videos([st], ctx)),
        ]
        for name, step in steps:
            if not st.active:
                break
            if on_stage:
                on_stage(name)
            step()
        uris = write_run_record([st], ctx, extra_settings={"runner": "signbridge run"})
    return st, uris
