"""Per-run stage options, derived from the settings table (declared once in :mod:`signbridge.settings`).

The ``process``/``run`` flags and the DAG's params (:func:`signbridge.settings.param_schema`) come from the
same rows, so a new stage option is one ``Setting(..., option=True)`` line; its ``output`` field decides
whether it enters the settings hash.
"""
from __future__ import annotations

import argparse
from typing import Any

from signbridge.settings import STAGE_OPTIONS


def add_stage_options(p: argparse.ArgumentParser) -> None:
    from signbridge.cli import add_setting_flags

    add_setting_flags(p.add_argument_group("stage options (each overrides its SIGNBRIDGE_* variable)"),
                      STAGE_OPTIONS, prefix_stage=True)


def stage_options(args: argparse.Namespace) -> dict[str, Any]:
    """The stage options given on the command line (unset ones are left to the workers' environment)."""
    return {s.name: getattr(args, s.name) for s in STAGE_OPTIONS if getattr(args, s.name, None) is not None}
