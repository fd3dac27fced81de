"""English -> French sentence pairs from a small bilingual grammar (data for the article's §4.3 case 2).

The pairs in data/en_fr_train.tsv and data/en_fr_test.tsv come from this file:

    python -m minillm.datasets.synthetic_translation --out data          (seed 0, 5000 + 500 pairs)

Every sentence is built twice from the same choices, once by English rules and
once by French rules, so the two sides say the same thing but differ where the
languages differ:

    word order      adjectives mostly AFTER the noun in French:  the red car  -> la voiture rouge
                    (a few BEFORE it, as in English:  the small cat -> le petit chat)
    agreement       article, adjective and verb agree in gender and number:
                    the small cars are red -> les petites voitures sont rouges
    conjugation     six verb forms in French against two in English:  we see -> nous voyons
    negation        ne ... pas around the verb, and  un/une -> de  after it:
                    I do not have a car -> Je n'ai pas de voiture
    questions       Does the cat see the dog? -> Est-ce que le chat voit le chien ?
    elision         le/la/je/ne/de/que + vowel:  l'arbre, j'aime, n'a, d'une, qu'il
    contraction     de + le -> du, de + les -> des:  near the bed -> près du lit
    possessives     agree with the thing owned: his car / her car -> sa voiture;
                    ma -> mon before a vowel: my orange -> mon orange

A few English words map to one French word (his/her -> son/sa/ses) and "you"
is always the polite/plural "vous", "they" always "ils", so the translation of
every English sentence is unique.  French typography: a space before "?"
(a plain space; print typesetting would use a narrow no-break space).

Deterministic: every random choice comes from the numpy.random.Generator passed in.
"""
import argparse
from pathlib import Path

import numpy as np

from minillm.atomic import write_text_atomic
from minillm.checks import check_int, check_rng

