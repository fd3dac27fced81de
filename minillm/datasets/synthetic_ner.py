"""Named-entity sentences in CoNLL-2003 format, from templates and name lists (data for §6 and §7.2).

data/ner_train.conll and data/ner_test.conll come from this file:

    python -m minillm.datasets.synthetic_ner --out data          (seed 0: 800 training, 160 test sentences)

Every line is "word POS chunk NER", as in CoNLL-2003's English files:

    Amara      NNP  B-NP  B-PER
    Okafor     NNP  I-NP  I-PER
    joined     VBD  B-VP  O
    Northwind  NNP  B-NP  B-ORG
    Bank       NNP  I-NP  I-ORG
    in         IN   B-PP  O
    Lagos      NNP  B-NP  B-LOC
    .          .    O     O

Entity types are CoNLL-2003's: PER (people), ORG (companies, clubs, universities,
newspapers), LOC (cities, countries, lakes), MISC (nationalities, events).
Tags are IOB2 (every entity opens with B-); CoNLL-2003 itself used IOB1, where an entity
opens with I- unless it touches another of the same type (minillm.tasks.ner.iob1_to_iob2).
POS tags are written into the templates by hand (Penn Treebank tags); chunk tags are
derived from them by a few rules (`chunk_tags`): good enough to show the format, not a parser.

Held-out sentences test generalisation, not memory:
  - names.  Each name is taken from a hand-written list (so some names recur, as "Lagos" does
    in news) or, with probability 1/2, made up from syllables (`invented_word`: "Kalden",
    "Orvimu"), so most names are rare, as in real text.  The lists come in two pools, "train"
    and "test".  A training sentence uses the train pool.  In a test sentence each entity is,
    with probability 1/2, unseen: from the test pool or made up and absent from training.
  - contexts.  Templates come in two sets too; a test sentence uses a test-only template with
    probability 1/2.  Test templates are new sentences made of words the training templates
    use, so "unseen context" means a new arrangement, not unknown vocabulary.
  - ambiguity.  A few words are both first names and places (Jordan, Florence, Sydney,
    Victoria, Georgia), and some organisations contain a place (Bank of Lagos, Lagos Times),
    so the word alone does not give the tag: the context must.
MISC entities (nationalities, events) are never made up: the test pool's are simply unseen.

Deterministic: every random choice comes from the numpy.random.Generator made from the seed.
"""
import argparse
from pathlib import Path

import numpy as np

from minillm.atomic import write_text_atomic
from minillm.checks import check_int, check_rng

TYPES = ("PER", "ORG", "LOC", "MISC")

# --------------------------------------------------------------------------- name lists (all made up or public facts)
# Words that are both first names and places: in both pools, as PER and as LOC.
AMBIGUOUS = ["Jordan", "Florence", "Sydney", "Victoria", "Georgia"]

