"""The commands' argument parser (train.py, eval.py's subcommands, export.py, train_language_adapter.py)."""
from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """A bad option is one `error:` line and exit code 2, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see python {self.prog} --help)\n")


def command_parser(script: str, doc: str) -> Parser:
    """`script`'s parser: its docstring's first paragraph as the description, the rest as the epilog."""
    description, _, epilog = doc.partition("\n\n")
    return Parser(prog=script, description=description, epilog=epilog or None,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
