"""Task callables of the ``signbridge_revise`` DAG (the DAG file only wires these).

A save on the review page queues its video under ``<output>/_review_queue/``; the
sensor DAG turns a non-empty queue into an update of the reviews asset, which starts
``signbridge_revise``. Each video is rendered from its newest revision by the same
:func:`~signbridge.review.revise.revise_folder` the page and ``signbridge revise`` call.
One video's bad revision is reported and skipped; only a store failure raises (the task retries).
"""
from __future__ import annotations

import logging
from typing import Any

from signbridge.errors import SignBridgeError, StorageError

log = logging.getLogger(__name__)


def _results(params: dict[str, Any]):
    from signbridge.review.results import Results
    from signbridge.settings import load_settings

    settings = load_settings()
    return Results(params.get("output") or settings.output, settings)


def pending(params: dict[str, Any]) -> list[str]:
    """The videos to render: ``params['folders']`` when given, else everything queued."""
    folders = [str(f) for f in params.get("folders") or []]
    return folders or _results(params).queued()


def any_queued(params: dict[str, Any]) -> dict[str, Any]:
    queued = _results(params).queued()
    return {"queued": len(queued), "folders": queued[:20]}


def revise_video(vid: str, params: dict[str, Any]) -> dict[str, Any]:
    """Render one video's newest revision; the queue entry is removed once that revision is rendered."""
    from signbridge.review import revisions as rv
    from signbridge.review.revise import revise_folder

    results = _results(params)
    try:
        folder = results.folder(vid)
        rid, doc = rv.latest(folder)
        if rid is None:
            raise SignBridgeError("no reviewed revision to render", source=folder.uri())
        out = revise_folder(folder.uri(), doc, results.settings, source=folder.uri(f"{rv.REVISIONS}/{rid}.json"))
    except StorageError:
        raise
    except SignBridgeError as e:
        log.error("%s: %s", vid, e)
        return {"folder": vid, "status": "failed", "error": str(e)}
    results.dequeue(vid, out["revision"])
    return {"folder": vid, "status": "ok", "revision": out["revision"], "kept_sentences": len(out["kept_sentences"]),
            "sentences": out["sentences"]}


def summary(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [o for o in outcomes if o]
    failed = [o for o in outcomes if o.get("status") != "ok"]
    for o in failed:
        log.error("not rendered: %s: %s", o["folder"], o.get("error"))
    return {"rendered": len(outcomes) - len(failed), "failed": len(failed), "videos": outcomes}
