"""Regression tests: every problem a user can cause with a data file is a `UserError` that names the
file and the line/record, never a bare StopIteration, KeyError, RecursionError, ... (a traceback)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from funfisher.data.errors import DataFormatError, DataNotFoundError, FetchError, UnknownDatasetError
from funfisher.data.examples import ChoiceExample
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
from funfisher.data.registry import dataset_files, fetch, load_dataset
from funfisher.errors import UserError

ALL_READERS = [
    read_squad_json, read_xnli_tsv, read_xnli_test_labels, read_mnli_jsonl, read_copa_jsonl, read_copa_xml, load_json,
    lambda path: read_xnli_original_tsv(path, "en"),
]
COPA_ITEM = {"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 0, "idx": 0}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(*records: dict) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _squad(context: str, *answers: dict) -> str:
    qas = [{"id": "q0", "question": "?", "answers": [{"text": context[:1], "answer_start": 0}]},
           {"id": "q1", "question": "?", "answers": list(answers)}]
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]})


def test_error_types_are_user_errors_and_keep_their_builtin_types():
    assert issubclass(DataFormatError, UserError) and issubclass(DataFormatError, ValueError)
    assert issubclass(DataNotFoundError, UserError) and issubclass(DataNotFoundError, FileNotFoundError)
    assert issubclass(UnknownDatasetError, UserError) and issubclass(UnknownDatasetError, ValueError)
    assert issubclass(FetchError, UserError) and issubclass(FetchError, RuntimeError)
    assert str(DataNotFoundError("no such file", path="x")) == "no such file"


# --------------------------------------------------------------------------------------------------
# (a) a TSV file without a header row
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ['""\n', '""', '""\r\n\r\n'])
def test_labels_file_with_only_an_empty_quoted_field(tmp_path, text):
    path = _write(tmp_path / "labels.tsv", text)
    with pytest.raises(DataFormatError, match=r"labels\.tsv: line 1: expected a header with a 'label' column"):
        read_xnli_test_labels(path)


def test_original_xnli_file_with_only_an_empty_quoted_field(tmp_path):
    path = _write(tmp_path / "xnli.dev.tsv", '""\n')
    with pytest.raises(DataFormatError, match=r"xnli\.dev\.tsv: line 1: header lacks columns"):
        read_xnli_original_tsv(path, "en")


# --------------------------------------------------------------------------------------------------
# (b) an XCOPA item that English COPA does not have
# --------------------------------------------------------------------------------------------------
def test_with_english_questions_names_both_files_and_the_item(tmp_path):
    examples = [ChoiceExample("0", "p", "cause", ("a", "b"), 0), ChoiceExample("7", "p", "cause", ("a", "b"), 0)]
    with pytest.raises(DataFormatError) as info:
        with_english_questions(examples, {0: "effect"}, path=tmp_path / "val.et.jsonl", english_path=tmp_path / "val.jsonl")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'val.et.jsonl'}: item 2 (idx=7): ")
    assert str(tmp_path / "val.jsonl") in message


def test_xcopa_idx_missing_from_copa_through_the_registry(tmp_path):
    _write(tmp_path / "copa/val.jsonl", _jsonl(COPA_ITEM))
    _write(tmp_path / "xcopa/data/et/val.et.jsonl", _jsonl(COPA_ITEM, dict(COPA_ITEM, idx=100)))
    with pytest.raises(DataFormatError, match=r"xcopa/data/et/val\.et\.jsonl: item 2 \(idx=100\): .*copa/val\.jsonl"):
        load_dataset("xcopa", "val", "et", tmp_path)
    _write(tmp_path / "xcopa/data/et/val.et.jsonl", _jsonl(COPA_ITEM))
    assert [e.question for e in load_dataset("xcopa", "val", "et", tmp_path)] == ["cause"]


def test_xcopa_test_against_copa_xml_without_the_item(tmp_path):
    item = '<item id="{}" asks-for="effect" most-plausible-alternative="1"><p>x</p><a1>y</a1><a2>z</a2></item>'
    _write(tmp_path / "copa/COPA-resources/datasets/copa-test.xml", f"<copa-corpus>{item.format(501)}</copa-corpus>")
    _write(tmp_path / "xcopa/data/et/test.et.jsonl", _jsonl(COPA_ITEM, dict(COPA_ITEM, idx=1)))
    with pytest.raises(DataFormatError, match=r"test\.et\.jsonl: item 2 \(idx=1\): .*copa-test\.xml"):
        load_dataset("xcopa", "test", "et", tmp_path)


def test_copa_xml_item_id_must_be_an_integer(tmp_path):
    path = _write(tmp_path / "copa.xml", '<c><item id="x1" asks-for="cause" most-plausible-alternative="1">'
                                          "<p>x</p><a1>y</a1><a2>z</a2></item></c>")
    with pytest.raises(DataFormatError, match=r"copa\.xml: item 1 \(id=x1\): id should be an integer"):
        read_copa_xml(path)


# --------------------------------------------------------------------------------------------------
# (c) TSV line numbers are the lines that have the problem
# --------------------------------------------------------------------------------------------------
def _dev_rows(n: int) -> list[str]:
    return [f"premise {i}\thypothesis {i}\tneutral" for i in range(n)]


def test_stray_quote_is_reported_at_its_own_line(tmp_path):
    rows = _dev_rows(400)
    rows[56] = '"premise 56\thypothesis 56\tneutral'  # opens a quoted field on line 57 ...
    rows[399] = 'premise 399"\thypothesis 399\tneutral\tx'  # ... that the csv module would close on line 400
    path = _write(tmp_path / "dev-xx.tsv", "\r\n".join(rows) + "\r\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 57: .*quote.* line 400"):
        read_xnli_tsv(path)


def test_stray_quote_that_would_swallow_rows_silently(tmp_path):
    rows = _dev_rows(10)
    rows[2] = '"premise 2\thypothesis 2\tneutral'
    rows[6] = 'premise 6"\thypothesis 6\tneutral'  # the joined row has 3 columns: no column-count error
    path = _write(tmp_path / "dev-xx.tsv", "\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 3: .*quote"):
        read_xnli_tsv(path)


def test_quote_that_is_never_closed(tmp_path):
    rows = _dev_rows(10)
    rows[4] = 'premise 4\t"hypothesis 4\tneutral'
    path = _write(tmp_path / "dev-xx.tsv", "\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 5: .*quote"):
        read_xnli_tsv(path)


def test_text_after_a_closing_quote(tmp_path):
    path = _write(tmp_path / "dev-xx.tsv", 'a\tb\tneutral\n"c"d\te\tneutral\n')
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 2: malformed TSV"):
        read_xnli_tsv(path)


def test_wrong_column_count_names_the_real_line_after_blank_lines(tmp_path):
    path = _write(tmp_path / "dev-xx.tsv", "a\tb\tneutral\n\n\nc\td\tneutral\ne\tf\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 5 \(row 2\): expected 3 columns"):
        read_xnli_tsv(path)
    labels = _write(tmp_path / "labels.tsv", "genre\tlabel\n\nfiction\tneutral\n\nfiction\n")
    with pytest.raises(DataFormatError, match=r"labels\.tsv: line 5: expected 2 columns"):
        read_xnli_test_labels(labels)


def test_bare_carriage_return_inside_a_row(tmp_path):
    path = tmp_path / "dev-xx.tsv"
    path.write_bytes(b"a\tb\tneutral\r\nc\rd\te\tneutral\r\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 2: malformed TSV"):
        read_xnli_tsv(path)


def test_real_xnli_files_read_as_the_csv_module_reads_them(shared_data):
    """Reading line by line changes nothing on the real files (csv.reader over the whole file)."""
    paths = sorted((shared_data / "xnli").glob("*.tsv"))
    assert len(paths) == 31
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            expected = [row for row in csv.reader(handle, delimiter="\t") if row]
        if path.name == "test-labels.derived.tsv":
            assert len(read_xnli_test_labels(path)) == len(expected) - 1
        else:
            assert [[e.text_a, e.text_b] for e in read_xnli_tsv(path)] == [row[:2] for row in expected], path.name


def test_csv_quoted_fields_still_work_with_crlf_and_lf(tmp_path):
    path = tmp_path / "dev-xx.tsv"
    path.write_bytes(b'"a ""b"""\tc\tneutral\n"x\ty"\tz\tentailment\r\n')
    assert [(e.text_a, e.text_b) for e in read_xnli_tsv(path)] == [('a "b"', "c"), ("x\ty", "z")]


