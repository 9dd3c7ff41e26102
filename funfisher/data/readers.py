"""Readers for the original file formats of the benchmarks (one small function per format).

Each reader takes a path and returns an `ExampleList` (a list with `.notes`). It validates as it goes
and raises `DataFormatError` naming the file, the line/row/record and what was expected, because a
silently mis-parsed evaluation set produces plausible but wrong numbers; a file that is missing, a
folder or unreadable is a `DataNotFoundError` naming the path. Nothing else escapes a reader: every
exception of the parsers underneath (csv, json, expat, UTF-8 decoding) is turned into one of those two
(`tests/data/test_fuzz_readers.py` checks this on random and mutated files).

Formats:

* SQuAD v1.1 JSON (SQuAD, XQuAD, MLQA)                         -> `read_squad_json`
* XNLI, XTREME per-language TSV (`dev-de.tsv`, `test-de.tsv`)  -> `read_xnli_tsv` (+ `read_xnli_test_labels`)
* XNLI, original `xnli.{dev,test}.tsv` (header, all languages)  -> `read_xnli_original_tsv`
* MNLI jsonl (`multinli_1.0_*.jsonl`)                          -> `read_mnli_jsonl`
* COPA / XCOPA jsonl (SuperGLUE format)                        -> `read_copa_jsonl`
* COPA XML (Roemmele et al. 2011, `copa-{dev,test,all}.xml`)    -> `read_copa_xml`

XCOPA's `question` field is wrong in some languages (see `/work/shared/data/README.md`); the fix,
`with_english_questions`, takes the question type from English COPA by `idx`.
"""
from __future__ import annotations

import csv
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .errors import DataFormatError, DataNotFoundError
from .examples import COPA_QUESTIONS, NLI_LABEL_IDS, ChoiceExample, ExampleList, PairExample, QAExample

# Some XNLI / MNLI sentences are long; lift the csv module's 128 KiB field limit so that only real
# format problems are reported.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# --------------------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    """The file's bytes; every reason it cannot be opened becomes a `DataNotFoundError` naming the path."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a directory, not a file"
    except PermissionError:
        reason = "cannot read it (permission denied)"
    except (OSError, ValueError) as err:  # an I/O error, a name with a NUL byte, ...
        reason = f"cannot read it ({err})"
    raise DataNotFoundError(f"{path}: {reason}", path=path)


