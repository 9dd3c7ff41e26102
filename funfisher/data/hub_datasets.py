"""The benchmarks as the Hugging Face hub holds them today: Parquet files in the canonical dataset repos.

`registry.load_dataset(name, split, lang, source="hub")` reads a split from the dataset's canonical
hub repo (below) instead of a data folder, and returns exactly the examples the local readers give
(`PairExample`, `ChoiceExample`, `QAExample`; same ids where the local ids can be rebuilt, same label
integers). `source="owner/name"` reads another dataset repo laid out like the canonical one (its
`main` branch; the canonical repo id itself is read exactly as "hub"). A config selects it with
`task.train.source`, `task.validation.source`, `task.evaluate.source`.

Why: `registry.fetch` needs a mirror of the original files that nobody publishes; the canonical
repos were converted to Parquet by Hugging Face (most in "Convert dataset to Parquet" commits, a few
only on the auto-generated `refs/convert/parquet` branch). So model, language adapters and data of a
paper config can all come from the hub.

How: the files of one split are fetched with `huggingface_hub.snapshot_download(repo_type="dataset",
allow_patterns=[one glob])`, so they land in (and are served from) the standard HF cache; with
HF_HUB_OFFLINE=1 nothing is looked up online (`local_files_only`), and cached files still work.
They are read with pyarrow, an optional extra (`pip install pyarrow`, or `.[hub-data]`). Labels are
mapped by NAME: the ClassLabel names stored in each file's schema metadata (key b"huggingface",
written by the `datasets` library) are translated into funfisher's order (`examples.NLI_LABELS`);
a file without them uses the dataset card's documented order and says so in the notes.

Layouts and schemas relied on. "checked" says where (searched copies of the hub pages, dataset
cards and the conversion scripts; the hub itself was not reachable when this was written). Globs
allow any shard count (`-00000-of-00001` today). Things not seen directly are marked UNVERIFIED.

xnli   facebook/xnli, main.  dev -> `<lang>/validation-*.parquet`, test -> `<lang>/test-*.parquet`
       premise: string, hypothesis: string, label: ClassLabel [entailment, neutral, contradiction].
       Ids are row indices, as for the XTREME files: the converting script (xnli.py, per-language
       configs) read XNLI-1.0/xnli.{dev,test}.tsv in file order (csv QUOTE_NONE, filtered by
       language), the order XTREME's per-language files keep; the test split carries its labels.
       Checked: tree of main at b8dd5d7 "Convert dataset to Parquet (#10)" (ar/, tr/, vi/, zh/: each
       test/train/validation-00000-of-00001.parquet); dataset card dataset_info; xnli.py.
mnli   nyu-mll/multi_nli, main.  train -> `data/train-*.parquet`, dev_matched ->
       `data/validation_matched-*.parquet`, dev_mismatched -> `data/validation_mismatched-*.parquet`
       promptID: int32, pairID: string, premise, hypothesis (+ parses, genre): string,
       label: ClassLabel [entailment, neutral, contradiction]. Ids are pairIDs. The converting script
       dropped gold_label "-" (9815 / 9832 validation rows); a label -1 would be skipped, as "-" is
       locally. Checked: commit da70db2 "Convert dataset to Parquet (#5)" (adds exactly those three
       files); multi_nli.py (jsonl: sentence1/2 -> premise/hypothesis, "-" skipped).
squad  rajpurkar/squad, main.  train -> `plain_text/train-*.parquet`, dev -> `plain_text/validation-*.parquet`
       id, title, context, question: string, answers: {text: list<string>, answer_start: list<int32>}.
       Checked: dataset card (configs: plain_text/train-*, plain_text/validation-*; features).
       The hub has the official dev-v1.1 answers (not the reconstructed offsets of shared/data).
xquad  google/xquad, main.  test -> `xquad.<lang>/validation-*.parquet` (XQuAD has one split)
       id, context, question: string, answers: {text, answer_start} as SQuAD; NO title column, so
       hub examples have title "" (the local JSON has article titles; nothing uses them).
       Checked: dataset card (config names xquad.<lang>, features, split validation 1190 rows); tree
       of a main commit ("Add xquad.de data files": folders xquad.<lang>/). File names inside the
       folders: UNVERIFIED (the glob takes any `validation-*.parquet`).
mlqa   google/xtreme, main.  dev -> `MLQA.<lang>.<lang>/validation-*.parquet`, test -> `.../test-*.parquet`
       id, title, context, question: string, answers: {answer_start, text} as SQuAD.
       Why not facebook/mlqa: its main branch holds only the loading script mlqa.py and the card
       (tree at 397ed40), and it has no dataset viewer, hence no refs/convert/parquet branch.
       google/xtreme (the XTREME benchmark) holds MLQA.<context>.<question> configs as Parquet.
       Checked: commits "Add MLQA.de.de data files" (MLQA.de.de/{test,validation}-00000-of-00001.parquet,
       512 validation rows) and PR #9 "Convert dataset to Parquet"; xtreme.py (id, title, context,
       question, answers).
xcopa  cambridgeltl/xcopa, main.  val -> `<lang>/validation-*.parquet`, test -> `<lang>/test-*.parquet`
       premise, choice1, choice2, question: string, label: int32 (0/1), idx: int32, changed: bool.
       Ids are str(idx). As locally, the cause/effect question is taken from English COPA by idx
       (below; the upstream field is wrong in th, tr, sw, id, it), from the canonical COPA repo
       also when XCOPA comes from another repo id. Checked: dataset card
       dataset_info (features, validation 100 / test 500); tree of main ("Convert dataset to
       Parquet", folders et/ ht/ ... zh/ and translation-*/). File names inside: UNVERIFIED.
copa   aps/super_glue (the SuperGLUE repo, formerly "super_glue"), branch refs/convert/parquet.
       train -> `copa/train/*.parquet`, val -> `copa/validation/*.parquet`.
       premise, choice1, choice2, question: string, idx: int32, label: ClassLabel [choice1, choice2];
       test rows have label -1. Main holds only the loading script (super_glue.py); the Parquet
       files are the auto-converted ones (commit 5ac8656 renames copa/super_glue-{split}.parquet to
       copa/{split}/0000.parquet). Checked: those commits; super_glue.py (copa features, label
       "choice2" if label else "choice1", -1 for test). funfisher's copa "test" is the official
       labelled copa-test.xml, which the hub does not have: source "hub" refuses that split.
       XCOPA's English question types: val idx i = SuperGLUE validation idx i (as locally); test
       idx i = SuperGLUE test idx i, assumed to be COPA item 501+i (the local rule, which uses the
       XML). Seen for idx 0 only (GluonNLP's SuperGlueCOPA docstring: test[0] is "The item was
       packaged in bubble wrap.", COPA item 501); the rest UNVERIFIED.

Whitespace: some versions of the converting scripts strip context, question and answer texts
(xquad.py, xtreme.py, old squad.py: `.strip()`). The published strings may therefore differ from
the original JSON by surrounding whitespace in a few items; UNVERIFIED which version produced the
published Parquet files. SQuAD training with `exclude_xquad` reads XQuAD from the hub too; its note
reports any XQuAD paragraph it did not find.

Errors: no pyarrow -> `PyArrowMissingError` naming `pip install pyarrow`; a repo, revision or file
the hub (or, offline, the cache) does not have -> `FetchError` / `DataNotFoundError` naming the repo,
the revision and the file pattern; a file whose columns or values are not the schema above ->
`DataFormatError` naming the file, the row and the column.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from .errors import DataFormatError, DataNotFoundError, FetchError, UnknownDatasetError
from .examples import COPA_QUESTIONS, NLI_LABEL_IDS, ChoiceExample, ExampleList, PairExample, QAExample
from .readers import with_english_questions

LOCAL, HUB = "local", "hub"
#: A Hugging Face dataset repo id as a data source: owner/name (the owner is required).
HUB_DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
SOURCE_RULE = '"local", "hub" or a Hugging Face dataset repo id (owner/name)'


class PyArrowMissingError(UserError, ImportError):
    """Reading hub data (source "hub" or a repo id) without the optional pyarrow package."""


def is_source(value: Any) -> bool:
    """Whether `value` names a data source: "local", "hub" or an owner/name dataset repo id."""
    return isinstance(value, str) and (value in (LOCAL, HUB) or HUB_DATASET_ID.fullmatch(value) is not None)


def check_source(source: Any) -> str:
    if not is_source(source):
        raise UnknownDatasetError(f"data source {source!r}: must be {SOURCE_RULE}")
    return source


def companion_source(source: str) -> str:
    """Where a split's helper data comes from (XQuAD-en for `exclude_xquad`, English COPA for XCOPA's
    question types): local data with local data, else the canonical hub repo, since an owner/name
    repo is a copy of the split's own dataset, not of the helper's."""
    return LOCAL if source == LOCAL else HUB


# --------------------------------------------------------------------------------------------------
# the layouts (module docstring: what was checked where)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubLayout:
    """Where one dataset's Parquet files are in its canonical repo and how their rows become examples.

    `splits` maps funfisher's split names to the hub's; `pattern(hub_split, lang)` is the glob of one
    split's files, relative to the repo root; `read(pyarrow.parquet, files, ctx)` turns them into
    examples. `labels` is the ClassLabel order the dataset card documents (used when a file lacks
    the names); `refused` names the funfisher splits the hub cannot serve, and why.
    """

    repo_id: str
    revision: str
    splits: dict[str, str]
    pattern: Callable[[str, str], str]
    read: Callable[[Any, list[Path], _Context], ExampleList]
    labels: tuple[str, ...] = ()
    refused: dict[str, str] | None = None  # funfisher split -> why the hub cannot serve it


@dataclass(frozen=True)
class _Context:
    """What a reader needs to know besides the files (for ids, label names and messages)."""

    name: str
    split: str
    lang: str
    source: str
    layout: HubLayout


def load_from_hub(name: str, split: str, lang: str, source: str) -> ExampleList:
    """Examples of one split (one language) of a registered dataset from a hub dataset repo.

    `source` is "hub" (the canonical repo) or an owner/name repo in the same layout. The registry
    has checked name, split and language; this checks what only the hub layout knows.
    """
    layout = LAYOUTS[name]
    if layout.refused and split in layout.refused:
        raise DataNotFoundError(f"{name} {split}: not available from the Hugging Face hub: {layout.refused[split]}")
    pq = _parquet()  # before downloading anything
    ctx = _Context(name, split, lang, source, layout)
    files, where = _split_files(ctx, layout.splits[split])
    examples = layout.read(pq, files, ctx)
    examples.notes.insert(0, f"{name}/{split}/{lang} read from the Hugging Face hub: {where}")
    return examples


def _parquet():
    """pyarrow.parquet, or the error that says how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise PyArrowMissingError(f"reading datasets from the Hugging Face hub (data source \"hub\" or a repo id) "
                                  f"needs the pyarrow package: pip install pyarrow (or pip install -e .[hub-data]); "
                                  f"{err}") from None
    return pq