# --------------------------------------------------------------------------- lexicon
# nouns: English singular, plural, French singular, plural, gender, categories
#   ("singular": never plural, so no "my mothers"; "place:in,on": the prepositions it takes)
#   categories pick which verbs, adjectives and prepositions a noun goes with, so sentences make sense
NOUNS = [
    # people
    ("man", "men", "homme", "hommes", "m", "person"),
    ("woman", "women", "femme", "femmes", "f", "person"),
    ("boy", "boys", "garçon", "garçons", "m", "person"),
    ("girl", "girls", "fille", "filles", "f", "person"),
    ("child", "children", "enfant", "enfants", "m", "person"),
    ("baby", "babies", "bébé", "bébés", "m", "person washable"),
    ("king", "kings", "roi", "rois", "m", "person"),
    ("queen", "queens", "reine", "reines", "f", "person"),
    ("brother", "brothers", "frère", "frères", "m", "person"),
    ("sister", "sisters", "sœur", "sœurs", "f", "person"),
    ("father", "fathers", "père", "pères", "m", "person singular"),
    ("mother", "mothers", "mère", "mères", "f", "person singular"),
    ("uncle", "uncles", "oncle", "oncles", "m", "person"),
    ("aunt", "aunts", "tante", "tantes", "f", "person"),
    # animals
    ("cat", "cats", "chat", "chats", "m", "animal washable"),
    ("dog", "dogs", "chien", "chiens", "m", "animal washable"),
    ("bird", "birds", "oiseau", "oiseaux", "m", "animal"),
    ("horse", "horses", "cheval", "chevaux", "m", "animal washable"),
    ("cow", "cows", "vache", "vaches", "f", "animal"),
    ("mouse", "mice", "souris", "souris", "f", "animal"),
    ("fox", "foxes", "renard", "renards", "m", "animal"),
    ("elephant", "elephants", "éléphant", "éléphants", "m", "animal"),
    ("pig", "pigs", "cochon", "cochons", "m", "animal washable"),
    ("rabbit", "rabbits", "lapin", "lapins", "m", "animal"),
    ("duck", "ducks", "canard", "canards", "m", "animal"),
    ("owl", "owls", "chouette", "chouettes", "f", "animal"),
    ("goat", "goats", "chèvre", "chèvres", "f", "animal"),
    # things one can own; portable ones can be taken and carried; places take prepositions
    ("car", "cars", "voiture", "voitures", "f", "ownable washable place:in,on,under"),
    ("book", "books", "livre", "livres", "m", "ownable portable openable text writable"),
    ("table", "tables", "table", "tables", "f", "ownable washable place:on,under"),
    ("chair", "chairs", "chaise", "chaises", "f", "ownable portable washable place:on,under"),
    ("box", "boxes", "boîte", "boîtes", "f", "ownable portable openable place:in,on,under"),
    ("bed", "beds", "lit", "lits", "m", "ownable place:in,on,under"),
    ("house", "houses", "maison", "maisons", "f", "ownable place:in"),
    ("key", "keys", "clé", "clés", "f", "ownable portable"),
    ("bag", "bags", "sac", "sacs", "m", "ownable portable openable place:in,under"),
    ("hat", "hats", "chapeau", "chapeaux", "m", "ownable portable"),
    ("umbrella", "umbrellas", "parapluie", "parapluies", "m", "ownable portable openable"),
    ("bottle", "bottles", "bouteille", "bouteilles", "f", "ownable portable openable washable"),
    ("cup", "cups", "tasse", "tasses", "f", "ownable portable washable"),
    ("clock", "clocks", "horloge", "horloges", "f", "ownable portable"),
    ("bicycle", "bicycles", "vélo", "vélos", "m", "ownable washable"),
    ("lamp", "lamps", "lampe", "lampes", "f", "ownable portable"),
    ("shirt", "shirts", "chemise", "chemises", "f", "ownable portable washable"),
    ("dress", "dresses", "robe", "robes", "f", "ownable portable washable"),
    ("ball", "balls", "ballon", "ballons", "m", "ownable portable"),
    ("boat", "boats", "bateau", "bateaux", "m", "ownable washable place:in,on"),
    ("door", "doors", "porte", "portes", "f", "scenery openable washable"),
    ("window", "windows", "fenêtre", "fenêtres", "f", "scenery openable washable"),
    ("garden", "gardens", "jardin", "jardins", "m", "scenery place:in"),
    ("tree", "trees", "arbre", "arbres", "m", "scenery place:in,under"),
    ("kitchen", "kitchens", "cuisine", "cuisines", "f", "scenery place:in"),
    # food
    ("apple", "apples", "pomme", "pommes", "f", "food"),
    ("orange", "oranges", "orange", "oranges", "f", "food"),
    ("cake", "cakes", "gâteau", "gâteaux", "m", "food"),
    ("egg", "eggs", "œuf", "œufs", "m", "food"),
    ("banana", "bananas", "banane", "bananes", "f", "food"),
    ("tomato", "tomatoes", "tomate", "tomates", "f", "food"),
    ("carrot", "carrots", "carotte", "carottes", "f", "food"),
    ("pear", "pears", "poire", "poires", "f", "food"),
    ("sandwich", "sandwiches", "sandwich", "sandwichs", "m", "food"),
    ("pie", "pies", "tarte", "tartes", "f", "food"),
    ("cookie", "cookies", "biscuit", "biscuits", "m", "food"),
    # texts
    ("letter", "letters", "lettre", "lettres", "f", "text writable openable"),
    ("newspaper", "newspapers", "journal", "journaux", "m", "text"),
    ("map", "maps", "carte", "cartes", "f", "text"),
    ("story", "stories", "histoire", "histoires", "f", "text writable"),
    ("poem", "poems", "poème", "poèmes", "m", "text writable"),
]

