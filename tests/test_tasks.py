"""The task objects (funfisher/tasks.py): one per kind, and what each says about its outputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from funfisher import data as D
from funfisher import load_pretrained
from funfisher.fisher.labels import choose_labels
from funfisher.tasks import TASKS, Classification, MultipleChoice, QuestionAnswering, get_task

REPO = Path(__file__).resolve().parents[1]
B, C, T = 5, 3, 7


def random_outputs(kind: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if kind == "qa":
        return torch.randn(B, T, generator=g, dtype=torch.float64), torch.randn(B, T, generator=g, dtype=torch.float64)
    return torch.randn(B, C, generator=g, dtype=torch.float64)


def gold_batch(kind: str, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if kind == "qa":
        return {"start_positions": torch.randint(0, T, (B,), generator=g), "end_positions": torch.randint(0, T, (B,), generator=g)}
    return {"labels": torch.randint(0, C, (B,), generator=g)}


def test_one_object_per_kind():
    assert [type(t) for t in TASKS.values()] == [Classification, MultipleChoice, QuestionAnswering]
    for kind, task in TASKS.items():
        assert get_task(kind) is task and task.kind == kind and get_task(task) is task
    with pytest.raises(ValueError, match="unknown task kind 'mlm'; expected one of classification, multiple_choice, qa"):
        get_task("mlm")


def test_primary_metric_is_the_kinds_not_a_guess_from_the_keys():
    both = {"accuracy": 50.0, "exact_match": 5.0, "f1": 10.0}
    assert get_task("classification").primary_metric(both) == 50.0
    assert get_task("multiple_choice").primary_metric(both) == 50.0
    assert get_task("qa").primary_metric(both) == 10.0
    assert [t.columns for t in TASKS.values()] == [("accuracy",), ("accuracy",), ("exact_match", "f1")]
    with pytest.raises(KeyError):  # QA results scored as accuracy: an error, not a silent other number
        get_task("classification").primary_metric({"exact_match": 5.0, "f1": 10.0})


@pytest.mark.parametrize("kind", list(TASKS))
def test_loss_is_the_mean_negative_log_likelihood_of_the_gold_labels(kind):
    task, outputs, batch = get_task(kind), random_outputs(kind), gold_batch(kind)
    logp = task.log_likelihood(outputs, task.gold(batch))
    assert logp.shape == (B,) and (logp < 0).all()
    # QA halves it: (CE(start) + CE(end)) / 2, as Hugging Face's QA loss
    scale = 2 if kind == "qa" else 1
    torch.testing.assert_close(task.loss(outputs, batch), -logp.mean() / scale, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", list(TASKS))
def test_one_example_without_batch_dimension(kind):
    task, outputs, batch = get_task(kind), random_outputs(kind), gold_batch(kind)
    gold = task.gold(batch)
    for i in range(B):
        one = task.one_example(tuple(o[i:i + 1] for o in outputs) if kind == "qa" else outputs[i:i + 1])
        torch.testing.assert_close(task.log_likelihood(one, gold[i]), task.log_likelihood(outputs, gold)[i],
                                   rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", list(TASKS))
def test_argmax_labels_through_as_draws(kind):
    task, outputs = get_task(kind), random_outputs(kind)
    assert task.as_draws(outputs).shape[-2] == task.n_draws
    expected = torch.stack([o.argmax(-1) for o in outputs], -1) if kind == "qa" else outputs.argmax(-1)
    assert torch.equal(choose_labels(outputs, task, "argmax", None, None), expected)


def test_gold_labels_and_bounds():
    qa = get_task("qa")
    batch = gold_batch("qa")
    assert torch.equal(qa.gold(batch), torch.stack([batch["start_positions"], batch["end_positions"]], -1))
    with pytest.raises(KeyError, match=r"labels='gold' needs batch key\(s\) \['end_positions'\]"):
        qa.gold({"start_positions": batch["start_positions"]})
    ids = torch.zeros(B, 4, T, dtype=torch.long)
    assert get_task("multiple_choice").label_bound(None, ids)[0] == 4
    assert qa.label_bound(None, ids[:, 0])[0] == T
    assert get_task("classification").label_bound(None, ids[:, 0])[0] is None  # not our head: unknown


def test_inputs_are_checked_for_the_kinds_shape():
    batch = {"input_ids": torch.ones(B, T, dtype=torch.long), "attention_mask": torch.ones(B, T, dtype=torch.long),
             "token_type_ids": None, "labels": torch.zeros(B, dtype=torch.long)}
    inputs = get_task("classification").inputs(batch)
    assert list(inputs) == ["input_ids", "attention_mask"] and inputs["input_ids"] is batch["input_ids"]
    with pytest.raises(ValueError, match=r"multiple_choice model should be \[B, n_choices, T\]"):
        get_task("multiple_choice").inputs(batch)
    with pytest.raises(KeyError, match="input_ids"):
        get_task("qa").inputs({"attention_mask": batch["attention_mask"]})


def test_head_size_and_lengths():
    assert [t.num_labels(3) for t in TASKS.values()] == [3, None, None]
    assert [t.default_max_length for t in TASKS.values()] == [128, 128, 384]


def test_predict_per_feature():
    cls, qa = get_task("classification"), get_task("qa")
    logits = random_outputs("classification")
    assert cls.predictions(cls.predict(logits, [None] * B)).labels == logits.argmax(-1).tolist()
    start, end = random_outputs("qa")
    features = [D.QAFeature(example_index=0, example_id="q", input_ids=[1] * n, attention_mask=[1] * n,
                            token_type_ids=[0] * n, context_offsets=[None] * n, start_position=0, end_position=0)
                for n in (T, 3)]  # two windows, the second with 3 real tokens
    preds = qa.predictions(qa.predict((start[:2], end[:2]), features))
    assert preds.labels is None and [len(r) for r in preds.start_logits] == [T, 3]
    assert torch.equal(preds.end_logits[1], end[1, :3])
    # a copy: a row does not keep the batch's logits alive
    assert preds.end_logits[1].untyped_storage().data_ptr() != end.untyped_storage().data_ptr()


def test_encode_makes_the_kinds_features():
    tokenizer = load_pretrained(REPO / "tests/fixtures/tiny-bert/classification").tokenizer
    pair = D.PairExample(id="p", text_a="a dog runs", text_b="an animal moves", label=0)
    choice = D.ChoiceExample(id="c", premise="the glass fell", question="effect", choices=("it broke", "it sang"), label=0)
    qa = D.QAExample(id="q", question="who runs?", context="the dog runs fast", answers=(("the dog", 0),))
    for kind, example, feature in [("classification", pair, D.ClassificationFeature),
                                   ("multiple_choice", choice, D.ChoiceFeature), ("qa", qa, D.QAFeature)]:
        features = get_task(kind).encode(tokenizer, [example], max_length=32, doc_stride=8)
        assert features and all(isinstance(f, feature) for f in features)