def _read_text(path: Path) -> str:
    """Read a UTF-8 file; an empty (or whitespace-only) file is an error, not an empty dataset."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataFormatError(path, f"line {line} (byte {err.start})", "file is not valid UTF-8") from None
    if not text.strip():
        raise DataFormatError(path, "", "file is empty")
    return text


def _clip(text: str, limit: int = 60) -> str:
    """`text`, shortened to `limit` characters: an error message stays one short line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 60) -> str:
    """repr(value), shortened (the bad value may be a whole list of paragraphs)."""
    return _clip(repr(value), limit)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _field(record: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """Return record[key], checking that it exists and has the expected JSON type."""
    if not isinstance(record, dict):
        raise DataFormatError(path, where, f"expected a JSON object, found {type(record).__name__}")
    if key not in record:
        raise DataFormatError(path, where, f"missing field {key!r} (fields present: {_show(sorted(record))})")
    value = record[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass in Python; a label of `true` is still a format error.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataFormatError(path, where, f"field {key!r} should be {expected}, found {_show(value)}")
    return value


def _nli_label(value: str, path: Path, where: str) -> int:
    try:
        return NLI_LABEL_IDS[value.strip()]
    except KeyError:
        raise DataFormatError(
            path, where, f"unknown label {_show(value)}; expected one of entailment, neutral, contradiction"
        ) from None


def _parse_json(text: str, path: Path, line_no: int | None = None) -> Any:
    """`json.loads`, with every way it can fail as a `DataFormatError` (`line_no`: a JSON-lines line).

    Besides syntax errors (JSONDecodeError, with line and column) the json module raises a
    RecursionError for deeply nested arrays and a plain ValueError for integers longer than Python
    converts (4300 digits); both come from broken files too.
    """
    where = f"line {line_no}" if line_no is not None else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        if line_no is None:
            where, problem = f"line {err.lineno} column {err.colno}", err.msg
        else:
            problem = f"{err.msg} at column {err.colno}"
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as err:
        problem = str(err)
    raise DataFormatError(path, where, f"invalid JSON ({problem})")


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line of a JSON-lines file.

    Lines end at LF only (`str.splitlines` would also cut at U+2028 or U+0085, which JSON strings may
    contain raw), so line numbers are those of an editor or `grep -n`.
    """
    text = _read_text(path)
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record = _parse_json(line, path, line_no)
        if not isinstance(record, dict):
            raise DataFormatError(path, f"line {line_no}", f"expected a JSON object, found {type(record).__name__}")
        yield line_no, record


def _tsv_rows(path: Path, *, quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each non-blank line of a tab-separated file (LF or CRLF, csv quoting).

    Each row must be one line (no field of these formats contains a line break), and the csv module is
    given one line at a time. Why: from a stray `"` at the start of a field the csv module would read on
    across lines to the next quote, joining many rows into one field, silently or with an error far
    below the line at fault. Here a row that needs more than one line is an error on the line it starts.
    `strict` also rejects text after a closing quote (`"a"b`), which csv would glue to the field.
    """
    lines = (line.removesuffix("\r") for line in _read_text(path).split("\n"))
    reader = csv.reader(lines, delimiter="\t", quoting=quoting, strict=True)
    last = 0  # the line the previous row ended on
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if last > start:
                message = f"a quoted field starts on this line and ends on line {last}; {_STRAY_QUOTE}"
                raise DataFormatError(path, f"line {start}", message)
            if row:  # not a blank line
                yield start, row
    except csv.Error as err:
        raise DataFormatError(path, f"line {last + 1}", _csv_problem(err)) from None


_STRAY_QUOTE = "fields never span lines in this format: a stray '\"'? (csv.writer quotes a field with '\"', doubling it)"


def _csv_problem(err: csv.Error) -> str:
    """Say what a csv.Error means here (its own wording suggests opening the file differently)."""
    message = str(err)
    if "end of data" in message:
        return f"a quoted field starts on this line and is never closed; {_STRAY_QUOTE}"
    if "new-line" in message:
        return "malformed TSV (a carriage return inside a row; lines must end with LF or CRLF)"
    return f"malformed TSV ({message})"


def _header(rows: Iterator[tuple[int, list[str]]], path: Path) -> tuple[int, list[str]]:
    """The first row of a file with a header line (and its line number)."""
    for line_no, row in rows:
        return line_no, row
    raise DataFormatError(path, "", "no header line")


# --------------------------------------------------------------------------------------------------
# SQuAD v1.1 JSON (SQuAD, XQuAD, MLQA)
# --------------------------------------------------------------------------------------------------
def load_json(path: str | Path) -> Any:
    """Parse a JSON file, reporting syntax errors with line and column."""
    path = Path(path)
    return _parse_json(_read_text(path), path)


def read_squad_json(path: str | Path) -> ExampleList:
    """Read a SQuAD v1.1-format file: {"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}.

    Each question becomes one `QAExample` with all its gold answers. `answer_start` must be a position
    in the context: a negative one would silently become a no-answer training target. Whether the
    answer text is found there is not checked (the reconstructed SQuAD dev has a few wrong offsets; the
    official evaluation only uses answer texts) — `features.encode_qa` relocates such answers and logs them.
    """
    path = Path(path)
    root = load_json(path)
    articles = _field(root, "data", list, path, "top level")
    examples = ExampleList()
    for a, article in enumerate(articles):
        where = f"record data[{a}]"
        paragraphs = _field(article, "paragraphs", list, path, where)
        title = article.get("title", "")
        title = title if isinstance(title, str) else ""
        for p, paragraph in enumerate(paragraphs):
            where = f"record data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, path, where)
            for q, qa in enumerate(_field(paragraph, "qas", list, path, where)):
                where = f"record data[{a}].paragraphs[{p}].qas[{q}]"
                qid = _field(qa, "id", str, path, where)
                question = _field(qa, "question", str, path, where)
                answers = []
                for n, answer in enumerate(_field(qa, "answers", list, path, where)):
                    answer_where = f"{where}.answers[{n}] (id={_clip(qid, 40)})"
                    text = _field(answer, "text", str, path, answer_where)
                    start = _field(answer, "answer_start", int, path, answer_where)
                    if not 0 <= start < len(context):
                        message = f"answer_start {_show(start)} is outside the context ({len(context)} characters)"
                        raise DataFormatError(path, answer_where, message)
                    answers.append((text, start))
                examples.append(QAExample(qid, question, context, tuple(answers), title))
    if not examples:
        raise DataFormatError(path, "top level", "no questions found under data[*].paragraphs[*].qas")
    return examples


# --------------------------------------------------------------------------------------------------
# XNLI
# --------------------------------------------------------------------------------------------------
def read_xnli_test_labels(path: str | Path) -> list[int]:
    """Read `xnli/test-labels.derived.tsv` (header `genre<TAB>label`): the gold label of test row i."""
    path = Path(path)
    rows = _tsv_rows(path)
    header_line, header = _header(rows, path)
    if "label" not in header:
        message = f"expected a header with a 'label' column, found {_show(header)}"
        raise DataFormatError(path, f"line {header_line}", message)
    column = header.index("label")
    labels = []
    for line_no, row in rows:
        if len(row) != len(header):
            raise DataFormatError(path, f"line {line_no}", f"expected {len(header)} columns {_show(header)}, found {len(row)}")
        labels.append(_nli_label(row[column], path, f"line {line_no}"))
    return labels


def read_xnli_tsv(
    path: str | Path, labels: Sequence[int] | None = None, *, labels_path: str | Path | None = None
) -> ExampleList:
    """Read an XTREME per-language XNLI file (no header, written by Python's csv module).

    dev rows are `sentence1, sentence2, label`; test rows are `sentence1, sentence2` (XTREME strips the
    test labels) and take their labels from `labels` (row i -> labels[i]), e.g. from
    `read_xnli_test_labels`. Without labels, 2-column rows give unlabelled examples (label None).
    Example ids are row indices ("0", "1", ...): row i is the same pair in every language.
    `labels_path` (where `labels` were read from) is named in the errors about rows and labels.
    """
    path = Path(path)
    of_labels = f" (from {labels_path})" if labels_path else ""
    examples = ExampleList()
    width = None
    for line_no, row in _tsv_rows(path):
        where = f"line {line_no} (row {len(examples)})"
        if width is None:
            width = len(row)
            if width not in (2, 3):
                expected = "3 columns (sentence1, sentence2, label) or 2 (sentence1, sentence2)"
                raise DataFormatError(path, where, f"expected {expected}, found {width}")
            if width == 3 and labels is not None:
                message = f"found 3 columns, but the labels of this file are given separately{of_labels}"
                raise DataFormatError(path, where, message)
        elif len(row) != width:
            raise DataFormatError(path, where, f"expected {width} columns like the first row, found {len(row)}")
        if width == 3:
            label: int | None = _nli_label(row[2], path, where)
        elif labels is not None:
            if len(examples) >= len(labels):
                raise DataFormatError(path, where, f"more rows than the {len(labels)} labels{of_labels}")
            label = labels[len(examples)]
        else:
            label = None
        examples.append(PairExample(str(len(examples)), row[0], row[1], label))
    if labels is not None and len(labels) != len(examples):
        raise DataFormatError(path, "end of file", f"{len(examples)} rows but {len(labels)} labels{of_labels}")
    return examples


XNLI_ORIGINAL_COLUMNS = ("language", "gold_label", "sentence1", "sentence2", "pairID")


def read_xnli_original_tsv(path: str | Path, lang: str) -> ExampleList:
    """Read the original `XNLI-1.0/xnli.{dev,test}.tsv` (one file, all languages) for one language.

    Columns are found by header name (language, gold_label, sentence1, sentence2, pairID). The file is
    not csv-quoted — sentences contain bare `"` — so it is read with QUOTE_NONE, as the HF `xnli`
    loader does. Example ids are the `pairID`s.
    """
    path = Path(path)
    rows = _tsv_rows(path, quoting=csv.QUOTE_NONE)
    header_line, header = _header(rows, path)
    missing = [name for name in XNLI_ORIGINAL_COLUMNS if name not in header]
    if missing:
        message = f"header lacks columns {missing}; expected at least {list(XNLI_ORIGINAL_COLUMNS)}"
        raise DataFormatError(path, f"line {header_line}", message)
    col = {name: header.index(name) for name in XNLI_ORIGINAL_COLUMNS}
    examples = ExampleList()
    languages = set()
    for line_no, row in rows:
        if len(row) != len(header):
            message = f"expected {len(header)} columns as in the header, found {len(row)}"
            raise DataFormatError(path, f"line {line_no}", message)
        languages.add(row[col["language"]])
        if row[col["language"]] != lang:
            continue
        label = _nli_label(row[col["gold_label"]], path, f"line {line_no}")
        examples.append(PairExample(row[col["pairID"]], row[col["sentence1"]], row[col["sentence2"]], label))
    if not examples:
        present = _show(sorted(languages), 200)
        raise DataFormatError(path, "", f"no rows for language {lang!r}; languages present: {present}")
    return examples


# --------------------------------------------------------------------------------------------------
# MNLI
# --------------------------------------------------------------------------------------------------
def read_mnli_jsonl(path: str | Path) -> ExampleList:
    """Read MultiNLI 1.0 jsonl (`gold_label, sentence1, sentence2, pairID`, other fields ignored).

    Items whose `gold_label` is "-" (no annotator majority) are skipped, as in GLUE and XTREME; the
    number skipped is recorded in `.notes` because it changes the example count.
    """
    path = Path(path)
    examples = ExampleList()
    skipped = 0
    for line_no, record in _jsonl_records(path):
        where = f"line {line_no}"
        gold = _field(record, "gold_label", str, path, where)
        if gold == "-":
            skipped += 1
            continue
        examples.append(
            PairExample(
                str(_field(record, "pairID", (str, int), path, where)),
                _field(record, "sentence1", str, path, where),
                _field(record, "sentence2", str, path, where),
                _nli_label(gold, path, where),
            )
        )
    if skipped:
        examples.notes.append(f"{path.name}: skipped {skipped} examples with gold_label '-' (no annotator consensus)")
    return examples


# --------------------------------------------------------------------------------------------------
# COPA / XCOPA
# --------------------------------------------------------------------------------------------------
def _question(value: str, path: Path, where: str) -> str:
    if value not in COPA_QUESTIONS:
        raise DataFormatError(path, where, f"question should be 'cause' or 'effect', found {_show(value)}")
    return value


def read_copa_jsonl(path: str | Path) -> ExampleList:
    """Read COPA/XCOPA jsonl (`premise, choice1, choice2, question, label, idx`; extra fields ignored).

    `label` is the 0-based index of the correct choice. Example ids are `idx` as a string.
    For XCOPA, apply `with_english_questions` afterwards: its `question` field is unreliable.
    """
    path = Path(path)
    examples = ExampleList()
    for line_no, record in _jsonl_records(path):
        where = f"line {line_no}"
        label = _field(record, "label", int, path, where)
        if label not in (0, 1):
            raise DataFormatError(path, where, f"label should be 0 or 1, found {_show(label)}")
        examples.append(
            ChoiceExample(
                id=str(_field(record, "idx", int, path, where)),
                premise=_field(record, "premise", str, path, where),
                question=_question(_field(record, "question", str, path, where), path, where),
                choices=(_field(record, "choice1", str, path, where), _field(record, "choice2", str, path, where)),
                label=label,
            )
        )
    return examples


def read_copa_xml(path: str | Path) -> ExampleList:
    """Read the official COPA XML: `<item id asks-for most-plausible-alternative><p/><a1/><a2/></item>`.

    `most-plausible-alternative` is 1-based in the file and becomes a 0-based `label`. Example ids are
    the item ids ("1".."500" in copa-dev.xml, "501".."1000" in copa-test.xml).
    """
    path = Path(path)
    text = _read_text(path)
    try:
        # Parsing the decoded text (not bytes) makes expat ignore the encoding="..." declaration: the
        # file is UTF-8 (checked above) whatever it declares, and an unknown name cannot raise LookupError.
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line, column = err.position
        raise DataFormatError(path, f"line {line} column {column}", f"invalid XML ({err})") from None
    examples = ExampleList()
    for n, item in enumerate(root.iter("item"), start=1):
        item_id = item.get("id")
        where = f"item {n} (id={_clip(str(item_id), 20)})"
        for attribute in ("id", "asks-for", "most-plausible-alternative"):
            if item.get(attribute) is None:
                raise DataFormatError(path, where, f"missing attribute {attribute!r}")
        if not _is_integer(item_id):
            raise DataFormatError(path, where, f"id should be an integer, found {_show(item_id)}")
        alternative = item.get("most-plausible-alternative")
        if alternative not in ("1", "2"):
            message = f"most-plausible-alternative should be 1 or 2, found {_show(alternative)}"
            raise DataFormatError(path, where, message)
        parts = {}
        for tag in ("p", "a1", "a2"):
            element = item.find(tag)
            if element is None or element.text is None:
                raise DataFormatError(path, where, f"missing or empty <{tag}> element")
            parts[tag] = element.text
        examples.append(
            ChoiceExample(
                id=item_id,
                premise=parts["p"],
                question=_question(item.get("asks-for"), path, where),
                choices=(parts["a1"], parts["a2"]),
                label=int(alternative) - 1,
            )
        )
    if not examples:
        raise DataFormatError(path, "", "no <item> elements found")
    return examples


def with_english_questions(
    examples: Sequence[ChoiceExample],
    english: Mapping[int, str],
    *,
    path: str | Path,
    english_path: str | Path,
    source: str | None = None,
) -> ExampleList:
    """Replace each XCOPA example's question type by English COPA's, matched on `idx` (= example id).

    Why: XCOPA items are translations of COPA items, so the cause/effect type cannot differ; but the
    upstream `question` field is wrong in th, tr, sw, id and it. The prompt "What was the cause/effect?"
    must not inherit those errors. The number of corrected items is recorded in `.notes`.

    `path` is the XCOPA file the examples come from and `english_path` the English COPA file `english`
    was read from: an idx that English COPA lacks (the wrong split, a truncated file) is an error
    naming both. `source` names the English file in the note (default: `english_path`).
    """
    path, english_path = Path(path), Path(english_path)
    fixed = ExampleList()
    changed = 0
    for n, example in enumerate(examples, start=1):
        where = f"item {n} (idx={_clip(example.id, 20)})"
        idx = int(example.id) if _is_integer(example.id) else None
        if idx not in english:
            message = f"English COPA {english_path} has no item for this idx to take the question type from"
            raise DataFormatError(path, where, message)
        question = english[idx]
        changed += question != example.question
        fixed.append(ChoiceExample(example.id, example.premise, question, example.choices, example.label))
    fixed.notes.extend(getattr(examples, "notes", []))
    fixed.notes.append(
        f"question type (cause/effect) taken from {source or english_path} by idx; "
        f"the upstream field disagreed in {changed} of {len(fixed)} items"
    )
    return fixed
