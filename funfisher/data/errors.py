"""Errors raised by the data package.

Every message says *which file*, *where in it* (line, row or JSON record path) and *what was expected*,
so a user with a broken download can fix it without reading the reader's source.
"""
from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A data file exists but does not have the expected format.

    `path` is the file, `where` the location inside it ("line 12", "row 7",
    "record data[0].paragraphs[3].qas[1]", "item 4 (id=505)"), `message` what was expected/found.
    """

    def __init__(self, path: str | Path, where: str, message: str) -> None:
        self.path = Path(path)
        self.where = where
        self.message = message
        location = f"{self.path}: {where}" if where else str(self.path)
        super().__init__(f"{location}: {message}")


class DataNotFoundError(FileNotFoundError):
    """A dataset file is not in the data folder (or no data folder was given)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # FileNotFoundError would otherwise print "[Errno None] ..."
        return self.message


class FetchError(RuntimeError):
    """Downloading a dataset from the Hugging Face Hub failed (offline, missing repo or file)."""
