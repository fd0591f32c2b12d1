"""``signbridge completion bash|zsh|fish``: the shell code that completes signbridge's commands and options.

Completion itself is argcomplete's: the shell calls ``signbridge`` with ``_ARGCOMPLETE`` set and
:func:`signbridge.cli.main` answers from the same parser ``--help`` shows, so a new option completes
without anything to update. Put ``eval "$(signbridge completion bash)"`` in ``~/.bashrc``.
"""
from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("completion", help="print shell code that completes signbridge commands and options",
                       description="Print the code that makes SHELL complete signbridge's commands, options and "
                                   "choices. bash: eval \"$(signbridge completion bash)\" in ~/.bashrc; zsh: the "
                                   "same in ~/.zshrc (after compinit); fish: signbridge completion fish | source.")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=_completion)


def _completion(args) -> int:
    import argcomplete

    print(argcomplete.shellcode(["signbridge"], shell=args.shell))
    return 0
