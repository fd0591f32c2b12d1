"""The command line keeps Unix habits, checked on the real parser and real runs (docs/cli.md):

* ``--json`` is a flag with one meaning: the command's result as one JSON document on stdout, nothing else there;
* every yes/no option switches both ways (``--x``/``--no-x``);
* a setting has one option name everywhere (its ``cli_flag``), and an option name one meaning;
* bash completes commands, options and choices (argcomplete), through ``signbridge completion bash``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signbridge.cli import build_parser, main
from signbridge.settings import SETTINGS_TABLE

# commands without --json, and why
NO_JSON = {"review": "serves a web page until Ctrl-C", "bench": "runs a benchmark script with its own options",
           "completion": "prints shell code"}
# option names that mean different things in different commands, and why that is one concept
SHARED_NAMES = {"--port": "the port of the server that command starts (S3 store, cluster API, review or live page)",
                "--threads": "torch CPU threads (recognition's setting, or training's own)",
                "--output": "where the command writes (probe keeps its old dest name)"}


def _commands(p: argparse.ArgumentParser, path=()):
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), p
    for a in subs:
        for name, sp in a.choices.items():
            yield from _commands(sp, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def _visible(p):
    return [a for a in p._actions if a.help != argparse.SUPPRESS and a.option_strings and a.dest != "help"]


def test_every_reporting_command_has_a_json_flag_with_one_meaning():
    missing, valued = [], []
    for cmd, p in COMMANDS.items():
        act = next((a for a in p._actions if "--json" in a.option_strings), None)
        if act is None:
            if cmd.split(" ")[0] not in NO_JSON:
                missing.append(cmd)
        elif act.nargs != 0 or act.default is not False:
            valued.append(cmd)  # a path-valued --json: that is --json-out now
    assert len(COMMANDS) > 30 and not missing and not valued, (missing, valued)


def test_every_yes_no_option_switches_both_ways():
    one_way = []
    for cmd, p in COMMANDS.items():
        on: set[str] = set()
        off: set[str] = set()
        yes_no: set[str] = set()
        for a in _visible(p):
            if isinstance(a, argparse.BooleanOptionalAction):
                on.add(a.dest), off.add(a.dest), yes_no.add(a.dest)
            elif isinstance(a, argparse._StoreConstAction) and a.const in (True, False):  # store_true/false too
                (on if a.const else off).add(a.dest)
                yes_no.add(a.dest)
            elif isinstance(a, argparse._StoreAction):  # --narration FILE is the "on" of --no-narration
                on.add(a.dest)
        one_way += [f"{cmd}: {d}" for d in yes_no if d not in on or d not in off]
    assert not one_way, one_way


def test_a_setting_has_one_option_name_and_a_name_one_meaning():
    flags = {s.name: s.cli_flag for s in SETTINGS_TABLE}
    wrong, meanings = [], {}
    for cmd, p in COMMANDS.items():
        for a in _visible(p):
            long = [s for s in a.option_strings if s.startswith("--")]
            if a.dest in flags and flags[a.dest] not in long:
                wrong.append(f"{cmd}: {'/'.join(long)} sets {a.dest}, whose option is {flags[a.dest]}")
            for s in long:
                meanings.setdefault("--" + s[2:].removeprefix("no-"), set()).add(a.dest)  # --no-x is --x
    assert not wrong, wrong
    several = {k: v for k, v in meanings.items() if len(v) > 1}
    assert set(several) <= set(SHARED_NAMES), {k: v for k, v in several.items() if k not in SHARED_NAMES}


def test_old_spellings_still_work_unseen():
    p = build_parser()
    assert p.parse_args(["speak", "t.json", "-o", "n.wav", "--video", "v.mp4", "--tts-voice", "x"]).tts_voice == "x"
    assert p.parse_args(["process", "-q", "v.mp4"]).progress is False
    assert p.parse_args(["process", "--no-progress", "v.mp4"]).progress is False
    assert p.parse_args(["storage", "get", "s3://b/k", "--threads", "3"]).jobs == 3
    assert p.parse_args(["extract", "v.mp4", "-o", "o", "--no-face"]).face == "none"
    for cmd in ("speak", "process", "storage get"):
        help_text = COMMANDS[cmd].format_help()
        assert "--tts-voice" not in help_text and "--quiet" not in help_text and "--threads" not in help_text


def _json_out(capsys, argv, rc=0):
    assert main(argv) == rc
    out = capsys.readouterr().out
    return json.loads(out)  # the whole of stdout is one document


def test_json_is_the_only_thing_on_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIGNBRIDGE_HOME", str(tmp_path / "home"))
    src = tmp_path / "a.txt"
    src.write_text("hello")
    store = tmp_path / "store"
    put = _json_out(capsys, ["storage", "put", "--json", str(src), str(store / "x" / "a.txt")])
    assert put["uri"].endswith("x/a.txt")
    listed = _json_out(capsys, ["storage", "ls", "--json", str(store)])
    assert [(o["key"], o["size"]) for o in listed] == [("x/a.txt", 5)]
    got = _json_out(capsys, ["storage", "get", "--json", str(store), str(tmp_path / "copy")])
    assert [Path(f["path"]).read_text() for f in got["files"]] == ["hello"] and got["files"][0]["copied"]
    assert _json_out(capsys, ["storage", "get", "--json", str(store), str(tmp_path / "copy")])["files"][0][
        "copied"] is False  # already there with the right checksum
    assert _json_out(capsys, ["info", "--json"])["home"] == str(tmp_path / "home")
    assert _json_out(capsys, ["storage", "status", "--json"], rc=3)["running"] is False
    assert _json_out(capsys, ["cluster", "status", "--json"], rc=3) == []
    said = _json_out(capsys, ["compose", "--json", "--text", "YESTERDAY IX-1p GO STORE", "--composer", "rules"])
    assert said["glosses"] == "YESTERDAY IX-1p GO STORE" and said["sentence"].endswith(".")
    assert main(["storage", "ls", str(store)]) == 0  # without --json: the plain listing
    assert capsys.readouterr().out.split() == ["5", (store / "x" / "a.txt").as_posix()]


def test_bash_completes_commands_options_and_choices(tmp_path):
    bash = shutil.which("bash")
    entry = Path(sys.executable).parent / "signbridge"
    # ./sb's set-up makes the virtualenv and its entry point: their absence is a broken set-up, not a skip
    assert bash and entry.is_file(), "needs bash and the signbridge entry point of this virtualenv"
    script = r'''
source <(signbridge completion bash)
complete -p signbridge
try() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$COMP_LINE"
  [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _python_argcomplete signbridge "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$1=>${COMPREPLY[*]}"
}
try "signbridge sto"
try "signbridge process --comp"
try "signbridge process --composer "
try "signbridge storage get --no-"
'''
    env = {**os.environ, "PATH": f"{entry.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run([bash, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = dict(line.split("=>", 1) for line in res.stdout.splitlines() if "=>" in line)
    assert "-F _python_argcomplete signbridge" in res.stdout
    assert got["signbridge sto"].split() == ["storage"]
    assert got["signbridge process --comp"].split() == ["--composer"]
    assert got["signbridge process --composer "].split() == ["rules", "local", "vllm"]
    assert {"--no-recursive", "--no-json"} <= set(got["signbridge storage get --no-"].split())