def _repo(ctx: _Context) -> tuple[str, str]:
    """(repo id, revision) for a source: the canonical repo and branch, or another repo's main."""
    if ctx.source in (HUB, ctx.layout.repo_id):
        return ctx.layout.repo_id, ctx.layout.revision
    return ctx.source, "main"


def _split_files(ctx: _Context, hub_split: str) -> tuple[list[Path], str]:
    """The cached local paths of one split's Parquet files (fetched if needed), in shard order, and
    a description "repo@commit (files)" for the notes."""
    layout = ctx.layout
    repo_id, revision = _repo(ctx)
    pattern = layout.pattern(hub_split, ctx.lang)
    folder = _snapshot(ctx.name, repo_id, revision, pattern)
    files = sorted(path for path in folder.glob(pattern) if path.is_file())
    if not files:
        raise DataNotFoundError(
            f"{ctx.name} {ctx.split} ({ctx.lang}): Hugging Face dataset repo {repo_id} (revision {revision}) has no "
            f"file matching {pattern}{_offline_hint()}; looked in {folder}. The layout expected is that of "
            f"{layout.repo_id} (see funfisher/data/hub_datasets.py)", path=folder)
    shown = ", ".join(str(path.relative_to(folder)) for path in files)
    return files, f"{repo_id}@{folder.name} ({shown})"


