"""``signbridge`` command line.

Each stage module owns its sub-commands (``signbridge/<stage>/cli.py`` exposes
``register(subparsers)``), so this file only assembles them and turns
:class:`SignBridgeError` into one line and a non-zero exit. Heavy libraries are
imported inside the command handlers, never at parser-build time.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable, Sequence

from signbridge import __version__
from signbridge.errors import RunCancelled, SignBridgeError

# command name -> module providing register(subparsers); order is the --help order
COMMANDS: dict[str, str] = {
    "process": "signbridge.orchestrate.cli",
    "run": "signbridge.pipeline.cli",
    "extract": "signbridge.extract.cli",
    "dataset": "signbridge.extract.cli",
    "recognize": "signbridge.recognize.cli",
    "train": "signbridge.recognize.cli",
    "eval": "signbridge.recognize.cli",
    "vocab": "signbridge.recognize.cli",
    "compose": "signbridge.compose.cli",
    "eval-compose": "signbridge.compose.cli",
    "speak": "signbridge.speech.cli",
    "mux": "signbridge.mux.cli",
    "review": "signbridge.review.cli",
    "revise": "signbridge.review.cli",
    "live": "signbridge.live.cli",
    "storage": "signbridge.storage.cli",
    "cluster": "signbridge.cluster.cli",
    "probe": "signbridge.probe.cli",
    "bench": "signbridge.bench",
    "info": "signbridge.orchestrate.info",
    "results": "signbridge.orchestrate.results",
}


def add_common(p: argparse.ArgumentParser) -> None:
    """Flags every command accepts; each maps onto a setting (see docs/configuration.md)."""
    g = p.add_argument_group("common")
    g.add_argument("--home", help="working directory (SIGNBRIDGE_HOME)")
    g.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING (SIGNBRIDGE_LOG_LEVEL)")
    g.add_argument("--s3-endpoint", dest="s3_endpoint", help="S3 endpoint URL (AWS_ENDPOINT_URL)")


def settings_from_args(args: argparse.Namespace, **extra):
    """Settings from env, overridden by any flag whose dest names a setting."""
    from signbridge.settings import SETTINGS_TABLE, load_settings

    names = {s.name for s in SETTINGS_TABLE}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return load_settings(**overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signbridge",
        description="Sign-language videos to captioned, voiced videos and landmark datasets.",
    )
    parser.add_argument("--version", action="version", version=f"signbridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    done: set[str] = set()
    for name, module in COMMANDS.items():
        if module in done:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue  # stage not built yet: it is simply absent from --help, never faked
            raise
        mod.register(sub)
        done.add(module)
    return parser


def _configure_logging(level: str | None) -> None:
    logging.basicConfig(level=(level or "INFO").upper(), format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(getattr(args, "log_level", None))
    func: Callable[[argparse.Namespace], int | None] = args.func
    try:
        rc = func(args)
    except RunCancelled as e:
        print(f"signbridge {args.command}: {e}", file=sys.stderr)
        return 130
    except SignBridgeError as e:
        print(f"signbridge {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("signbridge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return int(rc or 0)


def _quiet_broken_pipe() -> int:
    """The reader went away (``signbridge storage ls | head``): stop quietly, as ``ls`` does.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