FIRST_NAMES = {
    "train": ["Amara", "Kenji", "Sofia", "Mateo", "Ingrid", "Ravi", "Leila", "Tomasz", "Chen", "Olu", "Hannah",
              "Diego", "Aiko", "Marek", "Fatima", "Lars", "Nadia", "Pablo", "Grace", "Yusuf", "Elena", "Kofi",
              "Mira", "Anton", "Rosa", "Tariq", "Clara", "Ivan", "Zainab", "Hugo"],
    "test": ["Ngozi", "Bjorn", "Priya", "Dmitri", "Yuki", "Lucia", "Kwame", "Astrid", "Omar", "Selin",
             "Matthias", "Imani", "Rafael", "Noor", "Teodor"],
}
LAST_NAMES = {
    "train": ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Haddad", "Mensah", "Kowalski",
              "Ferreira", "Brennan", "Aydin", "Petrov", "Osei", "Varga", "Santos", "Keller", "Ibrahim", "Nakamura",
              "Dubois", "Washington", "Reyes", "Larsen", "Abara", "Mehta", "Fischer"],
    "test": ["Adeyemi", "Halvorsen", "Duchamp", "Watanabe", "Quintero", "Horvat", "Nasser", "Boateng",
             "Sandoval", "Eklund", "Oyelaran", "Kapoor", "Zielinski"],
}
LOCATIONS = {
    "train": ["Lagos", "Nairobi", "Lima", "Oslo", "Hanoi", "Cairo", "Kyoto", "Porto", "Quito", "Dakar", "Perth",
              "Vienna", "Manila", "Bogota", "Accra", "Krakow", "Seville", "Tunis", "New Delhi", "Buenos Aires",
              "South Africa", "Costa Rica", "Port Aldwin", "Lake Tovan", "Peru", "Norway", "Kenya", "Brazil",
              "Ghana", "Poland", "Washington"],
    "test": ["Mombasa", "Tbilisi", "Valparaiso", "Bergen", "Hue", "Kumasi", "Gdansk", "Cusco", "Rio de Janeiro",
             "San Marcos", "Sri Lanka", "Mount Kerrin", "Chile", "Finland", "Senegal"],
}
# organisations: a stem alone, a stem + suffix, or a place inside (Bank of X, X Times, X United)
ORG_STEMS = {
    "train": ["Northwind", "Bluefield", "Helix", "Corran", "Veltra", "Orvix", "Greystone", "Maple", "Sunward",
              "Redhill", "Tamber", "Ostrava"],
    "test": ["Silverline", "Kestrel", "Aurum", "Zentiq", "Brightwater", "Calloway", "Nimbus"],
}
ORG_SUFFIXES = ["Bank", "Motors", "Labs", "Airlines", "Group", "Press", "Energy", "Foods", "Rovers"]
ORG_WITH_PLACE = [("University", "of", None), ("Bank", "of", None), (None, "Times"), (None, "United")]
MISC = {  # nationalities (one word, JJ) and events (several words, NNP ...)
    "train": ["French", "Kenyan", "Brazilian", "Norwegian", "Japanese", "Peruvian", "German", "Egyptian",
              "Polish", "Ghanaian", "World Cup", "Olympic Games", "Davis Cup", "Spring Festival", "Tour de France",
              "Asian Games"],
    "test": ["Chilean", "Finnish", "Senegalese", "Vietnamese", "Africa Cup", "Copa America", "Winter Games",
             "Harvest Festival"],
}

