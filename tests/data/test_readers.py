"""Readers and registry: official counts on the real files, XCOPA question fix, format errors."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from funfisher.data import (
    DATASETS,
    DataFormatError,
    DataNotFoundError,
    FetchError,
    NLI_LABELS,
    fetch,
    load_dataset,
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
    remove_xquad_paragraphs,
    subsample,
)

COPA_XML = "copa/COPA-resources/datasets/copa-{}.xml"


# --------------------------------------------------------------------------------------------------
# counts on the real files
# --------------------------------------------------------------------------------------------------
def test_nli_label_order_is_documented_order():
    assert NLI_LABELS == ("entailment", "neutral", "contradiction")


def test_xnli_dev_counts(shared_data):
    first_labels = None
    for lang in DATASETS["xnli"].languages:
        examples = load_dataset("xnli", "dev", lang, shared_data)
        assert len(examples) == 2490, lang
        labels = [e.label for e in examples]
        assert Counter(labels) == {0: 830, 1: 830, 2: 830}, lang
        first_labels = first_labels or labels
        assert labels == first_labels, f"dev labels differ row-by-row in {lang}"
    assert len(DATASETS["xnli"].languages) == 15


def test_xnli_test_counts_and_speed(shared_data):
    start = time.perf_counter()
    per_language = {lang: load_dataset("xnli", "test", lang, shared_data) for lang in DATASETS["xnli"].languages}
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"reading XNLI test for 15 languages took {elapsed:.1f}s"
    for lang, examples in per_language.items():
        assert len(examples) == 5010, lang
        assert Counter(e.label for e in examples) == {0: 1670, 1: 1670, 2: 1670}, lang
        assert any("test-labels.derived.tsv" in note for note in examples.notes)


def test_xnli_tsv_csv_quoting(tmp_path):
    """Python's csv.writer quotes fields containing '"' (doubling it) and ends lines with CRLF."""
    path = tmp_path / "dev-xx.tsv"
    path.write_bytes('"He said ""hi"" twice"\tB\tneutral\r\nA\t"tab\there"\tentailment\r\n'.encode())
    examples = read_xnli_tsv(path)
    assert [(e.id, e.text_a, e.text_b, e.label) for e in examples] == [
        ("0", 'He said "hi" twice', "B", 1),
        ("1", "A", "tab\there", 0),
    ]


def test_xquad_counts_and_parallel_ids(shared_data):
    english_ids = [e.id for e in load_dataset("xquad", "test", "en", shared_data)]
    for lang in DATASETS["xquad"].languages:
        examples = load_dataset("xquad", "test", lang, shared_data)
        assert len(examples) == 1190, lang
        assert [e.id for e in examples] == english_ids, lang
        assert len({e.context for e in examples}) == 240, lang
        for e in examples:  # XQuAD offsets are exact
            text, start = e.answers[0]
            assert e.context[start : start + len(text)] == text, (lang, e.id)
    assert len(DATASETS["xquad"].languages) == 11


def test_mlqa_dev_counts(shared_data):
    expected = {"en": 1148, "de": 512, "es": 500, "ar": 517, "zh": 504, "vi": 511, "hi": 507}
    assert set(DATASETS["mlqa"].languages) == set(expected)
    found = {lang: len(load_dataset("mlqa", "dev", lang, shared_data)) for lang in expected}
    assert found == expected


def test_mlqa_test_split_missing_gives_clear_error(shared_data):
    with pytest.raises(DataNotFoundError, match=r"mlqa.*test-context-de-question-de\.json.*fetch"):
        load_dataset("mlqa", "test", "de", shared_data)


def test_xcopa_counts(shared_data):
    assert len(DATASETS["xcopa"].languages) == 11
    for lang in DATASETS["xcopa"].languages:
        assert len(load_dataset("xcopa", "val", lang, shared_data)) == 100, lang
        assert len(load_dataset("xcopa", "test", lang, shared_data)) == 500, lang


def test_copa_counts(shared_data):
    assert len(load_dataset("copa", "train", "en", shared_data)) == 400
    assert len(load_dataset("copa", "val", "en", shared_data)) == 100
    assert len(load_dataset("copa", "test", "en", shared_data)) == 500
    dev_xml = read_copa_xml(shared_data / COPA_XML.format("dev"))
    test_xml = read_copa_xml(shared_data / COPA_XML.format("test"))
    assert len(dev_xml) == 500 and len(test_xml) == 500
    assert [e.id for e in test_xml[:2]] == ["501", "502"]
    assert test_xml[0].question == "cause" and test_xml[0].label == 0  # most-plausible-alternative="1"
    # SuperGLUE val = official dev items 401..500 (same premise, choices, question, label)
    val = read_copa_jsonl(shared_data / "copa/val.jsonl")
    for v, x in zip(val, dev_xml[400:]):
        assert (v.premise, v.choices, v.question, v.label) == (x.premise, x.choices, x.question, x.label)


