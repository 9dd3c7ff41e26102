"""Metrics: official SQuAD v1.1 and MLQA normalisations, EM/F1 arithmetic, accuracy."""
from __future__ import annotations

import pytest

from funfisher.data import DATASETS, accuracy, gold_answers, load_dataset, normalize_mlqa, normalize_squad, qa_scores
from funfisher.data.metrics import exact_match, f1, mixed_segmentation


# --------------------------------------------------------------------------------------------------
# SQuAD v1.1
# --------------------------------------------------------------------------------------------------
def test_normalize_squad():
    # lower -> drop ASCII punctuation ("-" and "!") -> drop "the" -> collapse spaces
    assert normalize_squad("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_squad("  an Apple a day ") == "apple day"
    assert normalize_squad("theatre") == "theatre"  # articles only as whole words
    assert normalize_squad("“Hello”") == "“hello”"  # curly quotes are not in string.punctuation


def test_em_and_f1_single_pairs():
    assert exact_match("The Denver Broncos", "denver broncos!") == 1.0
    assert exact_match("the cat sat", "a cat sat down") == 0.0
    # pred "cat sat" (2 tokens), gold "cat sat down" (3 tokens), 2 in common:
    # P = 2/2 = 1, R = 2/3, F1 = 2*1*(2/3) / (1 + 2/3) = (4/3) / (5/3) = 0.8
    assert f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    # repeated tokens count with multiplicity: pred [a? no: "x x y"] -> [x, x, y], gold [x, y, y]:
    # common = min(2,1) for x + min(1,2) for y = 2; P = 2/3, R = 2/3, F1 = 2/3
    assert f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1("nothing", "in common") == 0.0


def test_qa_scores_hand_computed():
    gold = {
        "q1": ["Denver Broncos"],
        "q2": ["cat sat down", "the cat"],
        "q3": ["1990"],
        "q4": ["anything"],
    }
    predictions = {"q1": "Denver Broncos", "q2": "the cat sat", "q3": "in 1990.", "unknown": "ignored"}
    # q1: EM 1, F1 1
    # q2: EM 0; F1 = max(0.8 vs "cat sat down" [see above],
    #                    vs "the cat": pred [cat, sat], gold [cat]: P=1/2, R=1, F1=2/3) = 0.8
    # q3: "in 1990." -> "in 1990" vs "1990": EM 0; P=1/2, R=1, F1=2/3
    # q4: no prediction -> 0 and 0, counted in the total
    # EM = 100 * (1 + 0 + 0 + 0) / 4 = 25; F1 = 100 * (1 + 0.8 + 2/3 + 0) / 4 = 61.666...
    scores = qa_scores(gold, predictions)
    assert scores["exact_match"] == pytest.approx(25.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 2 / 3) / 4)
    assert scores["normalization"] == "squad"
    assert (scores["total"], scores["missing"]) == (4, 1)


def test_qa_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="no gold answers"):
        qa_scores({"q": []}, {"q": "x"})
    with pytest.raises(ValueError, match="unknown normalization"):
        qa_scores({"q": ["x"]}, {"q": "x"}, normalization="bleu")
    with pytest.raises(ValueError, match="needs the answer language"):
        qa_scores({"q": ["x"]}, {"q": "x"}, normalization="mlqa")
    with pytest.raises(ValueError, match="not 'th'"):
        qa_scores({"q": ["x"]}, {"q": "x"}, normalization="mlqa", lang="th")


# --------------------------------------------------------------------------------------------------
# MLQA
# --------------------------------------------------------------------------------------------------
def test_mlqa_chinese_mixed_segmentation():
    # lower, drop "。", then every CJK character is a token while "nlp" stays one word
    assert normalize_mlqa("我爱NLP模型。", "zh") == "我 爱 nlp 模 型"
    assert normalize_mlqa("北京 大学", "zh") == "北 京 大 学"
    assert mixed_segmentation("iPhone 12手机") == ["iPhone", "12", "手", "机"]
    # pred 北京大学 -> 4 tokens, gold 北京 -> 2 tokens, 2 in common: P = 1/2, R = 1, F1 = 2/3
    normalize = lambda text: normalize_mlqa(text, "zh")  # noqa: E731
    assert f1("北京大学", "北京", normalize) == pytest.approx(2 / 3)
    # the SQuAD normaliser sees one token each, so F1 is 0
    assert f1("北京大学", "北京") == 0.0


