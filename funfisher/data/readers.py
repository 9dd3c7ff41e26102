"""Readers for the original file formats of the benchmarks (one small function per format).

Each reader takes a path and returns an `ExampleList` (a list with `.notes`). It validates as it goes
and raises `DataFormatError` naming the file, the line/row/record and what was expected, because a
silently mis-parsed evaluation set produces plausible but wrong numbers.

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

from .errors import DataFormatError
from .examples import COPA_QUESTIONS, NLI_LABEL_IDS, ChoiceExample, ExampleList, PairExample, QAExample

# Some XNLI / MNLI sentences are long; the csv module's default field limit (128 KiB) is enough for
# the real files but a corrupted file with a stray quote would otherwise produce a confusing error.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# --------------------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """Read a UTF-8 file; an empty (or whitespace-only) file is an error, not an empty dataset."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"byte {err.start}", "file is not valid UTF-8") from err
    if not text.strip():
        raise DataFormatError(path, "", "file is empty")
    return text


def _field(record: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """Return record[key], checking that it exists and has the expected JSON type."""
    if not isinstance(record, dict):
        raise DataFormatError(path, where, f"expected a JSON object, found {type(record).__name__}")
    if key not in record:
        raise DataFormatError(path, where, f"missing field {key!r} (fields present: {sorted(record)})")
    value = record[key]
    # bool is an int subclass in Python; a label of `true` is still a format error.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataFormatError(path, where, f"field {key!r} should be {expected}, found {value!r}")
    return value


def _nli_label(value: str, path: Path, where: str) -> int:
    try:
        return NLI_LABEL_IDS[value.strip()]
    except KeyError:
        raise DataFormatError(
            path, where, f"unknown label {value!r}; expected one of entailment, neutral, contradiction"
        ) from None


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line of a JSON-lines file."""
    text = _read_text(path)
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, f"line {line_no}", f"invalid JSON ({err.msg} at column {err.colno})") from err
        if not isinstance(record, dict):
            raise DataFormatError(path, f"line {line_no}", f"expected a JSON object, found {type(record).__name__}")
        yield line_no, record


def _tsv_rows(path: Path, *, quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each row of a tab-separated file (CRLF or LF, csv quoting)."""
    _read_text(path)  # clear errors for empty / non-UTF-8 files
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=quoting)
        try:
            for row in reader:
                if row == [] or row == [""]:
                    continue  # a trailing blank line
                yield reader.line_num, row
        except csv.Error as err:
            raise DataFormatError(path, f"line {reader.line_num}", f"malformed TSV ({err})") from err


# --------------------------------------------------------------------------------------------------
# SQuAD v1.1 JSON (SQuAD, XQuAD, MLQA)
# --------------------------------------------------------------------------------------------------
def load_json(path: str | Path) -> Any:
    """Parse a JSON file, reporting syntax errors with line and column."""
    path = Path(path)
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"line {err.lineno} column {err.colno}", f"invalid JSON ({err.msg})") from err


