"""Metrics: official SQuAD v1.1 and MLQA normalisations, EM/F1 arithmetic, accuracy."""
from __future__ import annotations

import pytest

from funfisher.data import DATASETS, accuracy, gold_answers, load_dataset, normalize_mlqa, normalize_squad, qa_scores
from funfisher.data.metrics import exact_match, f1, mixed_segmentation, normalize_mixed_zh


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
    with pytest.raises(ValueError, match="for Chinese answers, not 'de'"):
        qa_scores({"q": ["x"]}, {"q": "x"}, normalization="mixed-zh", lang="de")


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
# mixed-zh: the released code's zh scoring (UKPLab/naacl2024-fun utils/squad/evaluate.py)
# --------------------------------------------------------------------------------------------------
def test_normalize_mixed_zh():
    # lower, drop ASCII "!" only, CJK characters one token each, "iphone" and "12" stay whole
    assert normalize_mixed_zh("iPhone 12手机!") == "iphone 12 手 机"
    # non-ASCII punctuation is kept, as a token of its own (MLQA zh deletes it)
    assert normalize_mixed_zh("《红楼梦》。") == "《 红 楼 梦 》 。"
    assert normalize_mlqa("《红楼梦》。", "zh") == "红 楼 梦"
    assert normalize_mixed_zh("卡万·肖特") == "卡 万 · 肖 特"  # U+00B7 middle dot is Unicode Po
    # no article removal (SQuAD would drop "the")
    assert normalize_mixed_zh("The 长城") == "the 长 城"
    assert normalize_mixed_zh("  ") == ""


def test_zh_pairs_under_each_normalization():
    # (prediction, gold) -> (EM, F1) per normalization, 0-1 scale:
    # 1. "北京" vs "北京大学"
    #    squad:    one token each, different -> EM 0, F1 0
    #    mixed-zh: [北,京] vs [北,京,大,学], 2 common: P = 2/2 = 1, R = 2/4 = 1/2, F1 = 2*1*(1/2)/(3/2) = 2/3
    # 2. "北京。" vs "北京"
    #    squad:    "。" is not ASCII, stays -> "北京。" vs "北京", EM 0, F1 0
    #    mixed-zh: [北,京,。] vs [北,京]: P = 2/3, R = 1, F1 = 2*(2/3)/(5/3) = 0.8, EM 0
    #    mlqa-zh:  "。" deleted -> EM 1, F1 1
    # 3. "iphone 12 手机!" vs "iPhone 12手机"
    #    squad:    [iphone, 12, 手机] vs [iphone, 12手机]: 1 common, P = 1/3, R = 1/2, F1 = (1/3)/(5/6) = 0.4
    #    mixed-zh: [iphone, 12, 手, 机] both -> EM 1, F1 1
    # 4. "红楼梦" vs "《红楼梦》"
    #    squad:    EM 0, F1 0 (the book-title marks are not ASCII)
    #    mixed-zh: [红,楼,梦] vs [《,红,楼,梦,》]: P = 1, R = 3/5, F1 = 2*(3/5)/(8/5) = 0.75
    #    mlqa-zh:  marks deleted -> EM 1, F1 1
    pairs = [("北京", "北京大学"), ("北京。", "北京"), ("iphone 12 手机!", "iPhone 12手机"), ("红楼梦", "《红楼梦》")]
    squad = [(exact_match(p, g), f1(p, g)) for p, g in pairs]
    mixed = [(exact_match(p, g, normalize_mixed_zh), f1(p, g, normalize_mixed_zh)) for p, g in pairs]
    assert squad == [(0.0, 0.0), (0.0, 0.0), (0.0, pytest.approx(0.4)), (0.0, 0.0)]
    assert mixed == [(0.0, pytest.approx(2 / 3)), (0.0, pytest.approx(0.8)), (1.0, 1.0), (0.0, pytest.approx(0.75))]
    mlqa = lambda text: normalize_mlqa(text, "zh")  # noqa: E731
    assert [exact_match(p, g, mlqa) for p, g in pairs] == [0.0, 1.0, 1.0, 1.0]

    gold = {f"q{i}": [g] for i, (_, g) in enumerate(pairs)}
    predictions = {f"q{i}": p for i, (p, _) in enumerate(pairs)}
    # squad:    EM = 0; F1 = 100 * (0 + 0 + 0.4 + 0) / 4 = 10
    # mixed-zh: EM = 100 * 1/4 = 25; F1 = 100 * (2/3 + 0.8 + 1 + 0.75) / 4 = 80.41666...
    scores = qa_scores(gold, predictions, "squad")
    assert (scores["exact_match"], scores["f1"]) == (0.0, pytest.approx(10.0))
    scores = qa_scores(gold, predictions, "mixed-zh")
    assert scores["normalization"] == "mixed-zh"
    assert (scores["exact_match"], scores["f1"]) == (25.0, pytest.approx(100 * (2 / 3 + 0.8 + 1 + 0.75) / 4))
    assert scores["f1"] == pytest.approx(80.416666667)
    assert qa_scores(gold, predictions, "mixed-zh", lang="zh")["f1"] == scores["f1"]  # lang may be given as zh