# adjectives: English, French masc. sg, fem. sg, masc. pl, fem. pl, position in French, noun categories
ADJECTIVES = [
    ("red", "rouge", "rouge", "rouges", "rouges", "post", "ownable food"),
    ("green", "vert", "verte", "verts", "vertes", "post", "ownable food"),
    ("blue", "bleu", "bleue", "bleus", "bleues", "post", "ownable scenery"),
    ("black", "noir", "noire", "noirs", "noires", "post", "ownable animal"),
    ("white", "blanc", "blanche", "blancs", "blanches", "post", "ownable animal scenery"),
    ("yellow", "jaune", "jaune", "jaunes", "jaunes", "post", "ownable food"),
    ("grey", "gris", "grise", "gris", "grises", "post", "ownable animal"),
    ("big", "grand", "grande", "grands", "grandes", "pre", "animal ownable scenery food"),
    ("small", "petit", "petite", "petits", "petites", "pre", "person animal ownable scenery food"),
    ("pretty", "joli", "jolie", "jolis", "jolies", "pre", "animal ownable scenery"),
    ("good", "bon", "bonne", "bons", "bonnes", "pre", "food text"),
    ("bad", "mauvais", "mauvaise", "mauvais", "mauvaises", "pre", "food text"),
    ("young", "jeune", "jeune", "jeunes", "jeunes", "pre", "person animal"),
    ("happy", "heureux", "heureuse", "heureux", "heureuses", "post", "person animal"),
    ("sad", "triste", "triste", "tristes", "tristes", "post", "person animal"),
    ("tired", "fatigué", "fatiguée", "fatigués", "fatiguées", "post", "person animal"),
    ("kind", "gentil", "gentille", "gentils", "gentilles", "post", "person animal"),
    ("funny", "drôle", "drôle", "drôles", "drôles", "post", "person animal text"),
    ("clean", "propre", "propre", "propres", "propres", "post", "ownable scenery"),
    ("dirty", "sale", "sale", "sales", "sales", "post", "ownable scenery animal"),
    ("heavy", "lourd", "lourde", "lourds", "lourdes", "post", "ownable"),
    ("expensive", "cher", "chère", "chers", "chères", "post", "ownable food"),
    ("fresh", "frais", "fraîche", "frais", "fraîches", "post", "food"),
    ("hot", "chaud", "chaude", "chauds", "chaudes", "post", "food"),
    ("cold", "froid", "froide", "froids", "froides", "post", "food"),
    ("interesting", "intéressant", "intéressante", "intéressants", "intéressantes", "post", "text"),
    ("boring", "ennuyeux", "ennuyeuse", "ennuyeux", "ennuyeuses", "post", "text"),
]

# verbs: English base, 3rd person sg., French present (je, tu, il, nous, vous, ils), object categories
#   (subjects: people; the verbs marked "animal" in ANIMAL_VERBS also take animal subjects)
VERBS = [
    ("see", "sees", ("vois", "vois", "voit", "voyons", "voyez", "voient"),
     "person animal ownable food text scenery"),
    ("like", "likes", ("aime", "aimes", "aime", "aimons", "aimez", "aiment"),
     "person animal ownable food text scenery"),
    ("eat", "eats", ("mange", "manges", "mange", "mangeons", "mangez", "mangent"), "food"),
    ("want", "wants", ("veux", "veux", "veut", "voulons", "voulez", "veulent"), "animal ownable food text"),
    ("have", "has", ("ai", "as", "a", "avons", "avez", "ont"), "animal ownable food text"),
    ("buy", "buys", ("achète", "achètes", "achète", "achetons", "achetez", "achètent"), "animal ownable food text"),
    ("watch", "watches", ("regarde", "regardes", "regarde", "regardons", "regardez", "regardent"),
     "person animal scenery"),
    ("find", "finds", ("trouve", "trouves", "trouve", "trouvons", "trouvez", "trouvent"),
     "animal portable food text"),
    ("read", "reads", ("lis", "lis", "lit", "lisons", "lisez", "lisent"), "text"),
    ("take", "takes", ("prends", "prends", "prend", "prenons", "prenez", "prennent"), "portable food text"),
    ("carry", "carries", ("porte", "portes", "porte", "portons", "portez", "portent"), "portable"),
    ("draw", "draws", ("dessine", "dessines", "dessine", "dessinons", "dessinez", "dessinent"),
     "person animal ownable scenery food"),
    ("open", "opens", ("ouvre", "ouvres", "ouvre", "ouvrons", "ouvrez", "ouvrent"), "openable"),
    ("close", "closes", ("ferme", "fermes", "ferme", "fermons", "fermez", "ferment"), "openable"),
    ("wash", "washes", ("lave", "laves", "lave", "lavons", "lavez", "lavent"), "washable"),
    ("sell", "sells", ("vends", "vends", "vend", "vendons", "vendez", "vendent"), "animal ownable food text"),
    ("write", "writes", ("écris", "écris", "écrit", "écrivons", "écrivez", "écrivent"), "writable"),
]
ANIMAL_VERBS = {"see", "like", "eat", "want", "watch", "find"}
# "like" with "a cat" reads oddly in both languages: only definite and possessive objects
DEFINITE_ONLY_VERBS = {"like"}

# to be: English (I, you, he, we, they) and French (je, tu, il, nous, vous, ils)
BE_FRENCH = ("suis", "es", "est", "sommes", "êtes", "sont")

# subject pronouns: English, French, French person index (0 je .. 5 ils), gender (None = not shown)
PRONOUNS = [("I", "je", 0, None), ("you", "vous", 4, None), ("he", "il", 2, "m"),
            ("she", "elle", 2, "f"), ("we", "nous", 3, None), ("they", "ils", 5, "m")]
