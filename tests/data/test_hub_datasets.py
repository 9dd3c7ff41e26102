"""Datasets from the Hugging Face hub (funfisher/data/hub_datasets.py), with no network.

The tests write small Parquet files in the layouts and schemas of the canonical repos (the columns,
dtypes and ClassLabel metadata the `datasets` library writes) into a temporary HF cache laid out as
huggingface_hub lays it out (datasets--owner--name/{blobs, snapshots/<commit>/<path> -> blob,
refs/<revision>}), with HF_HUB_OFFLINE=1, so `snapshot_download` serves them from the cache. Where
the real data folder exists (../shared/data), hub-schema files are written from the local files and
`load_dataset(source="hub")` must equal `load_dataset(source="local")` example for example.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from funfisher.data import (DataFormatError, DataNotFoundError, FetchError, PyArrowMissingError,  # noqa: E402
                            UnknownDatasetError, load_dataset)
from funfisher.data.examples import NLI_LABELS, ChoiceExample, PairExample, QAExample  # noqa: E402
from funfisher.errors import UserError  # noqa: E402
from funfisher.runconfig import ConfigError, diff_configs, from_dict, load_config, to_dict, to_toml  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.toml"


# --------------------------------------------------------------------------------------------------
# a hub cache, as huggingface_hub lays it out
# --------------------------------------------------------------------------------------------------
class FakeHub:
    """Writes dataset repos into an HF cache folder the way `hf_hub_download` leaves them."""

    def __init__(self, cache: Path):
        self.cache = cache

    def folder(self, repo_id: str) -> Path:
        owner, name = repo_id.split("/")
        return self.cache / f"datasets--{owner}--{name}"

    def put(self, repo_id: str, files: dict[str, "pa.Table"], revision: str = "main") -> str:
        """Add `files` (repo path -> table) to the snapshot `revision` points to; its commit hash."""
        repo = self.folder(repo_id)
        commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()  # 40 hex digits, like a git commit
        for relpath, table in files.items():
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            data = sink.getvalue().to_pybytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()  # LFS files are stored by sha256
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = repo / "snapshots" / commit / relpath
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
        ref = repo / "refs" / revision  # "refs/convert/parquet" -> refs/refs/convert/parquet, as the library does
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)  # no newline: huggingface_hub reads the file as the hash
        return commit


@pytest.fixture
def hub(tmp_path, monkeypatch) -> FakeHub:
    """An empty offline HF cache. huggingface_hub reads HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE
    when it is imported (huggingface_hub.constants), so the constants are patched as well as the
    environment; the token paths point into the temporary folder too."""
    from huggingface_hub import constants

    home = tmp_path / "hf"
    cache = home / "hub"
    cache.mkdir(parents=True)
    for name, value in {"HF_HOME": home, "HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    return FakeHub(cache)


# --------------------------------------------------------------------------------------------------
# Parquet files with the canonical schemas (hub_datasets module docstring)
# --------------------------------------------------------------------------------------------------
STRING = {"dtype": "string", "_type": "Value"}


def hf_table(columns: dict, types: dict, features: dict) -> "pa.Table":
    """A table as the `datasets` library writes it: the features in the schema metadata."""
    schema = pa.schema([(name, types[name]) for name in columns])
    table = pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()}, schema=schema)
    return table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def class_label(names) -> dict:
    return {"names": list(names), "_type": "ClassLabel"}


def xnli_table(pairs: list[tuple[str, str, int]], names=NLI_LABELS) -> "pa.Table":
    """facebook/xnli <lang>/*.parquet: premise, hypothesis, label (ClassLabel `names`)."""
    return hf_table({"premise": [p for p, _, _ in pairs], "hypothesis": [h for _, h, _ in pairs],
                     "label": [label for _, _, label in pairs]},
                    {"premise": pa.string(), "hypothesis": pa.string(), "label": pa.int64()},
                    {"premise": STRING, "hypothesis": STRING, "label": class_label(names)})


def nli_pairs(examples) -> list[tuple[str, str, int]]:
    return [(e.text_a, e.text_b, e.label) for e in examples]


def mnli_table(rows: list[tuple[str, str, str, int]]) -> "pa.Table":
    """nyu-mll/multi_nli data/*.parquet: promptID, pairID, premise, ..., genre, label."""
    columns = {"promptID": [int(pair[:-1]) for pair, _, _, _ in rows], "pairID": [r[0] for r in rows],
               "premise": [r[1] for r in rows], "premise_binary_parse": ["( x )"] * len(rows),
               "premise_parse": ["(ROOT x)"] * len(rows), "hypothesis": [r[2] for r in rows],
               "hypothesis_binary_parse": ["( y )"] * len(rows), "hypothesis_parse": ["(ROOT y)"] * len(rows),
               "genre": ["fiction"] * len(rows), "label": [r[3] for r in rows]}
    types = {name: pa.string() for name in columns} | {"promptID": pa.int32(), "label": pa.int64()}
    features = {name: STRING for name in columns} | {"promptID": {"dtype": "int32", "_type": "Value"},
                                                      "label": class_label(NLI_LABELS)}
    return hf_table(columns, types, features)


ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))])
ANSWERS_FEATURE = {"feature": {"text": STRING, "answer_start": {"dtype": "int32", "_type": "Value"}},
                   "_type": "Sequence"}


def qa_table(examples, title: bool = True) -> "pa.Table":
    """rajpurkar/squad and google/xtreme MLQA (with title), google/xquad (without)."""
    columns = {"id": [e.id for e in examples]}
    if title:
        columns["title"] = [e.title for e in examples]
    columns |= {"context": [e.context for e in examples], "question": [e.question for e in examples],
                "answers": [{"text": [t for t, _ in e.answers], "answer_start": [s for _, s in e.answers]}
                            for e in examples]}
    types = {name: pa.string() for name in columns} | {"answers": ANSWERS}
    features = {name: STRING for name in columns} | {"answers": ANSWERS_FEATURE}
    return hf_table(columns, types, features)


def copa_table(rows: list[dict], superglue: bool) -> "pa.Table":
    """aps/super_glue copa/<split>/*.parquet (label ClassLabel [choice1, choice2], -1 on test) or
    cambridgeltl/xcopa <lang>/*.parquet (label int32, and a `changed` column)."""
    columns = {key: [row[key] for row in rows] for key in ("premise", "choice1", "choice2", "question")}
    columns |= {"idx": [row["idx"] for row in rows], "label": [row["label"] for row in rows]}
    int32 = {"dtype": "int32", "_type": "Value"}
    types = {name: pa.string() for name in columns} | {"idx": pa.int32()}
    features = {name: STRING for name in columns} | {"idx": int32}
    if superglue:
        types["label"], features["label"] = pa.int64(), class_label(["choice1", "choice2"])
    else:
        types["label"], features["label"] = pa.int32(), int32
        columns["changed"], types["changed"], features["changed"] = [False] * len(rows), pa.bool_(), \
            {"dtype": "bool", "_type": "Value"}
    return hf_table(columns, types, features)


def copa_rows(examples) -> list[dict]:
    return [{"premise": e.premise, "choice1": e.choices[0], "choice2": e.choices[1], "question": e.question,
             "idx": int(e.id), "label": e.label} for e in examples]


def copa_item(idx: int, question: str, label: int = 0, premise: str = "p") -> dict:
    return {"premise": f"{premise}{idx}", "choice1": f"a{idx}", "choice2": f"b{idx}", "question": question,
            "idx": idx, "label": label}


PAIRS = [("A man sleeps.", "A person rests.", 0), ("It rains.", "The sun shines.", 2), ("She sings.", "She is happy.", 1)]


# --------------------------------------------------------------------------------------------------
# the cache itself
# --------------------------------------------------------------------------------------------------
def test_the_fake_cache_is_a_cache_huggingface_hub_recognises(hub):
    from huggingface_hub import scan_cache_dir, snapshot_download

    commit = hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": xnli_table(PAIRS)})
    info = scan_cache_dir(hub.cache)
    (repo,) = info.repos
    assert (repo.repo_id, repo.repo_type, set(repo.refs)) == ("facebook/xnli", "dataset", {"main"})
    (revision,) = repo.revisions
    assert revision.commit_hash == commit and revision.refs == {"main"}
    assert [f.file_path.relative_to(revision.snapshot_path).as_posix() for f in revision.files] == [
        "de/validation-00000-of-00001.parquet"]
    folder = snapshot_download("facebook/xnli", repo_type="dataset", allow_patterns=["de/validation-*.parquet"])
    assert Path(folder).name == commit


# --------------------------------------------------------------------------------------------------
# each dataset, in its canonical layout
# --------------------------------------------------------------------------------------------------
def test_xnli_dev_and_test_ids_labels_and_shards(hub):
    hub.put("facebook/xnli", {
        "de/validation-00000-of-00002.parquet": xnli_table(PAIRS[:2]),
        "de/validation-00001-of-00002.parquet": xnli_table(PAIRS[2:]),
        "de/test-00000-of-00001.parquet": xnli_table(PAIRS[::-1]),
        "en/validation-00000-of-00001.parquet": xnli_table([("English.", "Yes.", 1)]),
    })
    dev = load_dataset("xnli", "dev", "de", source="hub")
    assert dev == [PairExample("0", "A man sleeps.", "A person rests.", 0), PairExample("1", "It rains.", "The sun shines.", 2),
                   PairExample("2", "She sings.", "She is happy.", 1)]  # ids run on across shards
    assert "facebook/xnli@" in dev.notes[0] and "de/validation-00001-of-00002.parquet" in dev.notes[0]
    assert [e.label for e in load_dataset("xnli", "test", "de", source="hub")] == [1, 2, 0]
    assert load_dataset("xnli", "dev", "en", source="hub") == [PairExample("0", "English.", "Yes.", 1)]


def test_labels_are_mapped_by_name_and_a_repo_id_reads_that_repo(hub):
    """A repo with another ClassLabel order: the names decide, not the integers."""
    names = ("contradiction", "entailment", "neutral")
    hub.put("someone/xnli-copy", {"de/validation-00000-of-00001.parquet":
                                  xnli_table([("a", "b", 0), ("c", "d", 1), ("e", "f", 2)], names=names)})
    examples = load_dataset("xnli", "dev", "de", source="someone/xnli-copy")
    assert [NLI_LABELS[e.label] for e in examples] == list(names)
    assert "someone/xnli-copy@" in examples.notes[0]


def test_a_file_without_label_names_uses_the_documented_order_and_says_so(hub):
    table = xnli_table(PAIRS).replace_schema_metadata(None)
    hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": table})
    examples = load_dataset("xnli", "dev", "de", source="hub")
    assert [e.label for e in examples] == [0, 2, 1]
    assert any("no ClassLabel names" in note and "0 entailment" in note for note in examples.notes)


def test_mnli_splits_pair_ids_and_unlabelled_rows(hub):
    rows = [("1n", "P1", "H1", 1), ("2e", "P2", "H2", 0), ("3c", "P3", "H3", -1), ("4c", "P4", "H4", 2)]
    hub.put("nyu-mll/multi_nli", {"data/validation_matched-00000-of-00001.parquet": mnli_table(rows),
                                  "data/validation_mismatched-00000-of-00001.parquet": mnli_table(rows[:1]),
                                  "data/train-00000-of-00001.parquet": mnli_table(rows[1:2])})
    matched = load_dataset("mnli", "dev_matched", source="hub")
    assert matched == [PairExample("1n", "P1", "H1", 1), PairExample("2e", "P2", "H2", 0),
                       PairExample("4c", "P4", "H4", 2)]
    assert any("skipped 1 unlabelled" in note for note in matched.notes)
    assert [e.id for e in load_dataset("mnli", "dev_mismatched", source="hub")] == ["1n"]
    assert [e.id for e in load_dataset("mnli", "train", source="hub")] == ["2e"]


QA = [QAExample("q1", "Who?", "Alice met Bob.", (("Alice", 0), ("Alice", 0)), "Names"),
      QAExample("q2", "Whom?", "Alice met Bob.", (("Bob", 10),), "Names")]


def test_squad_xquad_and_mlqa(hub):
    hub.put("rajpurkar/squad", {"plain_text/validation-00000-of-00001.parquet": qa_table(QA),
                                "plain_text/train-00000-of-00001.parquet": qa_table(QA[:1])})
    hub.put("google/xquad", {"xquad.de/validation-00000-of-00001.parquet": qa_table(QA, title=False)})
    hub.put("google/xtreme", {"MLQA.de.de/validation-00000-of-00001.parquet": qa_table(QA[1:]),
                              "MLQA.de.de/test-00000-of-00001.parquet": qa_table(QA[:1]),
                              "MLQA.de.en/validation-00000-of-00001.parquet": qa_table(QA[:1])})
    assert load_dataset("squad", "dev", source="hub") == QA
    assert load_dataset("squad", "train", source="hub") == QA[:1]
    xquad = load_dataset("xquad", "test", "de", source="hub")
    assert xquad == [dataclasses.replace(e, title="") for e in QA]  # google/xquad has no title column
    assert any("no article titles" in note for note in xquad.notes)
    assert load_dataset("mlqa", "dev", "de", source="hub") == QA[1:]  # MLQA.de.de, not MLQA.de.en
    assert load_dataset("mlqa", "test", "de", source="hub") == QA[:1]


def test_xcopa_takes_the_question_type_from_english_copa(hub):
    """The hub's XCOPA question field has the upstream errors too; SuperGLUE COPA's is used by idx
    (validation for val; test, whose labels are -1, for test)."""
    hub.put("cambridgeltl/xcopa", {
        "sw/validation-00000-of-00001.parquet": copa_table([copa_item(0, "effect", 1), copa_item(1, "effect", 0)],
                                                           superglue=False),
        "sw/test-00000-of-00001.parquet": copa_table([copa_item(0, "cause", 0)], superglue=False)})
    hub.put("aps/super_glue", {"copa/validation/0000.parquet": copa_table(
                                   [copa_item(0, "effect", 1), copa_item(1, "cause", 1)], superglue=True),
                               "copa/test/0000.parquet": copa_table([copa_item(0, "effect", -1)], superglue=True)},
            revision="refs/convert/parquet")
    val = load_dataset("xcopa", "val", "sw", source="hub")
    assert val == [ChoiceExample("0", "p0", "effect", ("a0", "b0"), 1), ChoiceExample("1", "p1", "cause", ("a1", "b1"), 0)]
    assert any("disagreed in 1 of 2" in note for note in val.notes)
    assert [e.question for e in load_dataset("xcopa", "test", "sw", source="hub")] == ["effect"]


def test_copa_train_and_val_and_no_test(hub):
    hub.put("aps/super_glue", {"copa/train/0000.parquet": copa_table([copa_item(5, "cause", 1)], superglue=True),
                               "copa/validation/0000.parquet": copa_table([copa_item(400, "effect", 0)], superglue=True)},
            revision="refs/convert/parquet")
    assert load_dataset("copa", "train", source="hub") == [ChoiceExample("5", "p5", "cause", ("a5", "b5"), 1)]
    assert load_dataset("copa", "val", source="hub") == [ChoiceExample("400", "p400", "effect", ("a400", "b400"), 0)]
    # the canonical id reads exactly what "hub" reads (its refs/convert/parquet branch)
    assert load_dataset("copa", "val", source="aps/super_glue") == load_dataset("copa", "val", source="hub")
    with pytest.raises(DataNotFoundError, match="unlabelled.*copa-test.xml"):
        load_dataset("copa", "test", source="hub")


REQUESTS = [  # (dataset, split, lang) -> what snapshot_download is asked for: repo, revision, allow_patterns
    (("xnli", "dev", "de"), ("facebook/xnli", "main", ["de/validation-*.parquet"])),
    (("xnli", "test", "sw"), ("facebook/xnli", "main", ["sw/test-*.parquet"])),
    (("mnli", "dev_matched", "en"), ("nyu-mll/multi_nli", "main", ["data/validation_matched-*.parquet"])),
    (("squad", "dev", "en"), ("rajpurkar/squad", "main", ["plain_text/validation-*.parquet"])),
    (("xquad", "test", "de"), ("google/xquad", "main", ["xquad.de/validation-*.parquet"])),
    (("mlqa", "test", "de"), ("google/xtreme", "main", ["MLQA.de.de/test-*.parquet"])),
    (("xcopa", "val", "sw"), ("cambridgeltl/xcopa", "main", ["sw/validation-*.parquet"])),
    (("copa", "train", "en"), ("aps/super_glue", "refs/convert/parquet", ["copa/train/*.parquet"])),
]


@pytest.mark.parametrize(("args", "expected"), REQUESTS, ids=["/".join(args) for args, _ in REQUESTS])
def test_each_dataset_asks_the_hub_for_its_split_files(args, expected, hub, monkeypatch, tmp_path):
    """Online (HF_HUB_OFFLINE unset): one snapshot_download of the dataset repo, one glob."""
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked = []

    def snapshot_download(repo_id, **kwargs):
        asked.append((repo_id, kwargs))
        return str(tmp_path / "empty-snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(DataNotFoundError, match="has no file matching"):
        load_dataset(*args, source="hub")
    ((repo_id, kwargs),) = asked
    assert (repo_id, kwargs["revision"], kwargs["allow_patterns"]) == expected
    assert kwargs["repo_type"] == "dataset" and kwargs["local_files_only"] is False


def test_every_registered_split_has_a_hub_layout_or_a_reason():
    from funfisher.data.hub_datasets import LAYOUTS
    from funfisher.data.registry import DATASETS

    assert set(LAYOUTS) == set(DATASETS)
    for name, spec in DATASETS.items():
        layout = LAYOUTS[name]
        assert set(layout.splits) | set(layout.refused or {}) == set(spec.splits), name


# --------------------------------------------------------------------------------------------------
# the same examples as the local readers, from the real files
# --------------------------------------------------------------------------------------------------
def test_hub_examples_equal_local_examples_on_the_real_data(hub, shared_data):
    local = lambda *args: load_dataset(*args, data_dir=shared_data)  # noqa: E731
    hub_ = lambda *args: load_dataset(*args, source="hub")  # noqa: E731

    # XNLI dev and test (de): row indices as ids, labels by name
    dev, test = local("xnli", "dev", "de"), local("xnli", "test", "de")
    hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": xnli_table(nli_pairs(dev)),
                              "de/test-00000-of-00001.parquet": xnli_table(nli_pairs(test))})
    assert hub_("xnli", "dev", "de") == dev and len(dev) == 2490
    assert hub_("xnli", "test", "de") == test and len(test) == 5010

    # XQuAD de: the hub has no titles
    xquad = local("xquad", "test", "de")
    hub.put("google/xquad", {"xquad.de/validation-00000-of-00001.parquet": qa_table(xquad, title=False)})
    assert hub_("xquad", "test", "de") == [dataclasses.replace(e, title="") for e in xquad] and len(xquad) == 1190

    # MLQA dev de, SQuAD dev (the reconstructed file locally)
    mlqa, squad = local("mlqa", "dev", "de"), local("squad", "dev", "en")
    hub.put("google/xtreme", {"MLQA.de.de/validation-00000-of-00001.parquet": qa_table(mlqa)})
    hub.put("rajpurkar/squad", {"plain_text/validation-00000-of-00001.parquet": qa_table(squad)})
    assert hub_("mlqa", "dev", "de") == mlqa and hub_("squad", "dev", "en") == squad

    # XCOPA sw val and test, with English COPA (SuperGLUE val; test from copa-test.xml, labels -1)
    copa_train, copa_val = local("copa", "train", "en"), local("copa", "val", "en")
    xml = ET.parse(shared_data / "copa/COPA-resources/datasets/copa-test.xml").getroot()
    superglue_test = [{"premise": item.find("p").text, "choice1": item.find("a1").text,
                       "choice2": item.find("a2").text, "question": item.get("asks-for"),
                       "idx": int(item.get("id")) - 501, "label": -1} for item in xml.iter("item")]
    hub.put("aps/super_glue", {"copa/train/0000.parquet": copa_table(copa_rows(copa_train), superglue=True),
                               "copa/validation/0000.parquet": copa_table(copa_rows(copa_val), superglue=True),
                               "copa/test/0000.parquet": copa_table(superglue_test, superglue=True)},
            revision="refs/convert/parquet")
    assert hub_("copa", "train", "en") == copa_train and len(copa_train) == 400
    assert hub_("copa", "val", "en") == copa_val
    for split in ("val", "test"):  # the raw XCOPA rows, as on the hub: question types still wrong in sw
        raw = [json.loads(line) for line in (shared_data / f"xcopa/data/sw/{split}.sw.jsonl").read_text().splitlines()
               if line.strip()]
        hub.put("cambridgeltl/xcopa", {f"sw/{'validation' if split == 'val' else 'test'}-00000-of-00001.parquet":
                                       copa_table(raw, superglue=False)})
        assert hub_("xcopa", split, "sw") == local("xcopa", split, "sw")


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------
def test_without_pyarrow_the_error_says_how_to_install_it(hub, monkeypatch):
    hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": xnli_table(PAIRS)})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(PyArrowMissingError, match=r"pip install pyarrow") as info:
        load_dataset("xnli", "dev", "de", source="hub")
    assert isinstance(info.value, UserError) and isinstance(info.value, ImportError)
    assert load_dataset("xnli", "dev", "de", data_dir=REPO / "data/demo")  # local data needs no pyarrow


def test_offline_a_file_missing_from_the_cached_snapshot_names_repo_and_file(hub):
    hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": xnli_table(PAIRS)})
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("xnli", "dev", "sw", source="hub")
    message = str(info.value)
    assert "facebook/xnli" in message and "sw/validation-*.parquet" in message and "HF_HUB_OFFLINE" in message
    assert "\n" not in message


def test_offline_a_repo_not_in_the_cache_names_repo_and_file(hub):
    with pytest.raises(FetchError) as info:
        load_dataset("xquad", "test", "de", source="hub")
    message = str(info.value)
    assert "google/xquad" in message and "xquad.de/validation-*.parquet" in message and "not in the local HF cache" \
        in message
    with pytest.raises(FetchError, match="someone/nothing-here"):
        load_dataset("xnli", "dev", "de", source="someone/nothing-here")


def test_a_file_with_the_wrong_columns_names_file_and_column(hub):
    table = pa.table({"sentence1": ["a"], "sentence2": ["b"], "label": [0]})
    hub.put("facebook/xnli", {"de/validation-00000-of-00001.parquet": table})
    with pytest.raises(DataFormatError, match=r"validation-00000-of-00001.parquet: missing column\(s\) \['premise', "
                                              r"'hypothesis'\]"):
        load_dataset("xnli", "dev", "de", source="hub")


def test_an_answer_outside_the_context_is_an_error(hub):
    bad = [QAExample("q", "Who?", "short", (("x", 99),), "")]
    hub.put("google/xquad", {"xquad.de/validation-00000-of-00001.parquet": qa_table(bad, title=False)})
    with pytest.raises(DataFormatError, match=r"row 0 \(id=q\): answer_start 99 is outside the context"):
        load_dataset("xquad", "test", "de", source="hub")


@pytest.mark.parametrize("source", ["hbu", "", "owner/name/extra", "/abs/path", None])
def test_a_bad_source_is_one_clear_error(source):
    with pytest.raises(UnknownDatasetError, match=r'must be "local", "hub" or a Hugging Face dataset repo id'):
        load_dataset("xnli", "dev", "de", source=source)


def test_local_is_the_default_and_unchanged():
    demo = REPO / "data/demo"
    assert load_dataset("xnli", "dev", "de", data_dir=demo) == load_dataset("xnli", "dev", "de", data_dir=demo,
                                                                             source="local")


# --------------------------------------------------------------------------------------------------
# configs and callers
# --------------------------------------------------------------------------------------------------
def test_a_config_selects_hub_data():
    config = load_config(DEMO, ["task.train.source=hub", "task.evaluate.source=someone/xnli-copy"])
    assert (config.task.train.source, config.task.validation.source, config.task.evaluate.source) == (
        "hub", "local", "someone/xnli-copy")


def test_a_bad_source_in_a_config_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r'^--set: task.evaluate.source = "hbu": must be "local", "hub" or a '
                                          r'Hugging Face dataset repo id \(owner/name\) \(did you mean "hub"\?\)$'):
        load_config(DEMO, ["task.evaluate.source=hbu"])
    path = tmp_path / "run.toml"
    path.write_text('name = "x"\n\n[task.validation]\nsplit = "dev"\nsource = "a b"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f'{path} line 5: task.validation.source = "a b": must be "local"')


def test_a_split_the_hub_does_not_have_is_refused_at_load():
    with pytest.raises(ConfigError, match=r'task.evaluate.source = "hub": copa test is not available from the hub'):
        load_config(REPO / "configs/cpu/xcopa_e5.toml",
                    ["task.evaluate.dataset=copa", "task.evaluate.split=test", "task.evaluate.languages=['en']",
                     "task.evaluate.source=hub"])


ROLES = ("train", "validation", "evaluate")
SAVED_RUN = REPO / "results/study/xnli/n2000/lpft/n2000/seed1"  # written before `source` existed


def test_an_old_run_config_without_source_still_loads(tmp_path, tiny_config):
    """A run folder's config.toml (and results.json config) from before `source` existed."""
    tree = to_dict(tiny_config())
    for role in ROLES:
        del tree["task"][role]["source"]
    path = tmp_path / "config.toml"
    path.write_text(to_toml(tree), encoding="utf-8")
    assert "\nsource = " not in path.read_text(encoding="utf-8")
    config = load_config(path)
    assert [getattr(config.task, role).source for role in ROLES] == ["local"] * 3
    # resuming compares to_dict(from_dict(saved)) with the current config: no difference
    assert diff_configs(to_dict(from_dict(tree)), to_dict(tiny_config())) == []


def test_a_saved_run_folder_from_before_source_loads():
    if not (SAVED_RUN / "config.toml").is_file():
        pytest.skip(f"no saved run at {SAVED_RUN}")
    assert "\nsource = " not in (SAVED_RUN / "config.toml").read_text(encoding="utf-8")
    config = load_config(SAVED_RUN / "config.toml")
    assert [getattr(config.task, role).source for role in ROLES] == ["local"] * 3
    saved = json.loads((SAVED_RUN / "results.json").read_text(encoding="utf-8"))["config"]
    assert to_dict(from_dict(saved)) == to_dict(config)


def test_the_trainer_and_evaluator_pass_each_splits_source(monkeypatch, tiny_config):
    from funfisher import evaluation
    from funfisher.train import recipe

    calls = []
    monkeypatch.setattr(recipe.D, "load_dataset", lambda *a, **kw: calls.append((a, kw)) or [])
    config = tiny_config("task.train.source=hub", "task.validation.source=someone/xnli-copy",
                         "task.evaluate.source=hub")
    recipe.check_data(config)
    assert [kw["source"] for _, kw in calls] == ["hub", "someone/xnli-copy", "hub", "hub", "hub"]

    calls.clear()
    squad = dataclasses.replace(config.task.train, dataset="squad", split="dev", languages=["en"], exclude_xquad=True,
                                source="someone/squad-copy", n=None)
    monkeypatch.setattr(recipe.D, "remove_xquad_paragraphs", lambda examples, xquad: (examples, "note"))
    recipe.load_split(squad, None, 0)
    assert [(a[0], kw["source"]) for a, kw in calls] == [("squad", "someone/squad-copy"), ("xquad", "hub")]

    seen = {}
    monkeypatch.setattr(evaluation, "zero_shot", lambda *a, **kw: seen.update(kw) or {})
    evaluation.evaluate_zero_shot(None, None, config, (), "task")
    assert seen["source"] == "hub"