def _offline_hint() -> str:
    return " in the local HF cache (HF_HUB_OFFLINE is set: nothing was downloaded)" if _offline() else ""


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _snapshot(name: str, repo_id: str, revision: str, pattern: str) -> Path:
    """`snapshot_download` the files matching `pattern` into the HF cache; the snapshot folder.

    Offline (HF_HUB_OFFLINE=1) only the cache is used: `local_files_only`, so nothing, not even a
    token, is looked up. Every hub failure is one error naming the repo, revision and pattern.
    """
    import huggingface_hub as hf
    from huggingface_hub import constants
    from huggingface_hub.errors import (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    wanted = f"{name}: {pattern} from Hugging Face dataset repo {repo_id} (revision {revision})"
    try:
        folder = hf.snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=[pattern],
                                      local_files_only=_offline())
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise FetchError(f"cannot get {wanted}: the hub has no such dataset repo or revision, or it is private "
                         f"({type(err).__name__})") from err
    except HFValidationError as err:
        raise FetchError(f"cannot get {wanted}: not a valid hub repo id or revision ({str(err)[:150]})") from err
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        why = ("HF_HUB_OFFLINE is set, and it is not in the local HF cache" if _offline() else
               "the hub could not be reached, and it is not in the local HF cache")
        raise FetchError(
            f"cannot get {wanted}: {why} ({constants.HF_HUB_CACHE}). Download it once with internet access, "
            f"or use source = \"local\" with a data folder. ({type(err).__name__})") from err
    return Path(folder)