# --------------------------------------------------------------------------- templates
# "word/POS" tokens; {PER} {LAST} {ORG} {LOC} {NAT} {EVENT} are entity slots.
TEMPLATES = {
    "train": [
        "{PER} joined/VBD {ORG} in/IN {LOC} last/JJ year/NN ./.",
        "{ORG} opened/VBD a/DT new/JJ office/NN in/IN {LOC} ./.",
        "Shares/NNS of/IN {ORG} rose/VBD 3/CD percent/NN on/IN Monday/NNP ./.",
        "{PER} ,/, a/DT {NAT} engineer/NN ,/, lives/VBZ in/IN {LOC} ./.",
        "The/DT {NAT} team/NN won/VBD the/DT {EVENT} ./.",
        "{PER} said/VBD {ORG} will/MD hire/VB 200/CD workers/NNS in/IN {LOC} ./.",
        "Flights/NNS from/IN {LOC} to/TO {LOC} were/VBD cancelled/VBN on/IN Friday/NNP ./.",
        "{PER} met/VBD {PER} in/IN {LOC} to/TO discuss/VB the/DT {EVENT} ./.",
        "{ORG} named/VBD {PER} as/IN its/PRP$ new/JJ chief/JJ executive/NN ./.",
        "Police/NNS in/IN {LOC} arrested/VBD two/CD men/NNS on/IN Tuesday/NNP ./.",
        "{PER} scored/VBD twice/RB as/IN {ORG} beat/VBD {ORG} 2-0/CD ./.",
        "The/DT {NAT} government/NN sent/VBD aid/NN to/TO {LOC} ./.",
        "{PER} will/MD visit/VB {LOC} and/CC {LOC} next/JJ month/NN ./.",
        "According/VBG to/TO {ORG} ,/, prices/NNS in/IN {LOC} fell/VBD in/IN March/NNP ./.",
        "{PER} studied/VBD at/IN {ORG} before/IN moving/VBG to/TO {LOC} ./.",
        "{ORG} reported/VBD a/DT loss/NN of/IN 12/CD million/CD dollars/NNS ./.",
        "The/DT {EVENT} will/MD be/VB held/VBN in/IN {LOC} ./.",
        "Mr./NNP {LAST} told/VBD reporters/NNS in/IN {LOC} that/IN talks/NNS had/VBD failed/VBN ./.",
        "{LAST} ,/, who/WP joined/VBD {ORG} in/IN 2019/CD ,/, declined/VBD to/TO comment/VB ./.",
        "{ORG} and/CC {ORG} agreed/VBD to/TO merge/VB ./.",
        "A/DT {NAT} court/NN fined/VBD {ORG} on/IN Wednesday/NNP ./.",
        "{PER} grew/VBD up/RP in/IN {LOC} ./.",
        "Heavy/JJ rain/NN closed/VBD roads/NNS north/RB of/IN {LOC} ./.",
        "{ORG} fans/NNS celebrated/VBD in/IN the/DT streets/NNS of/IN {LOC} ./.",
        "The/DT {NAT} writer/NN {PER} published/VBD a/DT new/JJ novel/NN ./.",
        "{PER} thanked/VBD {ORG} after/IN the/DT match/NN ./.",
        "Tourists/NNS from/IN {LOC} love/VBP the/DT beaches/NNS of/IN {LOC} ./.",
        "{ORG} shares/NNS fell/VBD after/IN {PER} resigned/VBD ./.",
        "{LOC} beat/VBD {LOC} 3-1/CD in/IN the/DT {EVENT} ./.",
        "Officials/NNS at/IN {ORG} in/IN {LOC} confirmed/VBD the/DT deal/NN ./.",
        "{PER} and/CC {PER} founded/VBD {ORG} in/IN 2015/CD ./.",
        "It/PRP was/VBD raining/VBG in/IN {LOC} when/WRB {PER} arrived/VBD ./.",
        "The/DT mayor/NN of/IN {LOC} ,/, {PER} ,/, opened/VBD the/DT bridge/NN ./.",
        "{ORG} bought/VBD a/DT {NAT} software/NN firm/NN for/IN 40/CD million/CD euros/NNS ./.",
        "Sales/NNS at/IN {ORG} grew/VBD in/IN {LOC} and/CC {LOC} ./.",
        "{PER} watched/VBD the/DT {EVENT} at/IN home/NN ./.",
        "Prices/NNS rose/VBD sharply/RB last/JJ week/NN ./.",
        "The/DT meeting/NN ended/VBD without/IN an/DT agreement/NN ./.",
        "On/IN Sunday/NNP ,/, the/DT markets/NNS were/VBD closed/JJ ./.",
        "Analysts/NNS expect/VBP {ORG} to/TO raise/VB prices/NNS in/IN April/NNP ./.",
    ],
    "test": [   # new contexts, made only of words that the training templates use
        "{PER} arrived/VBD in/IN {LOC} on/IN Friday/NNP ./.",
        "Officials/NNS at/IN {ORG} declined/VBD to/TO comment/VB on/IN the/DT deal/NN ./.",
        "The/DT {NAT} writer/NN met/VBD {PER} after/IN the/DT {EVENT} ./.",
        "{ORG} opened/VBD a/DT new/JJ office/NN in/IN {LOC} and/CC {LOC} ./.",
        "{PER} ,/, who/WP founded/VBD {ORG} ,/, lives/VBZ in/IN {LOC} ./.",
        "Heavy/JJ rain/NN closed/VBD the/DT markets/NNS in/IN {LOC} on/IN Monday/NNP ./.",
        "{LAST} told/VBD {ORG} that/IN the/DT deal/NN had/VBD failed/VBN ./.",
        "The/DT new/JJ bridge/NN north/RB of/IN {LOC} will/MD be/VB opened/VBN in/IN April/NNP ./.",
        "{PER} joined/VBD {ORG} before/IN moving/VBG to/TO {ORG} ./.",
        "Tourists/NNS from/IN {LOC} love/VBP the/DT {NAT} team/NN ./.",
        "The/DT talks/NNS ended/VBD without/IN an/DT agreement/NN on/IN Friday/NNP ./.",
        "{ORG} fans/NNS thanked/VBD {PER} after/IN the/DT match/NN ./.",
        "{PER} met/VBD the/DT mayor/NN of/IN {LOC} ./.",
        "Police/NNS said/VBD {PER} was/VBD arrested/VBN in/IN {LOC} ./.",
        "Analysts/NNS expect/VBP the/DT {NAT} government/NN to/TO visit/VB {LOC} ./.",
    ],
}