def test_xnli_test_rows_and_labels_mismatch_names_the_labels_file(tmp_path):
    _write(tmp_path / "xnli/test-en.tsv", "a\tb\r\nc\td\r\n")
    labels = _write(tmp_path / "xnli/test-labels.derived.tsv", "genre\tlabel\nfiction\tneutral\n")
    with pytest.raises(DataFormatError, match=rf"test-en\.tsv: line 2 \(row 1\): more rows than the 1 labels \(from {labels}\)"):
        load_dataset("xnli", "test", "en", tmp_path)
    _write(tmp_path / "xnli/test-en.tsv", "a\tb\tneutral\r\n")
    with pytest.raises(DataFormatError, match=rf"line 1 \(row 0\): found 3 columns, but the labels of this file are given separately \(from {labels}\)"):
        load_dataset("xnli", "test", "en", tmp_path)


# --------------------------------------------------------------------------------------------------
# (d) SQuAD answer_start
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", [-1, -5, 10, 11, 1000])
def test_answer_start_outside_the_context(tmp_path, start):
    path = _write(tmp_path / "squad.json", _squad("0123456789", {"text": "a", "answer_start": start}))
    pattern = r"squad\.json: record data\[0\]\.paragraphs\[0\]\.qas\[1\]\.answers\[0\] \(id=q1\): answer_start"
    with pytest.raises(DataFormatError, match=pattern + rf" {start} is outside the context \(10 characters\)"):
        read_squad_json(path)