# --------------------------------------------------------------------------------------------------
# reading rows
# --------------------------------------------------------------------------------------------------
def _table(pq, path: Path, columns: list[str], optional: tuple[str, ...] = ()):
    """The file's rows (dicts) with `columns` (checked to exist) and those of `optional` it has,
    and its schema (whose metadata holds the label names)."""
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        missing = [column for column in columns if column not in schema.names]
        if missing:
            raise DataFormatError(path, "", f"missing column(s) {missing} (columns: {schema.names})")
        present = columns + [column for column in optional if column in schema.names]
        return parquet.read(columns=present).to_pylist(), schema
    except DataFormatError:
        raise
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise DataFormatError(path, "", f"not a readable Parquet file ({err})") from None


def _text(row: dict, column: str, path: Path, where: str) -> str:
    value = row[column]
    if not isinstance(value, str):
        raise DataFormatError(path, where, f"column {column!r} should be a string, found {value!r}")
    return value


def _int(row: dict, column: str, path: Path, where: str) -> int:
    value = row[column]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataFormatError(path, where, f"column {column!r} should be an integer, found {value!r}")
    return value


def _class_names(schema, column: str) -> list[str] | None:
    """The ClassLabel names the `datasets` library stored for `column` in the schema metadata."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if raw is None:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][column]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and isinstance(feature.get("names"), list):
        return [str(name) for name in feature["names"]]
    return None


def _label_map(schema, path: Path, ctx: _Context, known: dict[str, int], notes: list[str]) -> dict[int, int]:
    """hub label int -> funfisher label int, by name (the file's names, else the card's, with a note)."""
    names = _class_names(schema, "label")
    if names is None:
        names = list(ctx.layout.labels)
        note = (f"{path.name}: no ClassLabel names in the file's metadata; used the order documented for "
                f"{ctx.layout.repo_id}: {', '.join(f'{i} {n}' for i, n in enumerate(names))}")
        if note not in notes:
            notes.append(note)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DataFormatError(path, "", f"label names {names}: {unknown} not known; expected {sorted(known)}")
    return {i: known[name] for i, name in enumerate(names)}


def _label(row: dict, path: Path, where: str, mapping: dict[int, int]) -> int | None:
    """The row's label in funfisher's order; None for -1 (the hub's "unlabelled")."""
    value = _int(row, "label", path, where)
    if value == -1:
        return None
    if value not in mapping:
        raise DataFormatError(path, where, f"label {value} is not one of the file's classes {sorted(mapping)} or -1")
    return mapping[value]


def _read_pairs(columns_id: str | None, unlabelled: str):
    """A reader for NLI pairs: ids from column `columns_id` (None: the row index, as XTREME's files),
    rows labelled -1 skipped with a note (`unlabelled="skip"`) or refused (`"error"`)."""

    def read(pq, files: list[Path], ctx: _Context) -> ExampleList:
        examples, skipped = ExampleList(), 0
        columns = ["premise", "hypothesis", "label"] + ([columns_id] if columns_id else [])
        for path in files:
            rows, schema = _table(pq, path, columns)
            mapping = _label_map(schema, path, ctx, NLI_LABEL_IDS, examples.notes)
            for r, row in enumerate(rows):
                where = f"row {r}"
                label = _label(row, path, where, mapping)
                if label is None:
                    if unlabelled == "error":
                        raise DataFormatError(path, where, f"label -1 (unlabelled); {ctx.name} {ctx.split} is labelled")
                    skipped += 1
                    continue
                example_id = _text(row, columns_id, path, where) if columns_id else str(len(examples))
                examples.append(PairExample(example_id, _text(row, "premise", path, where),
                                            _text(row, "hypothesis", path, where), label))
        if skipped:
            examples.notes.append(f"skipped {skipped} unlabelled rows (label -1)")
        return examples

    return read


def _read_qa(pq, files: list[Path], ctx: _Context) -> ExampleList:
    """SQuAD-format rows: one QAExample per row, answers as (text, answer_start) pairs in order.
    An answer_start outside the context is an error, as in `readers.read_squad_json`."""
    examples = ExampleList()
    for path in files:
        rows, _ = _table(pq, path, ["id", "question", "context", "answers"], optional=("title",))
        for r, row in enumerate(rows):
            where = f"row {r}"
            qid = _text(row, "id", path, where)
            where = f"row {r} (id={qid[:40]})"
            context = _text(row, "context", path, where)
            answers = row["answers"]
            if not isinstance(answers, dict) or not isinstance(answers.get("text"), list) \
                    or not isinstance(answers.get("answer_start"), list) \
                    or len(answers["text"]) != len(answers["answer_start"]):
                raise DataFormatError(path, where, "column 'answers' should be {text: [...], answer_start: [...]} "
                                                   f"of equal lengths, found {str(answers)[:80]}")
            pairs = []
            for text, start in zip(answers["text"], answers["answer_start"]):
                if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
                    raise DataFormatError(path, where, f"answer ({text!r}, {start!r}) should be (string, integer)")
                if not 0 <= start < len(context):
                    raise DataFormatError(path, where, f"answer_start {start} is outside the context "
                                                       f"({len(context)} characters)")
                pairs.append((text, start))
            title = _text(row, "title", path, where) if "title" in row else ""
            examples.append(QAExample(qid, _text(row, "question", path, where), context, tuple(pairs), title))
    if ctx.name == "xquad":
        examples.notes.append("XQuAD from the hub has no article titles (title \"\")")
    return examples


COPA_LABELS = {"choice1": 0, "choice2": 1}


def _choice_rows(pq, files: list[Path], ctx: _Context, class_label: bool, notes: list[str]):
    """(path, where, row, label or None) of COPA-format rows; `class_label`: label is SuperGLUE's
    ClassLabel [choice1, choice2] (mapped by name; notes about the names go to `notes`), else
    XCOPA's plain 0/1."""
    for path in files:
        rows, schema = _table(pq, path, ["premise", "choice1", "choice2", "question", "label", "idx"])
        mapping = _label_map(schema, path, ctx, COPA_LABELS, notes) if class_label else {0: 0, 1: 1}
        for r, row in enumerate(rows):
            where = f"row {r}"
            question = _text(row, "question", path, where)
            if question not in COPA_QUESTIONS:
                raise DataFormatError(path, where, f"question should be 'cause' or 'effect', found {question!r}")
            yield path, where, row, _label(row, path, where, mapping)


def _choice(row: dict, path: Path, where: str, label: int) -> ChoiceExample:
    return ChoiceExample(id=str(_int(row, "idx", path, where)), premise=_text(row, "premise", path, where),
                         question=row["question"],
                         choices=(_text(row, "choice1", path, where), _text(row, "choice2", path, where)),
                         label=label)


def _read_copa(pq, files: list[Path], ctx: _Context) -> ExampleList:
    examples = ExampleList()
    for path, where, row, label in _choice_rows(pq, files, ctx, class_label=True, notes=examples.notes):
        if label is None:
            raise DataFormatError(path, where, f"label -1 (unlabelled); COPA {ctx.split} is labelled")
        examples.append(_choice(row, path, where, label))
    return examples


def _read_xcopa(pq, files: list[Path], ctx: _Context) -> ExampleList:
    """XCOPA rows, with the question type taken from English COPA by idx (as `registry._load_xcopa`)."""
    examples = ExampleList()
    for path, where, row, label in _choice_rows(pq, files, ctx, class_label=False, notes=examples.notes):
        if label is None:
            raise DataFormatError(path, where, "label should be 0 or 1, found -1")
        examples.append(_choice(row, path, where, label))
    copa = LAYOUTS["copa"]
    copa_split = "validation" if ctx.split == "val" else "test"
    copa_ctx = _Context("copa", ctx.split, "en", companion_source(ctx.source), copa)
    copa_files, copa_where = _split_files(copa_ctx, copa_split)
    english = {}
    for path, where, row, _ in _choice_rows(pq, copa_files, copa_ctx, class_label=True, notes=examples.notes):
        english[_int(row, "idx", path, where)] = row["question"]  # test labels are -1: only the type is used
    rule = "idx i = SuperGLUE validation idx i" if ctx.split == "val" else \
        "idx i = SuperGLUE test idx i (COPA item 501+i)"
    return with_english_questions(examples, english, path=files[0], english_path=copa_files[0],
                                  source=f"{copa_where}, {rule}")


def _config_split(config: Callable[[str], str], folder_split: bool = False) -> Callable[[str, str], str]:
    """A pattern: `<config(lang)>/<split>-*.parquet` (converted main branches) or
    `<config(lang)>/<split>/*.parquet` (refs/convert/parquet)."""
    if folder_split:
        return lambda split, lang: f"{config(lang)}/{split}/*.parquet"
    return lambda split, lang: f"{config(lang)}/{split}-*.parquet"


NLI_CARD_LABELS = ("entailment", "neutral", "contradiction")

LAYOUTS: dict[str, HubLayout] = {
    "xnli": HubLayout("facebook/xnli", "main", {"dev": "validation", "test": "test"},
                      _config_split(lambda lang: lang), _read_pairs(None, unlabelled="error"), NLI_CARD_LABELS),
    "mnli": HubLayout("nyu-mll/multi_nli", "main",
                      {"train": "train", "dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched"},
                      _config_split(lambda lang: "data"), _read_pairs("pairID", unlabelled="skip"), NLI_CARD_LABELS),
    "squad": HubLayout("rajpurkar/squad", "main", {"train": "train", "dev": "validation"},
                       _config_split(lambda lang: "plain_text"), _read_qa),
    "xquad": HubLayout("google/xquad", "main", {"test": "validation"},
                       _config_split(lambda lang: f"xquad.{lang}"), _read_qa),
    "mlqa": HubLayout("google/xtreme", "main", {"dev": "validation", "test": "test"},
                      _config_split(lambda lang: f"MLQA.{lang}.{lang}"), _read_qa),
    "xcopa": HubLayout("cambridgeltl/xcopa", "main", {"val": "validation", "test": "test"},
                       _config_split(lambda lang: lang), _read_xcopa),
    "copa": HubLayout("aps/super_glue", "refs/convert/parquet", {"train": "train", "val": "validation"},
                      _config_split(lambda lang: "copa", folder_split=True), _read_copa, ("choice1", "choice2"),
                      refused={"test": "the SuperGLUE COPA test split on the hub is unlabelled (label -1); the "
                                       "labelled English test set is the official copa-test.xml: use source "
                                       "\"local\" with copa/COPA-resources/datasets/copa-test.xml"}),
}


__all__ = ["LOCAL", "HUB", "HUB_DATASET_ID", "SOURCE_RULE", "LAYOUTS", "HubLayout", "PyArrowMissingError",
           "is_source", "check_source", "companion_source", "load_from_hub"]
