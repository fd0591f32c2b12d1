"""The run record beside the outputs: the manifest (validated against its contract) and the HTML report."""
from __future__ import annotations

import logging
from typing import Sequence

from signbridge.errors import StorageError
from signbridge.pipeline.context import Context
from signbridge.pipeline.fingerprint import output_params
from signbridge.pipeline.state import VideoState
from signbridge.records import RunManifest

log = logging.getLogger(__name__)


def write_run_record(states: Sequence[VideoState], ctx: Context, *, extra_settings: dict | None = None,
                     report: bool = True) -> dict[str, str]:
    """Write ``runs/<run id>/manifest.json`` and ``report.html``; returns their URIs."""
    manifest = RunManifest(videos=[st.to_result() for st in sorted(states, key=lambda x: x.index)],
                           run_id=ctx.run_id,
                           settings={"output": ctx.output_uri, "fingerprint": ctx.fp, **output_params(ctx.settings),
                                     **(extra_settings or {})})
    doc = manifest.to_dict()
    run = ctx.run_store()
    uris = {"manifest": ctx.put_json(run, "manifest.json", doc)}
    if report:
        from signbridge.pipeline.report import render_report

        try:
            html = render_report(doc, states, ctx)
            uris["report"] = run.put_bytes("report.html", html.encode("utf-8"), "text/html; charset=utf-8")
        except StorageError:
            raise
        except Exception as e:  # noqa: BLE001 - a report problem must not lose the manifest
            log.exception("the HTML report could not be written: %s", e)
    return uris
