"""Property-based fuzzing of every reader and of `load_dataset`.

The property: whatever the bytes of a data file, a reader either returns examples or raises one of
the project's own errors (all `UserError`s, so the command line prints one `error: ...` line instead of
a traceback), and the message names the file. In line-based formats (TSV, JSON lines) a format error
names a line that exists in the file. Inputs: (i) arbitrary bytes, (ii) arbitrary text, (iii) small
mutations of a valid file (a field dropped, duplicated, retyped or changed; the file cut short; a
quote, tab or line break inserted), which reach much deeper into a reader than random bytes.

Hypothesis does not reset function-scoped fixtures between examples, so each test writes its
examples into one folder made by `tmp_path_factory`.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funfisher.data.errors import DataFormatError, DataNotFoundError, UnknownDatasetError
from funfisher.data.examples import ChoiceExample, PairExample, QAExample
from funfisher.data.readers import (
    load_json,
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
    with_english_questions,
)
from funfisher.data.registry import load_dataset
from funfisher.errors import UserError

PROJECT_ERRORS = (DataFormatError, DataNotFoundError, UnknownDatasetError)
# Modest counts keep the file at a few seconds; database=None: no example database written into the
# working tree, every run draws afresh (a failure prints the file content that broke the reader).
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------------
# small valid seed files, one per format
# --------------------------------------------------------------------------------------------------
SQUAD = {"version": "1.1", "data": [{"title": "T", "paragraphs": [{
    "context": "Paris is the capital of France.",
    "qas": [
        {"id": "q1", "question": "What is the capital?", "answers": [{"text": "Paris", "answer_start": 0}]},
        {"id": "q2", "question": "Of what?", "answers": [{"text": "France", "answer_start": 24}, {"text": "France.", "answer_start": 24}]},
    ],
}]}]}
XNLI_DEV = [['He said "hi".', "He spoke.", "entailment"], ["A dog runs.", "An animal moves.", "neutral"], ["It is cold.", "It is hot.", "contradiction"]]
XNLI_TEST = [row[:2] for row in XNLI_DEV]
XNLI_LABELS = [["genre", "label"], ["fiction", "entailment"], ["fiction", "neutral"], ["government", "contradiction"]]
XNLI_ORIGINAL = [
    ["language", "gold_label", "sentence1", "sentence2", "pairID"],
    ["en", "neutral", 'He said "hi', "He spoke.", "1"],
    ["de", "contradiction", "Er sagte hallo", "Er schwieg.", "1"],
]
MNLI = [
    {"gold_label": "entailment", "sentence1": "a", "sentence2": "b", "pairID": "1e", "genre": "fiction"},
    {"gold_label": "-", "sentence1": "c", "sentence2": "d", "pairID": "2n"},
]
COPA = [
    {"premise": "The man fell.", "choice1": "He slipped.", "choice2": "He sang.", "question": "cause", "label": 0, "idx": 0},
    {"premise": "It rained.", "choice1": "The grass grew.", "choice2": "The grass burned.", "question": "effect", "label": 0, "idx": 1},
]
COPA_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<copa-corpus version="1.0">\n'
    '<item id="501" asks-for="cause" most-plausible-alternative="1">\n<p>The man fell.</p>\n<a1>He slipped.</a1>\n<a2>He sang.</a2>\n</item>\n'
    '<item id="502" asks-for="effect" most-plausible-alternative="2">\n<p>It rained.</p>\n<a1>Fire.</a1>\n<a2>Puddles.</a2>\n</item>\n'
    "</copa-corpus>\n"
)
ENGLISH_QUESTIONS = {0: "cause", 1: "effect"}


def tsv_text(rows: list[list[str]], *, quoted: bool = True, newline: str = "\r\n") -> str:
    """Rows as a TSV file: csv-quoted as Python's csv.writer writes them, or joined raw."""
    if not quoted:
        return "".join("\t".join(row) + newline for row in rows)
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator=newline).writerows(rows)
    return out.getvalue()