NAMES = [("Marie", "f"), ("Paul", "m"), ("Sophie", "f"), ("Thomas", "m"), ("Julie", "f"), ("Louis", "m")]

# prepositions of place: English, French ("de" is contracted with the article that follows)
PREPOSITIONS = {"in": ["dans"], "on": ["sur"], "under": ["sous"], "near": ["près", "de"],
                "behind": ["derrière"], "in front of": ["devant"], "next to": ["à", "côté", "de"]}
ANY_PLACE_PREPOSITIONS = ("near", "behind", "in front of", "next to")

# determiners: English, French (masc. sg, fem. sg, plural); None = not used with that number
DETERMINERS = {
    "the": ("le", "la", "les"), "a": ("un", "une", None), "my": ("mon", "ma", "mes"),
    "your": ("votre", "votre", "vos"), "his": ("son", "sa", "ses"), "her": ("son", "sa", "ses"),
    "two": (None, None, "deux"), "three": (None, None, "trois"), "four": (None, None, "quatre"),
}
SINGULAR_DETERMINERS = ("the", "a", "my", "your", "his", "her")
PLURAL_DETERMINERS = ("the", "my", "your", "his", "her", "two", "three", "four")

# French words that begin with a mute h (elision as before a vowel); no aspirated-h word is in the lexicon
H_MUET = {"homme", "hommes", "horloge", "horloges", "histoire", "histoires"}
FRENCH_VOWELS = set("aeiouyàâéèêëîïôûœ")


def starts_with_vowel_sound_fr(word):
    return word[0].lower() in FRENCH_VOWELS or word.lower() in H_MUET


def starts_with_vowel_sound_en(word):
    # true for every word of this lexicon (no "university", no "hour")
    return word[0].lower() in "aeiou"


# --------------------------------------------------------------------------- noun phrases

class Phrase:
    """One noun phrase or subject, in both languages, with what agreement needs."""

    def __init__(self, en, fr, gender, plural, person, categories, indefinite=False):
        self.en, self.fr = en, fr                  # lists of words
        self.gender, self.plural = gender, plural  # "m"/"f", bool
        self.person = person                       # French person index 0..5
        self.categories = categories               # set of category names
        self.indefinite = indefinite               # "a"/"an": becomes "de" after a negation in French

    @property
    def en_third_singular(self):
        return self.person == 2


def _categories(noun):
    return set(c.split(":")[0] for c in noun[5].split())


def _places(noun):
    for c in noun[5].split():
        if c.startswith("place:"):
            return c[len("place:"):].split(",")
    return []


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def noun_phrase(rng, noun, *, plural=None, determiner=None, adjective_p=0.35, allow_indefinite=True):
    """det [pre-adjective] noun [post-adjective] in French, det [adjective] noun in English."""
    en_sg, en_pl, fr_sg, fr_pl, gender, _ = noun
    cats = _categories(noun)
    if plural is None:
        # "singular" nouns (one father, one mother) are never made plural
        plural = "singular" not in cats and bool(rng.random() < 0.35)
    if determiner is None:
        choices = PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS
        if not allow_indefinite:
            choices = tuple(d for d in choices if d != "a")
        determiner = _pick(rng, choices)
    adjective = None
    if rng.random() < adjective_p:
        fitting = [a for a in ADJECTIVES if cats & set(a[6].split())]
        adjective = _pick(rng, fitting) if fitting else None
    en_noun, fr_noun = (en_pl, fr_pl) if plural else (en_sg, fr_sg)

    # English: det [adj] noun, with a -> an before a vowel sound
    en = [determiner] + ([adjective[0]] if adjective else []) + [en_noun]
    if determiner == "a" and starts_with_vowel_sound_en(en[1]):
        en[0] = "an"

    # French: [pre-adj] noun [post-adj], then the determiner, chosen by the word right after it
    fr_adj = None
    if adjective:
        fr_adj = adjective[1 + (2 if plural else 0) + (1 if gender == "f" else 0)]
    middle = [fr_noun]
    if adjective and adjective[5] == "pre":
        middle = [fr_adj, fr_noun]
    elif adjective:
        middle = [fr_noun, fr_adj]
    ms, fs, pl = DETERMINERS[determiner]
    fr_det = pl if plural else (fs if gender == "f" else ms)
    # ma, sa -> mon, son before a vowel sound (mon orange, son histoire)
    if fr_det in ("ma", "sa") and starts_with_vowel_sound_fr(middle[0]):
        fr_det = {"ma": "mon", "sa": "son"}[fr_det]
    fr = [fr_det] + middle
    person = 5 if plural else 2
    return Phrase(en, fr, gender, plural, person, cats, indefinite=(determiner == "a"))