def test_xcopa_question_types_follow_english_copa(shared_data):
    english_val = {int(e.id): e.question for e in read_copa_jsonl(shared_data / "copa/val.jsonl")}
    english_test = {int(e.id) - 501: e.question for e in read_copa_xml(shared_data / COPA_XML.format("test"))}
    for lang in DATASETS["xcopa"].languages:
        for split, english in (("val", english_val), ("test", english_test)):
            examples = load_dataset("xcopa", split, lang, shared_data)
            assert [e.question for e in examples] == [english[int(e.id)] for e in examples], (lang, split)
            assert "taken from" in examples.notes[-1]
    # ... although upstream disagrees: Thai says "effect" for every item
    raw_th = read_copa_jsonl(shared_data / "xcopa/data/th/val.th.jsonl")
    assert {e.question for e in raw_th} == {"effect"}
    assert sum(e.question != english_val[int(e.id)] for e in raw_th) > 0
    assert "disagreed in 52 of 100" in load_dataset("xcopa", "val", "th", shared_data).notes[-1]
    assert "disagreed in 0 of 500" in load_dataset("xcopa", "test", "et", shared_data).notes[-1]
    # labels are those of English COPA
    copa_val = read_copa_jsonl(shared_data / "copa/val.jsonl")
    assert [e.label for e in load_dataset("xcopa", "val", "zh", shared_data)] == [e.label for e in copa_val]


def test_squad_dev_and_xquad_removal(shared_data):
    squad = load_dataset("squad", "dev", "en", shared_data)
    assert len(squad) == 10570
    assert any("reconstructed" in note for note in squad.notes)
    kept, note = remove_xquad_paragraphs(squad, load_dataset("xquad", "test", "en", shared_data))
    assert "removed 240 paragraphs" in note
    assert len(kept) == 10570 - 1190
    assert len({e.context for e in squad}) - len({e.context for e in kept}) == 240


def test_subsample_is_seeded_and_ordered():
    items = list(range(100))
    a, b, c = subsample(items, 10, seed=1), subsample(items, 10, seed=1), subsample(items, 10, seed=2)
    assert a == b and a != c
    assert a == sorted(a) and len(set(a)) == 10
    assert subsample(items, 500, seed=0) == items and subsample(items, None, seed=0) == items


# --------------------------------------------------------------------------------------------------
# formats not in shared/data: synthetic files
# --------------------------------------------------------------------------------------------------
def test_xnli_original_format_by_header(tmp_path):
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence1", "sentence2", "promptID", "pairID", "genre"]
    rows = [
        ["en", "neutral", "( x )", 'He said "hi', "He spoke.", "1", "1", "fiction"],
        ["de", "contradiction", "( x )", "Er sagte hallo", "Er schwieg.", "1", "1", "fiction"],
        ["de", "entailment", "( x )", "Zwei", "Drei", "2", "2", "fiction"],
    ]
    path = tmp_path / "xnli.dev.tsv"
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    en = read_xnli_original_tsv(path, "en")
    assert [(e.id, e.text_a, e.label) for e in en] == [("1", 'He said "hi', 1)]  # bare quote kept
    de = read_xnli_original_tsv(path, "de")
    assert [(e.text_b, e.label) for e in de] == [("Er schwieg.", 2), ("Drei", 0)]
    with pytest.raises(DataFormatError, match="languages present"):
        read_xnli_original_tsv(path, "fr")
    # the registry falls back to XNLI-1.0/ when the per-language file is absent
    (tmp_path / "XNLI-1.0").mkdir()
    path.rename(tmp_path / "XNLI-1.0" / "xnli.dev.tsv")
    assert len(load_dataset("xnli", "dev", "de", tmp_path)) == 2