# --------------------------------------------------------------------------- entities

def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


# Invented words, so that most names are rare, as in real text: 2-3 syllables (onset + vowel),
# sometimes without the first onset, sometimes with a final consonant.  "Kalden", "Orvimu", "Sefan".
ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "tr"]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei"]
CODAS = ["n", "r", "s", "l", "k", "m", "t"]
PLACE_FRAMES = ["{}", "{}", "{}", "Port {}", "Lake {}", "Mount {}", "{} Bay"]


def invented_word(rng, avoid=frozenset()):
    """A capitalised made-up word not in `avoid` (the training set's entity words, at test time)."""
    while True:
        word = "".join(_pick(rng, ONSETS) + _pick(rng, VOWELS) for _ in range(int(rng.integers(2, 4))))
        if rng.random() < 0.2:
            word = word[1:] if word[1] in "aeiou" else word[2:]      # some names start with a vowel
        if rng.random() < 0.5:
            word += _pick(rng, CODAS)
        word = word.capitalize()
        if word not in avoid:
            return word


def _name(rng, names, pool, avoid, p_invented):
    """A name from the pool's list, or (with probability p_invented) a made-up one."""
    return invented_word(rng, avoid) if rng.random() < p_invented else _pick(rng, names[pool])


def _pool(rng, split, p_unseen):
    """Which name lists an entity comes from: always "train" in training, "test" w.p. p_unseen in test."""
    return "test" if split == "test" and rng.random() < p_unseen else "train"


def _place_words(place):
    return [(w, "IN" if w in ("de", "of") else "NNP") for w in place.split()]


