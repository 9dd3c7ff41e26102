"""Data: readers for the original benchmark formats, a dataset registry, features, metrics.

    examples = load_dataset("xquad", "test", lang="de", data_dir=...)     # registry.py
    features = encode_qa(tokenizer, examples)                              # features.py
    batch    = collate(features[:32], pad_id_of(tokenizer))                # batching.py
    answers  = postprocess_qa(examples, features, start_logits, end_logits)
    scores   = qa_scores(gold_answers(examples), answers, "squad")         # metrics.py

Modules: `examples` (dataclasses, NLI label order), `readers` (one function per file format),
`registry` (DATASETS, load_dataset, fetch), `hub_datasets` (the same examples from the Parquet
files of the canonical Hugging Face hub repos: `load_dataset(..., source="hub")`), `features`,
`batching`, `hygiene`, `metrics`, `predictions` (saved per-example predictions and their
scoring), `score_cli` (the `eval.py score` command), `errors`.
"""
from .batching import collate, feature_length, length_bucketed_batches, pad_id_of
from .errors import DataFormatError, DataNotFoundError, FetchError, UnknownDatasetError
from .examples import NLI_LABELS, ChoiceExample, ExampleList, PairExample, QAExample
from .features import (
    ChoiceFeature,
    ClassificationFeature,
    QAFeature,
    encode_choices,
    encode_pairs,
    encode_qa,
    postprocess_qa,
)
from .hygiene import remove_xquad_paragraphs, subsample
from .metrics import accuracy, gold_answers, normalize_mlqa, normalize_squad, qa_scores
from .readers import (
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
    with_english_questions,
)
from .hub_datasets import PyArrowMissingError
from .registry import DATA_ENV, DATASETS, DatasetSpec, fetch, load_dataset, resolve_data_dir

__all__ = [
    "DATA_ENV", "DATASETS", "DatasetSpec", "fetch", "load_dataset", "resolve_data_dir",
    "NLI_LABELS", "PairExample", "ChoiceExample", "QAExample", "ExampleList",
    "DataFormatError", "DataNotFoundError", "FetchError", "UnknownDatasetError", "PyArrowMissingError",
    "read_squad_json", "read_xnli_tsv", "read_xnli_test_labels", "read_xnli_original_tsv",
    "read_mnli_jsonl", "read_copa_jsonl", "read_copa_xml", "with_english_questions",
    "ClassificationFeature", "ChoiceFeature", "QAFeature",
    "encode_pairs", "encode_choices", "encode_qa", "postprocess_qa",
    "collate", "pad_id_of", "feature_length", "length_bucketed_batches",
    "subsample", "remove_xquad_paragraphs",
    "accuracy", "qa_scores", "gold_answers", "normalize_squad", "normalize_mlqa",
]