def test_mnli_skips_unlabelled_and_says_so(tmp_path):
    lines = [
        {"gold_label": "entailment", "sentence1": "a", "sentence2": "b", "pairID": "1e"},
        {"gold_label": "-", "sentence1": "c", "sentence2": "d", "pairID": "2n"},
        {"gold_label": "contradiction", "sentence1": "e", "sentence2": "f", "pairID": "3c", "genre": "x"},
    ]
    path = tmp_path / "multinli_1.0_dev_matched.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    examples = read_mnli_jsonl(path)
    assert [(e.id, e.label) for e in examples] == [("1e", 0), ("3c", 2)]
    assert examples.notes == ["multinli_1.0_dev_matched.jsonl: skipped 1 examples with gold_label '-' (no annotator consensus)"]
    (tmp_path / "mnli").mkdir()
    path.rename(tmp_path / "mnli" / path.name)
    assert len(load_dataset("mnli", "dev_matched", data_dir=tmp_path)) == 2


# --------------------------------------------------------------------------------------------------
# malformed inputs
# --------------------------------------------------------------------------------------------------
def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_broken_json_names_file_and_line(tmp_path):
    path = _write(tmp_path, "broken.json", '{"data": [\n  {"title": "x",\n  "paragraphs": [}\n]}')
    with pytest.raises(DataFormatError, match=r"broken\.json: line 3 column \d+: invalid JSON") as info:
        read_squad_json(path)
    assert isinstance(info.value, ValueError)


def test_squad_missing_field_names_record(tmp_path):
    data = {"data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "a", "answer_start": 0}]},
        {"id": "q2", "question": "?", "answers": [{"text": "b"}]},
    ]}]}]}
    path = _write(tmp_path, "missing.json", json.dumps(data))
    with pytest.raises(DataFormatError, match=r"missing\.json: record data\[0\]\.paragraphs\[0\]\.qas\[1\]\.answers\[0\] \(id=q2\): missing field 'answer_start'"):
        read_squad_json(path)


def test_squad_wrong_type(tmp_path):
    path = _write(tmp_path, "type.json", json.dumps({"data": [{"paragraphs": [{"context": 3, "qas": []}]}]}))
    with pytest.raises(DataFormatError, match=r"data\[0\]\.paragraphs\[0\]: field 'context' should be str"):
        read_squad_json(path)


def test_xnli_unknown_label_names_line(tmp_path):
    path = _write(tmp_path, "dev-xx.tsv", "a\tb\tentailment\r\nc\td\tmaybe\r\n")
    with pytest.raises(DataFormatError, match=r"dev-xx\.tsv: line 2 \(row 1\): unknown label 'maybe'; expected one of entailment"):
        read_xnli_tsv(path)


def test_xnli_wrong_column_count(tmp_path):
    path = _write(tmp_path, "dev-yy.tsv", "a\tb\tneutral\r\nc\td\r\n")
    with pytest.raises(DataFormatError, match=r"dev-yy\.tsv: line 2 \(row 1\): expected 3 columns like the first row, found 2"):
        read_xnli_tsv(path)
    path = _write(tmp_path, "dev-zz.tsv", "only one column\r\n")
    with pytest.raises(DataFormatError, match=r"line 1 \(row 0\): expected 3 columns"):
        read_xnli_tsv(path)


def test_xnli_labels_count_mismatch(tmp_path):
    path = _write(tmp_path, "test-xx.tsv", "a\tb\r\nc\td\r\n")
    assert [e.label for e in read_xnli_tsv(path)] == [None, None]
    assert [e.label for e in read_xnli_tsv(path, labels=[2, 0])] == [2, 0]
    with pytest.raises(DataFormatError, match=r"test-xx\.tsv: end of file: 2 rows but 3 labels"):
        read_xnli_tsv(path, labels=[0, 1, 2])
    labels = _write(tmp_path, "labels.tsv", "genre\tlabel\nfiction\tneutral\nfiction\n")
    with pytest.raises(DataFormatError, match=r"labels\.tsv: line 3: expected 2 columns"):
        read_xnli_test_labels(labels)


@pytest.mark.parametrize("reader,name", [
    (read_squad_json, "empty.json"), (read_xnli_tsv, "empty.tsv"), (read_copa_jsonl, "empty.jsonl"),
    (read_copa_xml, "empty.xml"), (read_mnli_jsonl, "empty2.jsonl"),
])
def test_empty_file(tmp_path, reader, name):
    path = _write(tmp_path, name, "\n  \n")
    with pytest.raises(DataFormatError, match=rf"{name}: file is empty"):
        reader(path)