def test_mlqa_arabic_article_removal_everywhere():
    # every "ال" becomes a space (the official pattern is `\sال^|ال`), also inside words
    assert normalize_mlqa("الكتاب", "ar") == "كتاب"
    assert normalize_mlqa("والكتاب الجديد", "ar") == "و كتاب جديد"
    assert normalize_mlqa("مالك", "ar") == "م ك"
    assert normalize_mlqa("كتاب، قلم", "ar") == "كتاب قلم"  # Arabic comma is Unicode punctuation


def test_mlqa_hindi_and_articles_of_other_languages():
    assert normalize_mlqa("भारत।", "hi") == "भारत"  # danda (U+0964) is punctuation
    assert normalize_mlqa("एक किताब", "hi") == "एक किताब"  # no article removal for Hindi
    assert normalize_mlqa("La casa de los abuelos", "es") == "casa de abuelos"
    assert normalize_mlqa("Der Hund und die Katze", "de") == "hund und katze"
    assert normalize_mlqa("cái bàn của tôi", "vi") == "bàn tôi"
    assert normalize_mlqa("“Hello”, the world", "en") == "hello world"  # Unicode quotes removed
    with pytest.raises(ValueError):
        normalize_mlqa("x", "fr")


def test_mlqa_scores_record_language():
    gold = {"a": ["北京"], "b": ["上海市"]}
    # a: exact (EM 1, F1 1); b: pred 上海 vs gold 上海市: P = 2/2, R = 2/3, F1 = 0.8, EM 0
    # EM = 100 * 1/2 = 50; F1 = 100 * (1 + 0.8) / 2 = 90
    scores = qa_scores(gold, {"a": "北京。", "b": "上海"}, normalization="mlqa", lang="zh")
    assert scores["normalization"] == "mlqa-zh"
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(90.0)


# --------------------------------------------------------------------------------------------------
# real data: gold predictions score 100
# --------------------------------------------------------------------------------------------------
def test_gold_predictions_score_100(shared_data):
    for lang in ("en", "de", "zh", "th"):
        examples = load_dataset("xquad", "test", lang, shared_data)
        predictions = {e.id: e.answers[0][0] for e in examples}
        scores = qa_scores(gold_answers(examples), predictions)
        assert (scores["exact_match"], scores["f1"], scores["missing"]) == (100.0, 100.0, 0), lang
    for lang in DATASETS["mlqa"].languages:
        examples = load_dataset("mlqa", "dev", lang, shared_data)
        predictions = {e.id: e.answers[0][0] for e in examples}
        scores = qa_scores(gold_answers(examples), predictions, "mlqa", lang)
        # One es answer is just "una", an article: normalised to "" it matches exactly (EM 1) but has
        # no tokens, and the official F1 is 0 then. So es F1 = 100 * 499/500 = 99.8, as with the MLQA script.
        expected_f1 = 99.8 if lang == "es" else 100.0
        assert (scores["exact_match"], scores["f1"]) == (100.0, pytest.approx(expected_f1)), lang
        assert scores["normalization"] == f"mlqa-{lang}"


def test_perturbed_predictions_on_real_data(shared_data):
    examples = load_dataset("xquad", "test", "en", shared_data)[:4]
    gold = gold_answers(examples)
    # keep the first two answers, answer the third with a fixed wrong word, leave the fourth out:
    # EM = 100 * 2/4 = 50; F1 = 100 * (1 + 1 + 0 + 0) / 4 = 50 (the word shares no token with the gold)
    predictions = {examples[0].id: examples[0].answers[0][0], examples[1].id: examples[1].answers[0][0],
                   examples[2].id: "zzzqqq"}
    scores = qa_scores(gold, predictions)
    assert (scores["exact_match"], scores["f1"], scores["missing"]) == (50.0, 50.0, 1)


# --------------------------------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------------------------------
def test_accuracy():
    # right, right, wrong, missing -> 2 of 4 = 50%
    assert accuracy([0, 1, 2, None], [0, 1, 1, 2]) == 50.0
    assert accuracy([1, 1], [1, 1]) == 100.0
    with pytest.raises(ValueError):
        accuracy([0], [0, 1])