def test_xquad_zh_real_answers_three_ways(shared_data):
    examples = load_dataset("xquad", "test", "zh", shared_data)[:5]
    gold = gold_answers(examples)
    # the first five XQuAD zh golds: "308", "136 次", "118", "四次", "卡万·肖特" (U+00B7 middle dot)
    assert [e.answers[0][0] for e in examples] == ["308", "136 次", "118", "四次", "卡万·肖特"]
    ids = [e.id for e in examples]
    predictions = {ids[0]: "308", ids[1]: "136", ids[3]: "四", ids[4]: "肖特"}  # ids[2] unanswered
    # squad:    308 exact; [136] vs [136, 次]: P 1, R 1/2, F1 2/3; "四" vs "四次" one token each: 0;
    #           "肖特" vs "卡万·肖特": 0; missing: 0 -> EM 100*1/5 = 20, F1 = 100*(1 + 2/3)/5 = 33.33
    # mixed-zh: 308: 1; 136: 2/3; [四] vs [四,次]: 2/3; [肖,特] vs [卡,万,·,肖,特]: P 1, R 2/5, F1 = 0.8/1.4 = 4/7
    #           -> EM 20, F1 = 100*(1 + 2/3 + 2/3 + 4/7)/5 = 58.10
    # mlqa-zh:  as mixed-zh except "·" deleted: [肖,特] vs [卡,万,肖,特]: R 1/2, F1 2/3 -> F1 = 100*(1 + 3*(2/3))/5 = 60
    squad = qa_scores(gold, predictions, "squad")
    mixed = qa_scores(gold, predictions, "mixed-zh")
    mlqa = qa_scores(gold, predictions, "mlqa", "zh")
    assert (squad["exact_match"], squad["f1"], squad["missing"]) == (20.0, pytest.approx(100 * (5 / 3) / 5), 1)
    assert (mixed["exact_match"], mixed["f1"]) == (20.0, pytest.approx(100 * (1 + 4 / 3 + 4 / 7) / 5))
    assert (mlqa["exact_match"], mlqa["f1"]) == (20.0, pytest.approx(60.0))


# --------------------------------------------------------------------------------------------------
# real data: gold predictions score 100
# --------------------------------------------------------------------------------------------------
def test_gold_predictions_score_100(shared_data):
    for lang in ("en", "de", "zh", "th"):
        examples = load_dataset("xquad", "test", lang, shared_data)
        predictions = {e.id: e.answers[0][0] for e in examples}
        scores = qa_scores(gold_answers(examples), predictions)
        assert (scores["exact_match"], scores["f1"], scores["missing"]) == (100.0, 100.0, 0), lang
    zh = load_dataset("xquad", "test", "zh", shared_data)
    scores = qa_scores(gold_answers(zh), {e.id: e.answers[0][0] for e in zh}, "mixed-zh")
    assert (scores["exact_match"], scores["f1"], scores["total"]) == (100.0, 100.0, 1190)
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