def entity_words(rng, slot, pool, *, avoid=frozenset(), p_invented=0.5):
    """One entity for a slot: -> (type, [(word, POS), ...]).

    pool "train" or "test" picks the name lists; made-up words (probability p_invented) are
    drawn fresh, never from `avoid`.
    """
    def name(names):
        return _name(rng, names, pool, avoid, p_invented)

    if slot == "PER":
        first = _pick(rng, AMBIGUOUS) if rng.random() < 0.1 else name(FIRST_NAMES)
        if rng.random() < 0.25:
            return "PER", [(first, "NNP")]
        return "PER", [(first, "NNP"), (name(LAST_NAMES), "NNP")]
    if slot == "LAST":
        return "PER", [(name(LAST_NAMES), "NNP")]
    if slot == "LOC":
        if rng.random() < 0.1:
            return "LOC", [(_pick(rng, AMBIGUOUS), "NNP")]
        if rng.random() < p_invented:
            return "LOC", _place_words(_pick(rng, PLACE_FRAMES).format(invented_word(rng, avoid)))
        return "LOC", _place_words(_pick(rng, LOCATIONS[pool]))
    if slot == "ORG":
        u = rng.random()
        if u < 0.25:                                            # Veltra
            return "ORG", [(name(ORG_STEMS), "NNP")]
        if u < 0.75:                                            # Northwind Bank, Helix Rovers
            suffix = _pick(rng, ORG_SUFFIXES)
            return "ORG", [(name(ORG_STEMS), "NNP"), (suffix, "NNPS" if suffix.endswith("s") else "NNP")]
        place = _place_words(_pick(rng, LOCATIONS[pool]))
        pattern = _pick(rng, ORG_WITH_PLACE)
        if pattern[0] is not None:                              # University of Lagos, Bank of Peru
            return "ORG", [(pattern[0], "NNP"), ("of", "IN")] + place
        return "ORG", place + [(pattern[1], "NNP" if pattern[1] == "United" else "NNPS")]   # Lagos Times
    if slot in ("NAT", "EVENT"):
        is_event = slot == "EVENT"
        names = [m for m in MISC[pool] if (" " in m) == is_event]
        entity = _pick(rng, names)
        if not is_event:
            return "MISC", [(entity, "JJ")]                     # a nationality adjective
        return "MISC", [(w, "IN" if w == "de" else "NNPS" if w == "Games" else "NNP") for w in entity.split()]
    raise ValueError(f"slot must be one of PER, LAST, LOC, ORG, NAT, EVENT, got {slot!r}")


# --------------------------------------------------------------------------- chunks from POS
CHUNK_OF_POS = {"DT": "NP", "PRP$": "NP", "JJ": "NP", "NN": "NP", "NNS": "NP", "NNP": "NP", "NNPS": "NP", "CD": "NP",
                "PRP": "NP", "WP": "NP", "MD": "VP", "VB": "VP", "VBD": "VP", "VBZ": "VP", "VBP": "VP", "VBN": "VP",
                "VBG": "VP", "IN": "PP", "TO": "PP", "RB": "ADVP", "WRB": "ADVP", "RP": "PRT"}


NOUNS = {"NN", "NNS", "NNP", "NNPS", "PRP", "CD"}


def chunk_tags(pos_tags):
    """IOB2 chunk tags from POS tags: a run of tokens of one phrase kind is one chunk, except that
    a determiner, or an adjective or number after a noun, opens a new noun phrase ("in Kyoto | last year").

    TO before a verb joins the verb group ("to/TO discuss/VB" is one VP); punctuation and CC are O.
    """
    kinds = [CHUNK_OF_POS.get(p) for p in pos_tags]
    for i, p in enumerate(pos_tags):
        if p == "TO" and i + 1 < len(pos_tags) and pos_tags[i + 1] == "VB":
            kinds[i] = "VP"
    tags = []
    for i, (kind, p) in enumerate(zip(kinds, pos_tags)):
        prev = pos_tags[i - 1] if i > 0 else None
        new_np = p in ("DT", "PRP$", "WP") or (p in ("JJ", "CD") and prev in NOUNS and not prev == p == "CD")
        if kind is None:
            tags.append("O")
        elif i > 0 and kinds[i - 1] == kind and not (kind == "NP" and new_np):
            tags.append("I-" + kind)
        else:
            tags.append("B-" + kind)
    return tags


# --------------------------------------------------------------------------- sentences

def sentence(rng, split="train", *, p_unseen=0.5, p_unseen_template=0.5, avoid=frozenset()):
    """One sentence as a list of (word, POS, chunk, NER) rows.

    Test sentences draw unseen entities from the test lists, and made-up words not in `avoid`.
    """
    check_rng("rng", rng)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    templates = TEMPLATES["test"] if split == "test" and rng.random() < p_unseen_template else TEMPLATES["train"]
    words, pos, ner = [], [], []
    for token in _pick(rng, templates).split():
        if token.startswith("{"):
            pool = _pool(rng, split, p_unseen)
            entity_type, pieces = entity_words(rng, token.strip("{}"), pool, avoid=avoid,
                                               p_invented=0.5 if pool == split else 0.0)
            for k, (w, p) in enumerate(pieces):
                words.append(w)
                pos.append(p)
                ner.append(("B-" if k == 0 else "I-") + entity_type)      # IOB2
        else:
            w, p = token.rsplit("/", 1)
            words.append(w)
            pos.append(p)
            ner.append("O")
    return list(zip(words, pos, chunk_tags(pos), ner))


