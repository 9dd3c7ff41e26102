"""The one line between "you can fix this" and "this is a bug".

Every error a user can cause and fix (a bad config value, a missing or broken file, an occupied
run folder, a run that diverged with the chosen settings) is a `UserError`. Its message names
the file (and the line or key) and says what was expected. `train.py` and `eval.py` print it as
one `error: ...` line and exit with code 2; any other exception is a bug and keeps its traceback.

Each package raises its own subclasses, which also keep the built-in type callers may expect
(a `DataNotFoundError` is a `FileNotFoundError`, a `ConfigError` a `ValueError`):

    runconfig.ConfigError             a config file, key or value
    data.errors.DataFormatError       a dataset file that does not parse (file, line/record)
    data.errors.DataNotFoundError     a dataset file or data folder that is not there
    data.errors.UnknownDatasetError   a dataset name, split or language the registry does not know
    data.errors.FetchError            a dataset download from the hub that failed
    data.metrics.ScoringError         predictions and gold answers that cannot be scored together
    io.runs.RunExistsError            a run folder that exists (use --resume / --overwrite)
    io.runs.RunLockedError            a run folder another process is using
    io.runs.RunFileError              a damaged file in a run folder (a log, results.json)
    train.checkpoint.CheckpointError  a checkpoint that is damaged or from another configuration
    train.recipe.DivergedError        a non-finite loss, gradient norm or tr(F) (the run stops there)
    ModelFileError (below)            a model, tokenizer, weights or adapter file that cannot be used
                                      (model.config.ArchitectureError, model.convert.CheckpointMismatchError,
                                      io.adapterhub_config.AdapterFormatError, ...)
    ModelNotFoundError (below)        a model or adapter that is not there (folder, file, offline
                                      name, hub repository)
    evaluate_saved.UsageError         eval.py options that do not fit together
"""
from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; the message says where (file, line, key) and what was expected."""


class ModelFileError(UserError, ValueError):
    """A pretrained model, tokenizer, weights or adapter folder that is missing or cannot be read."""


class ModelNotFoundError(UserError, FileNotFoundError):
    """A model, tokenizer, weights file or adapter that is not there: no such folder or file, not an
    offline packaged model, or a Hugging Face hub repository that does not exist or cannot be reached."""