def test_jsonl_errors_name_line(tmp_path):
    good = {"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 0, "idx": 0}
    path = _write(tmp_path, "copa.jsonl", json.dumps(good) + "\n{not json}\n")
    with pytest.raises(DataFormatError, match=r"copa\.jsonl: line 2: invalid JSON"):
        read_copa_jsonl(path)
    bad = dict(good, label=2)
    path = _write(tmp_path, "copa2.jsonl", json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataFormatError, match=r"copa2\.jsonl: line 3: label should be 0 or 1, found 2"):
        read_copa_jsonl(path)
    missing = {k: v for k, v in good.items() if k != "choice2"}
    path = _write(tmp_path, "copa3.jsonl", json.dumps(missing) + "\n")
    with pytest.raises(DataFormatError, match=r"copa3\.jsonl: line 1: missing field 'choice2'"):
        read_copa_jsonl(path)
    path = _write(tmp_path, "mnli.jsonl", json.dumps({"gold_label": "yes", "sentence1": "a", "sentence2": "b", "pairID": "1"}) + "\n")
    with pytest.raises(DataFormatError, match=r"mnli\.jsonl: line 1: unknown label 'yes'"):
        read_mnli_jsonl(path)


def test_copa_xml_errors(tmp_path):
    path = _write(tmp_path, "bad.xml", '<copa-corpus>\n<item id="1" asks-for="cause" most-plausible-alternative="1">\n<p>x</p>\n</copa-corpus>')
    with pytest.raises(DataFormatError, match=r"bad\.xml: line 4 column \d+: invalid XML"):
        read_copa_xml(path)
    path = _write(tmp_path, "bad2.xml", (
        '<copa-corpus><item id="1" asks-for="cause" most-plausible-alternative="1"><p>x</p><a1>y</a1><a2>z</a2></item>'
        '<item id="2" asks-for="effect" most-plausible-alternative="3"><p>x</p><a1>y</a1><a2>z</a2></item></copa-corpus>'
    ))
    with pytest.raises(DataFormatError, match=r"bad2\.xml: item 2 \(id=2\): most-plausible-alternative should be 1 or 2"):
        read_copa_xml(path)
    path = _write(tmp_path, "bad3.xml", '<copa-corpus><item id="7" asks-for="cause" most-plausible-alternative="2"><p>x</p><a1>y</a1></item></copa-corpus>')
    with pytest.raises(DataFormatError, match=r"bad3\.xml: item 1 \(id=7\): missing or empty <a2>"):
        read_copa_xml(path)


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
def test_registry_metadata():
    assert set(DATASETS) == {"xnli", "mnli", "xquad", "mlqa", "squad", "xcopa", "copa"}
    assert DATASETS["xnli"].splits == ("dev", "test") and DATASETS["xnli"].num_labels == 3
    assert DATASETS["mlqa"].metric == "mlqa" and DATASETS["xquad"].metric == "squad"
    assert DATASETS["xcopa"].task == "multiple_choice" and "en" not in DATASETS["xcopa"].languages


def test_data_dir_from_argument_env_or_error(shared_data, monkeypatch, tmp_path):
    monkeypatch.delenv("FUNFISHER_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="FUNFISHER_DATA"):
        load_dataset("copa", "val")
    monkeypatch.setenv("FUNFISHER_DATA", str(shared_data))
    assert len(load_dataset("copa", "val")) == 100
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset("copa", "val", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match=r"copa/val\.jsonl not found"):
        load_dataset("copa", "val", data_dir=tmp_path)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown dataset 'xnly'"):
        load_dataset("xnly", "dev")
    with pytest.raises(ValueError, match=r"no language 'en'; available: \['et'"):
        load_dataset("xcopa", "val", "en")
    with pytest.raises(ValueError, match="no split 'train'"):
        load_dataset("xquad", "train", "de")


def test_fetch_offline_raises_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FUNFISHER_HUB_DATA_REPO", raising=False)
    start = time.perf_counter()
    with pytest.raises(FetchError, match="HF_HUB_OFFLINE"):
        fetch("xquad", tmp_path, repo_id="someone/funfisher-data", languages=["de"])
    with pytest.raises(FetchError, match="no Hub dataset repo given"):
        fetch("xquad", tmp_path, languages=["de"])
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "xquad").exists()


def test_fetch_is_a_no_op_when_files_exist(shared_data, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths = fetch("xcopa", shared_data, splits=["val"], languages=["et"])
    assert [p.relative_to(shared_data).as_posix() for p in paths] == ["xcopa/data/et/val.et.jsonl", "copa/val.jsonl"]