def make_split(n_train, n_test, seed=0):
    """(train, test): lists of sentences; no test sentence is word-for-word a training sentence."""
    check_int("n_train", n_train, low=1)
    check_int("n_test", n_test, low=1)
    rng = np.random.default_rng(seed)
    train = [sentence(rng, "train") for _ in range(n_train)]
    seen = {tuple(row[0] for row in s) for s in train}
    train_entity_words = frozenset(row[0] for s in train for row in s if row[3] != "O")
    test = []
    while len(test) < n_test:
        s = sentence(rng, "test", avoid=train_entity_words)
        if tuple(row[0] for row in s) not in seen:
            test.append(s)
    return train, test


def conll_text(sentences, *, sentences_per_document=20):
    """CoNLL-2003 layout: -DOCSTART- -X- -X- O opens each document, a blank line after every sentence.

    sentences_per_document=None writes no -DOCSTART- lines (the Chinese sample's layout).
    """
    lines = []
    for i, s in enumerate(sentences):
        if sentences_per_document and i % sentences_per_document == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
        lines += [" ".join(row) for row in s] + [""]
    return "\n".join(lines) + "\n"


def write_conll(path, sentences, *, sentences_per_document=20):
    """Write sentences as a CoNLL file; atomic (temporary file, then os.replace)."""
    path = Path(path)
    text = conll_text(sentences, sentences_per_document=sentences_per_document)
    write_text_atomic(path, text)
    return path


# --------------------------------------------------------------------------- Chinese (character level)
# One character per line, "字 NER", types PER / ORG / LOC, as in the MSRA and People's Daily NER
# sets: Chinese has no spaces and no capitals, so the tags sit on characters and the evidence is
# the characters themselves (a surname opens most person names) and the context.
ZH_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
ZH_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚华建国文玲红英"
ZH_PLACES = {
    "train": ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州", "长沙",
              "青岛", "厦门", "昆明", "大连", "哈尔滨", "四川", "云南", "浙江", "广东", "日本", "法国", "德国", "巴西",
              "埃及"],
    "test": ["海南", "江苏", "京都", "广西", "东京", "德州", "秘鲁", "挪威"],      # mostly known characters, new names
}
ZH_ORG_STEMS = {"train": ["华光", "星辰", "远帆", "金桥", "青松", "蓝海", "天成", "宏达"],
                "test": ["云帆", "明德", "华海", "金星"]}
ZH_ORG_SUFFIXES = ["科技公司", "集团", "银行", "日报", "足球俱乐部"]
ZH_TEMPLATES = {
    "train": ["{PER}去年加入了{LOC}的{ORG}。", "{ORG}在{LOC}开设了新的办公室。", "{PER}说{ORG}将在{LOC}招聘两百名员工。",
              "{PER}和{PER}在{LOC}见面。", "{ORG}任命{PER}为新的总经理。", "{LOC}警方周二逮捕了两名男子。",
              "从{LOC}飞往{LOC}的航班周五被取消。", "{PER}在{LOC}长大，后来搬到了{LOC}。", "{ORG}的股价周一上涨了三个百分点。",
              "{LOC}市长{PER}为新桥剪彩。", "{PER}毕业于{ORG}。", "{ORG}和{ORG}同意合并。", "今天{LOC}下了大雨。",
              "{PER}是{ORG}的工程师。", "上周物价大幅上涨。", "{PER}周末去{LOC}看望父母。", "{ORG}去年在{LOC}亏损了一千万元。"],
    "test": ["{PER}周四抵达{LOC}。", "{ORG}的官员拒绝发表评论。", "{PER}离开{ORG}，加入了{ORG}。",
             "{LOC}的游客很喜欢{LOC}的海滩。", "{PER}会见了{LOC}市长。", "今天{LOC}的物价大幅上涨。"],
}