def subject_phrase(rng, *, allow_animals=True, gendered_only=False, adjective_p=0.35):
    """A pronoun, a name, or a noun phrase of a person (or an animal)."""
    kind = rng.random()
    if kind < 0.35:
        pronouns = [p for p in PRONOUNS if p[3] is not None and p[0] != "they"] if gendered_only else PRONOUNS
        en, fr, person, gender = _pick(rng, pronouns)
        return Phrase([en], [fr], gender, person >= 3, person, {"person"})
    if kind < 0.5:
        name, gender = _pick(rng, NAMES)
        return Phrase([name], [name], gender, False, 2, {"person"})
    pool = [n for n in NOUNS if "person" in _categories(n) or (allow_animals and "animal" in _categories(n))]
    return noun_phrase(rng, _pick(rng, pool), adjective_p=adjective_p)


# --------------------------------------------------------------------------- French surface rules

def french_surface(words, *, question):
    """Words -> the French sentence: elision, contraction, capital, final punctuation.

    elision:      le, la, je, ne, de, que + vowel or mute h  ->  l', j', n', d', qu'  glued to the next word
    contraction:  de le -> du,  de les -> des      (after elision: de l'arbre stays)
    """
    words = list(words)
    # 1. le/la -> l' before a vowel (the article first, so that "de le arbre" becomes "de l'arbre")
    for i in range(len(words) - 1):
        if words[i] in ("le", "la") and starts_with_vowel_sound_fr(words[i + 1]):
            words[i] = "l'"
    # 2. de + le -> du, de + les -> des
    out = []
    for w in words:
        if out and out[-1] == "de" and w in ("le", "les"):
            out[-1] = "du" if w == "le" else "des"
        else:
            out.append(w)
    # 3. je, ne, de, que -> j', n', d', qu' before a vowel
    elide = {"je": "j'", "ne": "n'", "de": "d'", "que": "qu'"}
    for i in range(len(out) - 1):
        if out[i] in elide and starts_with_vowel_sound_fr(out[i + 1]):
            out[i] = elide[out[i]]
    # 4. join: an elided word is glued to the next one
    text = ""
    for w in out:
        text += w if (not text or text.endswith("'")) else " " + w
    text = text[0].upper() + text[1:]
    return text + (" ?" if question else ".")


def english_surface(words, *, question):
    text = " ".join(words)
    return text[0].upper() + text[1:] + ("?" if question else ".")


# --------------------------------------------------------------------------- sentences

def _mood(rng):
    r = rng.random()
    return "question" if r < 0.25 else ("negative" if r < 0.5 else "affirmative")


def verb_sentence(rng):
    """Subject - verb - object:  The cat sees a bird. / Le chat voit un oiseau."""
    subject = subject_phrase(rng)
    verbs = VERBS if "person" in subject.categories else [v for v in VERBS if v[0] in ANIMAL_VERBS]
    verb = _pick(rng, verbs)
    objects = [n for n in NOUNS if _categories(n) & set(verb[3].split())]
    obj = noun_phrase(rng, _pick(rng, objects), allow_indefinite=verb[0] not in DEFINITE_ONLY_VERBS)
    mood = _mood(rng)
    en_base, en_3sg, fr_forms, _ = verb
    third = subject.en_third_singular
    if mood == "affirmative":
        en = subject.en + [en_3sg if third else en_base] + obj.en
    elif mood == "negative":
        en = subject.en + ["does" if third else "do", "not", en_base] + obj.en
    else:
        en = ["does" if third else "do"] + subject.en + [en_base] + obj.en
    fr_verb = fr_forms[subject.person]
    fr_obj = list(obj.fr)
    if mood == "negative":
        # after a negation the indefinite article becomes "de": je n'ai pas de voiture
        if obj.indefinite:
            fr_obj[0] = "de"
        fr = subject.fr + ["ne", fr_verb, "pas"] + fr_obj
    else:
        fr = subject.fr + [fr_verb] + fr_obj
    if mood == "question":
        fr = ["est-ce", "que"] + fr
    q = mood == "question"
    return english_surface(en, question=q), french_surface(fr, question=q)