def jsonl_text(records: list[Any]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


# --------------------------------------------------------------------------------------------------
# mutation strategies
# --------------------------------------------------------------------------------------------------
SPECIAL = ['"', "\t", "\n", "\r", "\r\n", "\\", "{", "}", "[", "]", ",", ":", "<", ">", "&", "\x00", "\u2028", "\ufeff"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**4), 10**4) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def text_mutation(draw, text: str) -> bytes:
    """Cut the file, insert a special character, delete a span or overwrite a byte, at a random place."""
    data = text.encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["cut", "insert", "delete", "byte"]))
        if op == "cut":
            data = data[:at]
        elif op == "insert":
            data = data[:at] + draw(st.sampled_from(SPECIAL)).encode("utf-8") + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        else:
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data


def _json_slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value: the places a structural mutation can act on."""
    slots = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        slots.append((value, key))
        slots.extend(_json_slots(child))
    return slots


@st.composite
def json_mutation(draw, value: Any) -> Any:
    """Drop a field or list item, replace a value by one of another type, or copy it elsewhere."""
    value = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, 3))):
        slots = _json_slots(value)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["drop", "replace", "duplicate", "int"]))
        if op == "drop":
            del container[key]
        elif op == "replace":
            container[key] = draw(json_values)
        elif op == "int":  # numbers near the edges: -1, a position past the end, ...
            container[key] = draw(st.integers(-3, 40))
        elif isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
        else:
            container[draw(st.text(max_size=6) | st.sampled_from(sorted(container)))] = copy.deepcopy(container[key])
    return value


FIELD_TOKENS = ['"', "\t", "\n", "\r", " ", "a", "entailment", "contradictory", "-", "en", "de", "label"]


@st.composite
def tsv_mutation(draw, rows: list[list[str]]) -> bytes:
    """Drop/duplicate a row or field, change a field; write quoted or raw, with CRLF or LF."""
    rows = [list(row) for row in rows]
    for _ in range(draw(st.integers(1, 3))):
        if not rows:
            break
        r = draw(st.integers(0, len(rows) - 1))
        op = draw(st.sampled_from(["drop row", "duplicate row", "drop field", "duplicate field", "change field"]))
        if op == "drop row":
            del rows[r]
            continue
        if op == "duplicate row":
            rows.insert(r, list(rows[r]))
            continue
        if not rows[r]:
            continue
        f = draw(st.integers(0, len(rows[r]) - 1))
        if op == "drop field":
            del rows[r][f]
        elif op == "duplicate field":
            rows[r].insert(f, rows[r][f])
        else:
            rows[r][f] = "".join(draw(st.lists(st.sampled_from(FIELD_TOKENS), max_size=4)))
    text = tsv_text(rows, quoted=draw(st.booleans()), newline=draw(st.sampled_from(["\r\n", "\n"])))
    return text.encode("utf-8")


@st.composite
def xml_mutation(draw, text: str) -> bytes:
    """Drop an element or attribute, change an attribute or element text, duplicate an element."""
    root = ET.fromstring(text)
    for _ in range(draw(st.integers(1, 3))):
        parents = [(parent, child) for parent in root.iter() for child in parent]
        if not parents:
            break
        parent, element = draw(st.sampled_from(parents))
        op = draw(st.sampled_from(["drop element", "duplicate", "drop attribute", "change attribute", "change text"]))
        if op == "drop element":
            parent.remove(element)
        elif op == "duplicate":
            parent.append(copy.deepcopy(element))
        elif op == "drop attribute" and element.attrib:
            del element.attrib[draw(st.sampled_from(sorted(element.attrib)))]
        elif op == "change attribute" and element.attrib:
            value = draw(st.sampled_from(["", "0", "3", "-1", "x", "cause", "502"]) | st.text(max_size=4))
            element.set(draw(st.sampled_from(sorted(element.attrib))), value)
        elif op == "change text":
            element.text = draw(st.none() | st.text(max_size=6))
    return ET.tostring(root, encoding="unicode").encode("utf-8")


def seed_text(fmt: str, seed: Any) -> str:
    """The seed as a file. Seeds are rows for "tsv" (csv-quoted) and "tsv-raw" (not quoted, as the
    original XNLI file), a JSON value for "json", a list of records for "jsonl", text for "xml"."""
    if fmt in ("tsv", "tsv-raw"):
        return tsv_text(seed, quoted=fmt == "tsv")
    if fmt == "json":
        return json.dumps(seed, indent=1)
    return jsonl_text(seed) if fmt == "jsonl" else seed


def structured_mutation(fmt: str, seed: Any) -> st.SearchStrategy[bytes]:
    if fmt in ("tsv", "tsv-raw"):
        return tsv_mutation(seed)
    if fmt == "xml":
        return xml_mutation(seed)
    write = json.dumps if fmt == "json" else jsonl_text
    return json_mutation(seed).map(lambda value: write(value).encode())


def file_contents(fmt: str, seed: Any) -> st.SearchStrategy[bytes]:
    """(i) arbitrary bytes, (ii) arbitrary text, (iii) structured and byte-level mutations of the seed."""
    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        structured_mutation(fmt, seed),
        text_mutation(seed_text(fmt, seed)),
    )


# --------------------------------------------------------------------------------------------------
# the property
# --------------------------------------------------------------------------------------------------
LINE = re.compile(r"\bline (\d+)\b")
ITEM = re.compile(r"item \d+ \(idx=")


def line_count(data: bytes, fmt: str) -> int:
    """Lines in the file as its reader counts them: XML ends lines at CR, LF or CRLF (expat reports
    positions that way); the other readers at LF."""
    line_end = rb"\r\n|\r|\n" if fmt == "xml" else rb"\n"
    return len(re.findall(line_end, data)) + 1


def check(call: Callable[[], Any], path: Path, data: bytes, fmt: str, *, item_errors: bool = False) -> Any:
    """With `data` in `path`, `call()` returns (its result is returned) or raises a project error that
    names `path`; an error about a place in `path` names a line that exists. In the line-based formats
    (TSV, JSON lines) every error names a line, unless it is about the whole file, or (`item_errors`)
    about the n-th example read, as `with_english_questions` reports an idx English COPA lacks."""
    path.write_bytes(data)
    try:
        examples = call()
    except PROJECT_ERRORS as err:
        assert isinstance(err, UserError)
        assert str(path) in str(err), str(err)
        if isinstance(err, DataFormatError) and err.path == path:
            line = LINE.search(err.where)
            if line:
                assert 1 <= int(line.group(1)) <= line_count(data, fmt), str(err)
            elif fmt not in ("json", "xml"):
                assert err.where in ("", "end of file") or (item_errors and ITEM.match(err.where)), str(err)
        return None
    return examples


def check_examples(examples: Any) -> None:
    """What returned examples promise their users (features, metrics)."""
    assert isinstance(examples, list)
    for example in examples:
        _check_example(example)


def _check_example(example: Any) -> None:
    if isinstance(example, QAExample):
        assert all(0 <= start < len(example.context) for _, start in example.answers)
    elif isinstance(example, PairExample):
        assert example.label in (None, 0, 1, 2)
    elif isinstance(example, ChoiceExample):
        assert example.label in (0, 1) and example.question in ("cause", "effect") and len(example.choices) == 2
    else:
        assert example in (0, 1, 2) and not isinstance(example, bool)  # read_xnli_test_labels


def _xcopa_with_english(path: Path) -> list:
    return with_english_questions(read_copa_jsonl(path), ENGLISH_QUESTIONS, path=path, english_path="copa/val.jsonl")


def _xnli_test_with_labels(path: Path) -> list:
    return read_xnli_tsv(path, labels=[0, 1, 2], labels_path="labels.tsv")


# name: (reader, format, seed)
READERS: dict[str, tuple[Callable[[Path], Any], str, Any]] = {
    "read_squad_json": (read_squad_json, "json", SQUAD),
    "load_json": (load_json, "json", SQUAD),
    "read_xnli_tsv": (read_xnli_tsv, "tsv", XNLI_DEV),
    "read_xnli_tsv_labels": (_xnli_test_with_labels, "tsv", XNLI_TEST),
    "read_xnli_test_labels": (read_xnli_test_labels, "tsv", XNLI_LABELS),
    "read_xnli_original_tsv": (lambda path: read_xnli_original_tsv(path, "en"), "tsv-raw", XNLI_ORIGINAL),
    "read_mnli_jsonl": (read_mnli_jsonl, "jsonl", MNLI),
    "read_copa_jsonl": (read_copa_jsonl, "jsonl", COPA),
    "read_copa_xml": (read_copa_xml, "xml", COPA_XML),
    "with_english_questions": (_xcopa_with_english, "jsonl", COPA),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("name", sorted(READERS))
def test_seed_is_valid(workdir, name):
    """The mutations start from a file the reader accepts."""
    reader, fmt, seed = READERS[name]
    path = workdir / f"seed-{name}"
    path.write_text(seed_text(fmt, seed), encoding="utf-8")
    assert reader(path)


@pytest.mark.parametrize("name", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_reader_raises_only_project_errors(workdir, name, data):
    reader, fmt, seed = READERS[name]
    content = data.draw(file_contents(fmt, seed), label="file content")
    path = workdir / f"{name}.data"
    result = check(lambda: reader(path), path, content, fmt, item_errors=reader is _xcopa_with_english)
    if result is not None and reader is not load_json:  # load_json returns any JSON value
        check_examples(result)


# --------------------------------------------------------------------------------------------------
# load_dataset on a data folder with one fuzzed file
# --------------------------------------------------------------------------------------------------
COPA_TEST = "copa/COPA-resources/datasets/copa-test.xml"
FOLDER: dict[str, tuple[str, Any]] = {  # relative path: (format, seed)
    "xnli/dev-en.tsv": ("tsv", XNLI_DEV),
    "xnli/test-en.tsv": ("tsv", XNLI_TEST),
    "xnli/test-labels.derived.tsv": ("tsv", XNLI_LABELS),
    "mnli/multinli_1.0_dev_matched.jsonl": ("jsonl", MNLI),
    "squad/dev-v1.1.json": ("json", SQUAD),
    "xquad/xquad.en.json": ("json", SQUAD),
    "mlqa/MLQA_V1/dev/dev-context-en-question-en.json": ("json", SQUAD),
    "copa/val.jsonl": ("jsonl", COPA),
    COPA_TEST: ("xml", COPA_XML),
    "xcopa/data/et/val.et.jsonl": ("jsonl", COPA),
    "xcopa/data/et/test.et.jsonl": ("jsonl", COPA),
}
# (dataset, split, language, the file that is fuzzed)
CASES = [
    ("xnli", "dev", "en", "xnli/dev-en.tsv"),
    ("xnli", "test", "en", "xnli/test-en.tsv"),
    ("xnli", "test", "en", "xnli/test-labels.derived.tsv"),
    ("mnli", "dev_matched", "en", "mnli/multinli_1.0_dev_matched.jsonl"),
    ("squad", "dev", "en", "squad/dev-v1.1.json"),
    ("xquad", "test", "en", "xquad/xquad.en.json"),
    ("mlqa", "dev", "en", "mlqa/MLQA_V1/dev/dev-context-en-question-en.json"),
    ("copa", "val", "en", "copa/val.jsonl"),
    ("copa", "test", "en", COPA_TEST),
    ("xcopa", "val", "et", "xcopa/data/et/val.et.jsonl"),
    ("xcopa", "val", "et", "copa/val.jsonl"),
    ("xcopa", "test", "et", "xcopa/data/et/test.et.jsonl"),
    ("xcopa", "test", "et", COPA_TEST),
]


def _restore(folder: Path, relpath: str) -> None:
    fmt, seed = FOLDER[relpath]
    (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
    (folder / relpath).write_text(seed_text(fmt, seed), encoding="utf-8")


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzdata")
    for relpath in FOLDER:
        _restore(folder, relpath)
    return folder


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}-{Path(case[3]).name}")
def test_seed_folder_loads(data_folder, case):
    name, split, lang, _ = case
    assert load_dataset(name, split, lang, data_folder)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}-{Path(case[3]).name}")
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_load_dataset_raises_only_project_errors(data_folder, case, data):
    name, split, lang, relpath = case
    fmt, seed = FOLDER[relpath]
    content = data.draw(file_contents(fmt, seed), label="file content")
    try:
        examples = check(lambda: load_dataset(name, split, lang, data_folder), data_folder / relpath, content, fmt,
                         item_errors=name == "xcopa")
        if examples is not None:
            check_examples(examples)
    finally:
        _restore(data_folder, relpath)
