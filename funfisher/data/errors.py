"""Errors raised by the data package.

Every message says *which file*, *where in it* (line, row or JSON record path) and *what was expected*,
so a user with a broken download can fix it without reading the reader's source.

All of them are `funfisher.errors.UserError`s (the command-line tools print them as one `error: ...`
line) and also keep the built-in type a caller may already catch: a `DataFormatError` is a
`ValueError`, a `DataNotFoundError` a `FileNotFoundError`, an `UnknownDatasetError` a `ValueError`,
a `FetchError` a `RuntimeError`.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError


class DataFormatError(UserError, ValueError):
    """A data file exists but does not have the expected format.

    `path` is the file, `where` the location inside it ("line 12", "row 7",
    "record data[0].paragraphs[3].qas[1]", "item 4 (id=505)"; "" for the file as a whole),
    `message` what was expected/found.
    """

    def __init__(self, path: str | Path, where: str, message: str) -> None:
        self.path = Path(path)
        self.where = where
        self.message = message
        location = f"{self.path}: {where}" if where else str(self.path)
        super().__init__(f"{location}: {message}")


class DataNotFoundError(UserError, FileNotFoundError):
    """A dataset file is not in the data folder (or no data folder was given), or cannot be opened.

    `path` is the file or folder concerned, when there is one.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else Path(path)

    def __str__(self) -> str:  # FileNotFoundError would otherwise print "[Errno None] ..."
        return self.message


class UnknownDatasetError(UserError, ValueError):
    """A dataset name, split or language that the registry does not know (a typo, usually)."""


class FetchError(UserError, RuntimeError):
    """Downloading a dataset from the Hugging Face Hub failed (offline, missing repo or file)."""