def read_squad_json(path: str | Path) -> ExampleList:
    """Read a SQuAD v1.1-format file: {"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}.

    Each question becomes one `QAExample` with all its gold answers. `answer_start` is not checked
    against the context here (the reconstructed SQuAD dev has a few wrong offsets; the official
    evaluation only uses answer texts) — `features.encode_qa` relocates such answers and logs them.
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
                    answer_where = f"{where}.answers[{n}] (id={qid})"
                    text = _field(answer, "text", str, path, answer_where)
                    start = _field(answer, "answer_start", int, path, answer_where)
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
    _, header = next(rows)
    if "label" not in header:
        raise DataFormatError(path, "line 1", f"expected a header with a 'label' column, found {header}")
    column = header.index("label")
    labels = []
    for line_no, row in rows:
        if len(row) != len(header):
            raise DataFormatError(path, f"line {line_no}", f"expected {len(header)} columns {header}, found {len(row)}")
        labels.append(_nli_label(row[column], path, f"line {line_no}"))
    return labels


def read_xnli_tsv(path: str | Path, labels: Sequence[int] | None = None) -> ExampleList:
    """Read an XTREME per-language XNLI file (no header, written by Python's csv module).

    dev rows are `sentence1, sentence2, label`; test rows are `sentence1, sentence2` (XTREME strips the
    test labels) and take their labels from `labels` (row i -> labels[i]), e.g. from
    `read_xnli_test_labels`. Without labels, 2-column rows give unlabelled examples (label None).
    Example ids are row indices ("0", "1", ...): row i is the same pair in every language.
    """
    path = Path(path)
    examples = ExampleList()
    width = None
    for line_no, row in _tsv_rows(path):
        where = f"line {line_no} (row {len(examples)})"
        if width is None:
            width = len(row)
            if width not in (2, 3):
                raise DataFormatError(
                    path, where, f"expected 3 columns (sentence1, sentence2, label) or 2 (sentence1, sentence2), found {width}"
                )
            if width == 3 and labels is not None:
                raise DataFormatError(path, where, "this file has its own label column; do not pass separate labels")
        elif len(row) != width:
            raise DataFormatError(path, where, f"expected {width} columns like the first row, found {len(row)}")
        if width == 3:
            label: int | None = _nli_label(row[2], path, where)
        elif labels is not None:
            if len(examples) >= len(labels):
                raise DataFormatError(path, where, f"more rows than labels ({len(labels)})")
            label = labels[len(examples)]
        else:
            label = None
        examples.append(PairExample(str(len(examples)), row[0], row[1], label))
    if labels is not None and len(labels) != len(examples):
        raise DataFormatError(path, "end of file", f"{len(examples)} rows but {len(labels)} labels")
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
    _, header = next(rows)
    missing = [name for name in XNLI_ORIGINAL_COLUMNS if name not in header]
    if missing:
        raise DataFormatError(path, "line 1", f"header lacks columns {missing}; expected at least {list(XNLI_ORIGINAL_COLUMNS)}")
    col = {name: header.index(name) for name in XNLI_ORIGINAL_COLUMNS}
    examples = ExampleList()
    languages = set()
    for line_no, row in rows:
        if len(row) != len(header):
            raise DataFormatError(path, f"line {line_no}", f"expected {len(header)} columns as in the header, found {len(row)}")
        languages.add(row[col["language"]])
        if row[col["language"]] != lang:
            continue
        label = _nli_label(row[col["gold_label"]], path, f"line {line_no}")
        examples.append(PairExample(row[col["pairID"]], row[col["sentence1"]], row[col["sentence2"]], label))
    if not examples:
        raise DataFormatError(path, "", f"no rows for language {lang!r}; languages present: {sorted(languages)}")
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
        raise DataFormatError(path, where, f"question should be 'cause' or 'effect', found {value!r}")
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
            raise DataFormatError(path, where, f"label should be 0 or 1, found {label!r}")
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
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        line, column = err.position
        raise DataFormatError(path, f"line {line} column {column}", f"invalid XML ({err})") from err
    examples = ExampleList()
    for n, item in enumerate(root.iter("item"), start=1):
        item_id = item.get("id")
        where = f"item {n} (id={item_id})"
        for attribute in ("id", "asks-for", "most-plausible-alternative"):
            if item.get(attribute) is None:
                raise DataFormatError(path, where, f"missing attribute {attribute!r}")
        alternative = item.get("most-plausible-alternative")
        if alternative not in ("1", "2"):
            raise DataFormatError(path, where, f"most-plausible-alternative should be 1 or 2, found {alternative!r}")
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
    examples: Sequence[ChoiceExample], english: Mapping[int, str], *, source: str = "English COPA"
) -> ExampleList:
    """Replace each XCOPA example's question type by English COPA's, matched on `idx` (= example id).

    Why: XCOPA items are translations of COPA items, so the cause/effect type cannot differ; but the
    upstream `question` field is wrong in th, tr, sw, id and it. The prompt "What was the cause/effect?"
    must not inherit those errors. The number of corrected items is recorded in `.notes`.
    """
    fixed = ExampleList()
    changed = 0
    for example in examples:
        idx = int(example.id)
        if idx not in english:
            raise KeyError(f"{source} has no item for idx {idx}")
        question = english[idx]
        changed += question != example.question
        fixed.append(ChoiceExample(example.id, example.premise, question, example.choices, example.label))
    fixed.notes.extend(getattr(examples, "notes", []))
    fixed.notes.append(
        f"question type (cause/effect) taken from {source} by idx; the upstream field disagreed in {changed} of {len(fixed)} items"
    )
    return fixed
