# PYTHON_ARGCOMPLETE_OK
"""``signbridge`` command line.

Each stage module owns its sub-commands (``signbridge/<stage>/cli.py`` exposes
``register(subparsers)``), so this file only assembles them and turns
:class:`SignBridgeError` into one line and a non-zero exit. Heavy libraries are
imported inside the command handlers, never at parser-build time.

Conventions every command follows (docs/cli.md): ``--json`` prints the command's result as one
JSON document on stdout and sends every message to stderr; a yes/no option switches both ways
(``--x``/``--no-x``); a concept has one option name everywhere. Shell completion comes from
argcomplete (``signbridge completion bash|zsh|fish``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from typing import Any, Callable, Sequence

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
    "completion": "signbridge.completion",
}


def add_common(p: argparse.ArgumentParser) -> None:
    """Flags every command accepts; each maps onto a setting (see docs/configuration.md)."""
    g = p.add_argument_group("common")
    g.add_argument("--home", help="working directory (SIGNBRIDGE_HOME)")
    g.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING (SIGNBRIDGE_LOG_LEVEL)")
    g.add_argument("--s3-endpoint", dest="s3_endpoint", help="S3 endpoint URL (AWS_ENDPOINT_URL)")


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    """``--json``: the command's machine-readable result, one JSON document on stdout (messages: stderr)."""
    p.add_argument("--json", action=argparse.BooleanOptionalAction, default=False,
                   help=f"print {what} as one JSON document on stdout; messages go to stderr")


def say(args: argparse.Namespace) -> Callable[[str], None]:
    """Where a command's human lines go: stdout, or stderr under ``--json`` (stdout holds the document)."""
    if getattr(args, "json", False):
        return lambda m: print(m, file=sys.stderr)
    return print


def emit(args: argparse.Namespace, doc: Any) -> bool:
    """Print ``doc`` as JSON when ``--json`` was given; True if it was (the caller then prints nothing else)."""
    if not getattr(args, "json", False):
        return False
    print(json.dumps(doc, indent=2, default=str, ensure_ascii=False))
    return True


def hidden_alias(p, flag: str, dest: str, **kw) -> None:
    """An old spelling kept working but not shown in ``--help`` (docs/cli.md lists it as deprecated)."""
    p.add_argument(flag, dest=dest, help=argparse.SUPPRESS, **kw)


def add_setting_flags(g, rows, prefix_stage: bool = False) -> None:
    """One flag per settings-table row (its ``cli_flag``, dest = the setting's name, unset = the environment
    decides); a bool setting switches both ways (``--x/--no-x``)."""
    for s in rows:
        help_ = (f"{s.stage}: " if prefix_stage and s.stage else "") + f"{s.help} ({s.env})"
        if s.type is bool:
            g.add_argument(s.cli_flag, dest=s.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            g.add_argument(s.cli_flag, dest=s.name, type=s.type, choices=s.choices, help=help_)


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


def _complete(parser: argparse.ArgumentParser) -> None:
    """Under the shell's completion hook (``_ARGCOMPLETE`` set), print the completions and exit."""
    import os

    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def _configure_logging(level: str | None) -> None:
    logging.basicConfig(level=(level or "INFO").upper(), format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:
        _complete(parser)
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