def zh_entity(rng, slot, pool, avoid=frozenset()):
    """One Chinese entity: -> (type, text).  Person names are drawn fresh: surname + 1-2 given characters."""
    if slot == "PER":
        while True:
            name = _pick(rng, ZH_SURNAMES) + "".join(_pick(rng, ZH_GIVEN) for _ in range(int(rng.integers(1, 3))))
            if name not in avoid:
                return "PER", name
    if slot == "LOC":
        return "LOC", _pick(rng, ZH_PLACES[pool])
    if slot == "ORG":
        if rng.random() < 0.3:                                  # 北京大学: a place inside an organisation
            return "ORG", _pick(rng, ZH_PLACES[pool]) + "大学"
        return "ORG", _pick(rng, ZH_ORG_STEMS[pool]) + _pick(rng, ZH_ORG_SUFFIXES)
    raise ValueError(f"slot must be one of PER, LOC, ORG, got {slot!r}")


def sentence_zh(rng, split="train", *, p_unseen=0.5, p_unseen_template=0.5, avoid=frozenset()):
    """One Chinese sentence as a list of (character, NER) rows."""
    check_rng("rng", rng)
    templates = ZH_TEMPLATES["test"] if split == "test" and rng.random() < p_unseen_template else ZH_TEMPLATES["train"]
    rows = []
    for k, part in enumerate(_pick(rng, templates).replace("}", "{").split("{")):
        if k % 2 == 0:                                          # text between the slots
            rows += [(ch, "O") for ch in part]
        else:
            entity_type, text = zh_entity(rng, part, _pool(rng, split, p_unseen), avoid)
            rows += [(ch, ("B-" if i == 0 else "I-") + entity_type) for i, ch in enumerate(text)]
    return rows


def make_split_zh(n_train, n_test, seed=0):
    """(train, test) Chinese sentences; test person names never occur in training."""
    check_int("n_train", n_train, low=1)
    check_int("n_test", n_test, low=1)
    rng = np.random.default_rng(seed)
    train = [sentence_zh(rng, "train") for _ in range(n_train)]
    names = set()                                               # every person name in training
    for s in train:
        for i, (_, tag) in enumerate(s):
            if tag == "B-PER":
                j = i + 1
                while j < len(s) and s[j][1] == "I-PER":
                    j += 1
                names.add("".join(ch for ch, _ in s[i:j]))
    test = [sentence_zh(rng, "test", avoid=frozenset(names)) for _ in range(n_test)]
    return train, test


def main(argv=None):
    parser = argparse.ArgumentParser(description="write data/ner_{train,test}.conll and data/ner_zh_{train,test}.conll")
    parser.add_argument("--out", default="data", help="output folder (default data)")
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--n-test", type=int, default=160)
    parser.add_argument("--n-train-zh", type=int, default=600)
    parser.add_argument("--n-test-zh", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = make_split(args.n_train, args.n_test, seed=args.seed)
    write_conll(out / "ner_train.conll", train)
    write_conll(out / "ner_test.conll", test)
    train_zh, test_zh = make_split_zh(args.n_train_zh, args.n_test_zh, seed=args.seed)
    write_conll(out / "ner_zh_train.conll", train_zh, sentences_per_document=None)
    write_conll(out / "ner_zh_test.conll", test_zh, sentences_per_document=None)
    print(f"wrote {len(train)} + {len(test)} English and {len(train_zh)} + {len(test_zh)} Chinese sentences to {out}")


if __name__ == "__main__":
    main()
