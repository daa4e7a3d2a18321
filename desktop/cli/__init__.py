"""`duet`: the command line. Every expected failure is one plain line on stderr and exit 1;
a bad flag is one line and exit 2. No tracebacks.

`parser` holds the flags, one module per command group holds its commands (`generate`,
`compare`, `models`, `chats`, `remote`, `app`), `inputs` reads what the user hands them and
`output` writes what they show.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from desktop.cli import app, chats, compare, generate, models, remote
from desktop.cli.inputs import check_utf8
from desktop.cli.output import TerminalSafe, fail
from desktop.cli.parser import build_parser
from desktop.core.errors import DuetError

Command = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "generate": generate.cmd_generate,
    "compare": compare.cmd_compare,
    "render": generate.cmd_render,
    "models": models.cmd_models,
    "remote": remote.cmd_remote,
    "chats": chats.cmd_chats,
    "export": chats.cmd_export,
    "pull": models.cmd_pull,
    "search": models.cmd_search,
    "rm": models.cmd_rm,
    "self-test": app.cmd_self_test,
}

__all__ = ["COMMANDS", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    streams = sys.stdout, sys.stderr
    # Started with stdout or stderr closed (`duet ... >&-`): what would go there goes nowhere.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed with the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    # What a model, a template, a server or a saved title says reaches a terminal as text,
    # never as the escape sequences a terminal acts on.
    if sys.stdout.isatty():
        sys.stdout = TerminalSafe(sys.stdout)
    if sys.stderr.isatty():
        sys.stderr = TerminalSafe(sys.stderr)
    try:
        _check_text(args)
        if args.command is None:
            return app.cmd_window()
        return COMMANDS[args.command](args)
    except DuetError as exc:
        fail(str(exc))
        return 1
    except KeyboardInterrupt:
        print("\nduet: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `duet generate ... | head`
        return 0
    except OSError as exc:  # a folder Duet needs that is a file, unwritable, or on a full disk
        if exc.filename is None:  # the output itself (a full disk under `duet ... > file`)
            fail(f"Cannot write the output: {exc.strerror or exc}.")
        else:
            fail(
                f"Cannot use {exc.filename}: {exc.strerror or exc}. Check that folder, or point "
                "DUET_HOME at one Duet can write to."
            )
        return 1
    finally:
        sys.stdout, sys.stderr = streams


# Arguments given as one word, not as a flag.
_POSITIONAL = {"text", "query", "spec", "name", "url"}


def _check_text(args: argparse.Namespace) -> None:
    """Every text argument is UTF-8: bytes that are not reach Python as lone surrogates, which
    no model, database or file takes."""
    for key, value in vars(args).items():
        if isinstance(value, str):
            check_utf8(value, key.upper() if key in _POSITIONAL else f"--{key.replace('_', '-')}")
