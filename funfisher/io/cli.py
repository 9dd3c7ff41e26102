"""The commands' argument parser (train.py, eval.py's subcommands, export.py, train_language_adapter.py)."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..errors import UserError
from ..parallel import refuse_torchrun


class Parser(argparse.ArgumentParser):
    """A bad option is one `error:` line and exit code 2, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see python {self.prog} --help)\n")


def command_parser(script: str, doc: str) -> Parser:
    """`script`'s parser: its docstring's first paragraph as the description, the rest as the epilog."""
    description, _, epilog = doc.partition("\n\n")
    return Parser(prog=script, description=description, epilog=epilog or None,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def run_command(script: str, work: Callable[[], str]) -> int:
    """The body of a command that runs in one process (export.py, train_language_adapter.py):
    refused under torchrun; `work()`'s line printed and exit code 0, or a user error as one
    `error:` line and exit code 2 (anything else is a bug, with its traceback)."""
    if (code := refuse_torchrun(script)) is not None:
        return code
    try:
        line = work()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(line)
    return 0
