"""A fixed multilingual sample: three sentences and their translations in twelve languages.

Scripts from Latin to Thai, Devanagari and Arabic, for quick looks at a multilingual encoder and
its tokenizer: examples/similarity.py embeds them, tests/model/test_hf_live.py compares our token
ids with transformers' on them, and bench/encoder_forward.py falls back to them without XNLI data.
"""
from __future__ import annotations

# Same order in every language: sentence i of each language translates sentence i of English.
PARALLEL_SENTENCES: dict[str, list[str]] = {
    "en": ["The weather is nice today.", "I would like a cup of tea.", "Where is the train station?"],
    "de": ["Das Wetter ist heute schön.", "Ich hätte gern eine Tasse Tee.", "Wo ist der Bahnhof?"],
    "fr": ["Il fait beau aujourd'hui.", "Je voudrais une tasse de thé.", "Où est la gare ?"],
    "es": ["Hoy hace buen tiempo.", "Me gustaría una taza de té.", "¿Dónde está la estación de tren?"],
    "ru": ["Сегодня хорошая погода.", "Я бы хотел чашку чая.", "Где находится вокзал?"],
    "zh": ["今天天气很好。", "我想要一杯茶。", "火车站在哪里？"],
    "th": ["วันนี้อากาศดี", "ฉันอยากได้ชาหนึ่งถ้วย", "สถานีรถไฟอยู่ที่ไหน"],
    "ar": ["الطقس جميل اليوم.", "أود فنجانا من الشاي.", "أين محطة القطار؟"],
    "hi": ["आज मौसम अच्छा है।", "मुझे एक कप चाय चाहिए।", "रेलवे स्टेशन कहाँ है?"],
    "sw": ["Hali ya hewa ni nzuri leo.", "Ningependa kikombe cha chai.", "Kituo cha treni kiko wapi?"],
    "tr": ["Bugün hava güzel.", "Bir fincan çay istiyorum.", "Tren istasyonu nerede?"],
    "vi": ["Hôm nay thời tiết đẹp.", "Tôi muốn một tách trà.", "Ga tàu ở đâu?"],
}

__all__ = ["PARALLEL_SENTENCES"]