def _be(subject, mood, rest_en, rest_fr):
    en_be = {0: "am", 2: "is"}.get(subject.person, "are")
    if mood == "affirmative":
        en = subject.en + [en_be] + rest_en
    elif mood == "negative":
        en = subject.en + [en_be, "not"] + rest_en
    else:
        en = [en_be] + subject.en + rest_en
    fr_be = BE_FRENCH[subject.person]
    fr = subject.fr + (["ne", fr_be, "pas"] if mood == "negative" else [fr_be]) + rest_fr
    if mood == "question":
        fr = ["est-ce", "que"] + fr
    q = mood == "question"
    return english_surface(en, question=q), french_surface(fr, question=q)


def adjective_sentence(rng):
    """Subject - be - adjective, which agrees with the subject:  The cars are red. / Les voitures sont rouges."""
    r = rng.random()
    if r < 0.3:
        # he, she, a name, or a person or an animal (no adjective: "the happy cat is happy")
        subject = subject_phrase(rng, gendered_only=True, adjective_p=0.0)
    else:
        pool = [n for n in NOUNS if _categories(n) & {"ownable", "food", "text", "scenery", "animal"}]
        subject = noun_phrase(rng, _pick(rng, pool), adjective_p=0.0)
    fitting = [a for a in ADJECTIVES if subject.categories & set(a[6].split())]
    adjective = _pick(rng, fitting)
    fr_adj = adjective[1 + (2 if subject.plural else 0) + (1 if subject.gender == "f" else 0)]
    return _be(subject, _mood(rng), [adjective[0]], [fr_adj])


def location_sentence(rng):
    """Subject - be - preposition - place:  The cat is near the bed. / Le chat est près du lit."""
    r = rng.random()
    if r < 0.5:
        subject = subject_phrase(rng)
    else:
        pool = [n for n in NOUNS if _categories(n) & {"portable", "food", "text", "animal"}]
        subject = noun_phrase(rng, _pick(rng, pool))
    places = [n for n in NOUNS if _places(n)]
    place_noun = _pick(rng, places)
    preposition = _pick(rng, _places(place_noun) + list(ANY_PLACE_PREPOSITIONS))
    place = noun_phrase(rng, place_noun)
    return _be(subject, _mood(rng), preposition.split() + place.en, PREPOSITIONS[preposition] + place.fr)


SENTENCE_KINDS = ((verb_sentence, 0.6), (adjective_sentence, 0.2), (location_sentence, 0.2))


def sentence_pair(rng):
    """One (english, french) pair."""
    r = rng.random()
    for make, p in SENTENCE_KINDS:
        if r < p:
            return make(rng)
        r -= p
    return SENTENCE_KINDS[-1][0](rng)


def make_split(n_train, n_test, seed=0):
    """(train, test): lists of distinct (en, fr) pairs; no English sentence of the test set is in train."""
    check_int("n_train", n_train, low=1)
    check_int("n_test", n_test, low=1)
    rng = np.random.default_rng(seed)
    return _distinct_pairs(rng, n_train, n_test)


def _distinct_pairs(rng, n_train, n_test):
    check_rng("rng", rng)
    seen, pairs = set(), []
    tries = 0
    while len(pairs) < n_train + n_test:
        en, fr = sentence_pair(rng)
        tries += 1
        if tries > 50 * (n_train + n_test):
            raise ValueError(f"the grammar cannot make {n_train + n_test} distinct sentences "
                             f"(got {len(pairs)}): ask for fewer pairs")
        if en not in seen:
            seen.add(en)
            pairs.append((en, fr))
    return pairs[:n_train], pairs[n_train:]


def write_pairs_tsv(path, pairs):
    """Write a TSV with header "en<TAB>fr", one pair per line; atomic (temporary file, then os.replace)."""
    path = Path(path)
    for en, fr in pairs:
        if "\t" in en + fr or "\n" in en + fr:
            raise ValueError(f"pairs must not contain tabs or newlines, got {(en, fr)!r}")
    text = "en\tfr\n" + "".join(f"{en}\t{fr}\n" for en, fr in pairs)
    write_text_atomic(path, text)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="write data/en_fr_train.tsv and data/en_fr_test.tsv")
    parser.add_argument("--out", default="data", help="output folder (default data)")
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train, test = make_split(args.n_train, args.n_test, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_pairs_tsv(out / "en_fr_train.tsv", train)
    write_pairs_tsv(out / "en_fr_test.tsv", test)
    print(f"wrote {len(train)} training and {len(test)} test pairs to {out}")


if __name__ == "__main__":
    main()