def test_answer_text_that_does_not_match_at_answer_start_is_kept(tmp_path):
    """Wrong offsets are tolerated (the official scorers use texts only; encode_qa relocates them)."""
    path = _write(tmp_path / "squad.json", _squad("0123456789", {"text": "89", "answer_start": 2},
                                                  {"text": "9", "answer_start": 9}, {"text": "9xx", "answer_start": 9}))
    assert read_squad_json(path)[1].answers == (("89", 2), ("9", 9), ("9xx", 9))


def test_answer_start_of_true_is_not_an_int(tmp_path):
    path = _write(tmp_path / "squad.json", _squad("0123456789", {"text": "0", "answer_start": True}))
    with pytest.raises(DataFormatError, match=r"field 'answer_start' should be int, found True"):
        read_squad_json(path)


# --------------------------------------------------------------------------------------------------
# (e) files that cannot be read, and content Python's parsers reject with their own exceptions
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", ALL_READERS)
def test_missing_file_directory_and_unreadable_file(tmp_path, reader, monkeypatch):
    missing = tmp_path / "nowhere" / "file.json"
    with pytest.raises(DataNotFoundError, match=rf"{missing}: no such file") as info:
        reader(missing)
    assert info.value.path == missing
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path}: is a directory, not a file"):
        reader(tmp_path)
    path = _write(tmp_path / "locked.txt", "x")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataNotFoundError, match=rf"{path}: cannot read it \(permission denied\)"):
        reader(path)


@pytest.mark.parametrize("reader", ALL_READERS)
def test_invalid_utf8_names_line_and_byte(tmp_path, reader):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"first line\nsecond \xe9 line\n")
    with pytest.raises(DataFormatError, match=r"latin1\.txt: line 2 \(byte 18\): file is not valid UTF-8"):
        reader(path)


def test_deeply_nested_json(tmp_path):
    path = _write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataFormatError, match=r"deep\.json: invalid JSON \(nested too deeply\)"):
        read_squad_json(path)
    path = _write(tmp_path / "deep.jsonl", _jsonl(COPA_ITEM) + "[" * 100_000 + "\n")
    with pytest.raises(DataFormatError, match=r"deep\.jsonl: line 2: invalid JSON \(nested too deeply\)"):
        read_copa_jsonl(path)


def test_json_integer_too_long_for_python(tmp_path):
    """Python refuses to convert integers of more than 4300 digits; json raises a plain ValueError."""
    path = _write(tmp_path / "big.json", '{"data": ' + "1" * 5000 + "}")
    with pytest.raises(DataFormatError, match=r"big\.json: invalid JSON \(.*digits"):
        read_squad_json(path)
    path = _write(tmp_path / "big.jsonl", _jsonl(COPA_ITEM) + '{"idx": ' + "1" * 5000 + "}\n")
    with pytest.raises(DataFormatError, match=r"big\.jsonl: line 2: invalid JSON \(.*digits"):
        read_copa_jsonl(path)


