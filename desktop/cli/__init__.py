"""`duet`: the command line. Every expected failure is one plain line on stderr and exit 1;
a bad flag is one line and exit 2. No tracebacks.

`parser` holds the flags, one module per command group holds its commands (`generate`,
`compare`, `models`, `chats`, `remote`, `app`), `inputs` reads what the user hands them and
`output` writes what they show.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from desktop.cli import app, chats, compare, generate, models, remote
from desktop.cli.output import fail
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
    try:
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