def test_jsonl_lines_are_split_at_newlines_only(tmp_path):
    """U+2028 and U+0085 may appear raw inside JSON strings; str.splitlines would cut the line there."""
    premise = "line\u2028separator and next\x85line"
    path = _write(tmp_path / "copa.jsonl", _jsonl(dict(COPA_ITEM, premise=premise)).replace("\\u2028", "\u2028").replace("\\u0085", "\x85"))
    assert "\u2028" in path.read_text(encoding="utf-8")
    assert read_copa_jsonl(path)[0].premise == premise
    path = _write(tmp_path / "copa2.jsonl", _jsonl(COPA_ITEM) + "\u2028\n{broken\n")
    with pytest.raises(DataFormatError, match=r"copa2\.jsonl: line 3: invalid JSON"):
        read_copa_jsonl(path)


def test_xml_declared_encoding_is_ignored(tmp_path):
    """The file is read as UTF-8 whatever it declares: an unknown name must not raise LookupError."""
    item = '<item id="1" asks-for="cause" most-plausible-alternative="1"><p>é</p><a1>y</a1><a2>z</a2></item>'
    for encoding in ("klingon", "ISO-8859-1"):
        path = _write(tmp_path / "copa.xml", f'<?xml version="1.0" encoding="{encoding}"?><copa-corpus>{item}</copa-corpus>')
        assert read_copa_xml(path)[0].premise == "é"


def test_long_values_are_shortened_in_messages(tmp_path):
    path = _write(tmp_path / "squad.json", json.dumps({"data": {"x": "y" * 10_000}}))
    with pytest.raises(DataFormatError) as info:
        read_squad_json(path)
    assert "field 'data' should be list" in str(info.value) and len(str(info.value)) < 300


def test_mnli_pair_id_of_true_is_an_error(tmp_path):
    path = _write(tmp_path / "mnli.jsonl", _jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b", "pairID": True}))
    with pytest.raises(DataFormatError, match=r"mnli\.jsonl: line 1: field 'pairID' should be str or int, found True"):
        read_mnli_jsonl(path)


# --------------------------------------------------------------------------------------------------
# registry: unknown names are UserErrors with a hint
# --------------------------------------------------------------------------------------------------
def test_unknown_dataset_split_and_language_suggest_the_close_name():
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'xnly'; available: \[.*\] \(did you mean 'xnli'\?\)"):
        load_dataset("xnly", "dev")
    with pytest.raises(UnknownDatasetError, match=r"dataset 'xquad' has no split 'tset'; available: \['test'\] \(did you mean 'test'\?\)"):
        load_dataset("xquad", "tset", "de")
    with pytest.raises(UnknownDatasetError, match=r"dataset 'xnli' has no language 'dee'; available: \[.*\] \(did you mean 'de'\?\)"):
        load_dataset("xnli", "dev", "dee")
    with pytest.raises(UnknownDatasetError, match=r"dataset 'xcopa' has no language 'en'; available: \['et'"):
        load_dataset("xcopa", "val", "en")
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'zzzz'; available: \[[^(]*\]$"):
        load_dataset("zzzz", "dev")  # nothing close: no hint


def test_unknown_names_in_dataset_files_and_fetch(tmp_path):
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'xquda'.*did you mean 'xquad'"):
        dataset_files("xquda")
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'xquda'"):
        fetch("xquda", tmp_path)
    with pytest.raises(UnknownDatasetError, match="has no language 'klingon'"):
        fetch("xquad", tmp_path, languages=["klingon"])


def test_data_folder_that_is_a_file(tmp_path):
    path = _write(tmp_path / "data", "x")
    with pytest.raises(DataNotFoundError, match=rf"data folder {path} is not a folder"):
        load_dataset("copa", "val", data_dir=path)


def test_data_folder_with_an_unknown_user(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"data folder ~no-such-user-here/data: Could not determine home directory"):
        load_dataset("copa", "val", data_dir="~no-such-user-here/data")


def test_folder_that_may_not_be_searched(tmp_path, monkeypatch):
    """stat() of a file under a folder without search permission raises PermissionError (tests run as root,
    so it is simulated)."""
    _write(tmp_path / "copa/val.jsonl", _jsonl(COPA_ITEM))
    real_is_file = Path.is_file

    def is_file(self):
        if "copa" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(DataNotFoundError, match=r"copa: cannot look for copa/val\.jsonl in data folder .*Permission denied"):
        load_dataset("copa", "val", data_dir=tmp_path)


def test_fetch_into_a_data_folder_that_is_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    target = _write(tmp_path / "data", "x")
    with pytest.raises(FetchError, match=rf"cannot create the data folder {target}"):
        fetch("xquad", target, repo_id="someone/funfisher-data", languages=["de"])
