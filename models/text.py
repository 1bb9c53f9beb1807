"""Normalisation and tokenisation of informal Indonesian social-media text.

Three steps, deterministic and shared by training and prediction:

1. `normalize_text` works on characters, for what spans tokens: Unicode NFKC; control and format
   characters -> space; URLs -> " URL ", @mentions -> " MENTION "; hashtags kept *and* split
   (`#Pilih02` -> "#pilih02 pilih 02", `#tolakpolitikuang` -> "#tolakpolitikuang tolak politik uang" by the
   word list); lowercasing; keycaps set apart ("2️⃣"); spelled zero-padded numbers ("kosong loro",
   "kosong 2" -> "02"); very long runs without spaces cut; whitespace collapsed.
2. `tokenize` runs spaCy's Indonesian tokenizer on that text.
3. `map_token` maps each token to its normal form(s) (cached per distinct token by models.features):
   invisible characters (variation selectors, skin tones) removed; glued ballot numbers split
   ("no.2", "paslon02"); laughter folded ("wkwkwk" -> "wkwk", "hahaha" -> "haha"); leetspeak inside
   words undone ("t3tap" -> "tetap"); reduplication with a digit folded ("teman2" -> "teman"); letters
   repeated 3+ times collapsed ("bangeeet" -> "banget"), doubled letters too when that gives a known word
   ("ayoo" -> "ayo"); abbreviation lexicon; 1-9 as digits ("2", "02"), number words (`lexicon/numbers.tsv`:
   Indonesian, Javanese, Sundanese and other regional languages) or hand emoji (`lexicon/emoji.tsv`:
   ☝ ✌ 🤟, keycaps) -> "NUM1".."NUM9"; other meaningful emoji -> POSE_* / EMO_*; punctuation dropped.

`normalize(text)` runs all three and returns the normal-form tokens.

Lexicon files (`models/lexicon/`, each documented in its header, each checked by tests/models/test_text.py):
`abbreviations.tsv`, `numbers.tsv`, `emoji.tsv`, `words.txt` (hashtag splitting, doubled letters).

The spaCy tokenizer is built once per process (`get_tokenizer`). It is spaCy's own Indonesian
`Tokenizer` with the rules of `spacy.blank("id")`; the only difference is how the ~15,600
hyphenated-word exceptions ("anak-anak", "ibu-ibu") are registered: as a `token_match` set lookup
instead of one special case each, which takes construction from ~2 s to under 0.1 s. The tokens are
identical on our whole corpus (tests/models/test_text.py checks this against `spacy.blank("id")`)
except for a hyphen word chained to another by a further hyphen ("kerja-kerja-kerja": spaCy keeps
"kerja-kerja" whole, we split all three), which does not matter for the features.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import spacy
from spacy.lang.id import Indonesian
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex
from spacy.vocab import Vocab

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
ABBREVIATIONS_PATH = LEXICON_DIR / "abbreviations.tsv"
NUMBERS_PATH = LEXICON_DIR / "numbers.tsv"
EMOJI_PATH = LEXICON_DIR / "emoji.tsv"
WORDS_PATH = LEXICON_DIR / "words.txt"
LEXICON_PATHS = (ABBREVIATIONS_PATH, NUMBERS_PATH, EMOJI_PATH, WORDS_PATH)

URL = "URL"
MENTION = "MENTION"
PLACEHOLDERS = frozenset({URL, MENTION})

# --- character level -------------------------------------------------------------------------

_URL_MARK = "\ue001"  # private-use marks survive lower(); replaced by URL / MENTION at the end
_MENTION_MARK = "\ue002"

_RE_DROP = re.compile("[\ue001\ue002\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\u200b\u200c\u2060\ufeff\u00ad]")
_RE_CTRL = re.compile("[^\\S ]|[\x00-\x1f\x7f-\x9f\u200d\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RE_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_RE_MENTION = re.compile(r"@\w+")
_RE_HASHTAG = re.compile(r"#(\w+)")
_RE_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\d_]+")
_RE_KEYCAP = re.compile("([0-9])\ufe0f?\u20e3")


def _read_table(path: Path, value_ok: Callable[[str], bool], what: str) -> dict[str, str]:
    """<key><TAB><value> lines (comments and blank lines skipped); ValueError naming the bad line."""
    table: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("\t")
        if not sep or not key or " " in key or not value_ok(value):
            raise ValueError(f"{path.name}:{n}: expected '<token><TAB>{what}'")
        if key in table and table[key] != value:
            raise ValueError(f"{path.name}:{n}: {key!r} is listed twice with different values")
        table[key] = value
    return table


_NUMBER_WORD_DIGIT = _read_table(NUMBERS_PATH, lambda v: len(v) == 1 and v in "123456789", "<digit 1-9>")
_RE_ZERO_WORD = re.compile(r"\b(?:kosong|nol) *(" + "|".join(sorted(_NUMBER_WORD_DIGIT)) + r"|[1-9])\b")


def _zero_word(m: re.Match[str]) -> str:
    w = m.group(1)
    return " 0" + (w if w.isdigit() else _NUMBER_WORD_DIGIT[w]) + " "


_MAX_RUN = 80
_RE_LONG_RUN = re.compile(rf"\S{{{_MAX_RUN},}}")


def _chop(m: re.Match[str]) -> str:
    """Cut a run of 80+ non-space characters into 40-character pieces: spaCy's affix loop is quadratic in
    the length of a run of emoji or punctuation (4,000 flag emoji took 2 s), and no real word is that long."""
    s = m.group(0)
    return " ".join(s[i : i + _MAX_RUN // 2] for i in range(0, len(s), _MAX_RUN // 2))


def _mention(m: re.Match[str]) -> str:
    s = m.string
    i = m.start()
    if i and (s[i - 1].isalnum() or s[i - 1] in "_@"):  # an e-mail address or "a@@b": leave it
        return m.group(0)
    return f" {_MENTION_MARK} "


def _hashtag(m: re.Match[str]) -> str:
    s = m.string
    i = m.start()
    if i and (s[i - 1].isalnum() or s[i - 1] in "_#&"):  # "C#", "&#39;", "a#b": not a hashtag
        return m.group(0)
    tag = m.group(1)
    return " #" + tag.lower() + " " + _split_tag(tag) + " "


@lru_cache(maxsize=20_000)
def _split_tag(tag: str) -> str:
    """The words of a hashtag: camel case and digits first, then each lowercase run by the word list."""
    parts = _RE_CAMEL.findall(tag.replace("_", " "))
    return " ".join(w for p in parts for w in segment(p.lower()))


_SEG_MIN = 3  # shortest word the segmenter may cut out (2-letter words make spurious splits)
_SEG_MAX = 20


def segment(run: str) -> list[str]:
    """Split a run of lowercase letters into words of `words.txt`, allowing unknown stretches at a cost.

    Cost of a split = number of pieces + 0.5 x letters in unknown pieces; the cheapest wins (dynamic
    programming), and the run stays whole unless the split has at least two pieces and covers at least
    half of the letters with known words. "tolakpolitikuang" -> tolak politik uang,
    "lanjutkanbontang" -> lanjutkan bontang, "harsi" -> harsi.
    """
    n = len(run)
    if n < 2 * _SEG_MIN or not run.isalpha() or not run.isascii():
        return [run]
    words = word_list()
    best: list[tuple[float, int, bool]] = [(0.0, 0, False)] + [(float("inf"), 0, False)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - _SEG_MAX), end):
            piece = run[start:end]
            known = len(piece) >= _SEG_MIN and piece in words
            cost = best[start][0] + 1 + (0 if known else 0.5 * len(piece))
            if cost < best[end][0]:
                best[end] = (cost, start, known)
    pieces: list[tuple[str, bool]] = []
    end = n
    while end > 0:
        _, start, known = best[end]
        pieces.append((run[start:end], known))
        end = start
    pieces.reverse()
    # merge adjacent unknown pieces back together (an unknown name is one piece)
    merged: list[tuple[str, bool]] = []
    for piece, known in pieces:
        if merged and not known and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + piece, False)
        else:
            merged.append((piece, known))
    covered = sum(len(p) for p, k in merged if k)
    if len(merged) < 2 or 2 * covered < n:
        return [run]
    return [p for p, _ in merged]


def normalize_text(text: str) -> str:
    """Character-level normalisation of one post: the steps that need more than one token.

    NFKC; control and format characters -> " "; URLs -> "URL"; @mentions -> "MENTION"; hashtags
    kept and split ("#Pilih02" -> "#pilih02 pilih 02"); lowercase; keycaps set apart ("2️⃣" -> "2⃣");
    "kosong loro" / "nol dua" -> "02"; runs of 80+ non-space characters cut in 40-character pieces;
    whitespace runs -> one space. Each step runs only if its
    trigger is present (speed). Token-local steps (invisible characters such as variation selectors
    and skin tones, repeated letters, leetspeak, laughter, lexicon, numbers, hand-sign emoji) are
    in `map_token`, whose results are cached per distinct token.
    """
    return " ".join(normalize_words(text))


def normalize_words(text: str) -> list[str]:
    """`normalize_text(text).split(" ")` (no word for an empty result), without joining and splitting again."""
    t = text
    ascii_only = t.isascii()
    if not ascii_only:
        t = unicodedata.normalize("NFKC", t)
    if not t.isprintable():
        t = _RE_CTRL.sub(" ", t)
    marked = False
    if "http" in t or "HTTP" in t or "www." in t or "WWW." in t:
        t = _RE_URL.sub(f" {_URL_MARK} ", t)
        marked = True
    if "@" in t:
        t = _RE_MENTION.sub(_mention, t)
        marked = True
    if "#" in t:
        t = _RE_HASHTAG.sub(_hashtag, t)
    t = t.lower()
    if not ascii_only and "\u20e3" in t:
        t = _RE_KEYCAP.sub(" \\1\u20e3 ", t)
    if "kosong" in t or "nol" in t:
        t = _RE_ZERO_WORD.sub(_zero_word, t)
    if marked:
        t = t.replace(_URL_MARK, f" {URL} ").replace(_MENTION_MARK, f" {MENTION} ")
    words = t.split()  # joined by single spaces: runs of spaces make spaCy's tokenizer several times slower
    if len(t) >= _MAX_RUN and words and max(map(len, words)) >= _MAX_RUN:  # (a cheaper test than the regex's search)
        words = _RE_LONG_RUN.sub(_chop, t).split()
    return words


def visible(s: str) -> str:
    """The string without invisible characters (zero-width, variation selectors, skin tones): for reasons."""
    return _RE_DROP.sub("", s) if not s.isascii() else s


def normalize_texts(texts: list[str]) -> list[str]:
    """`normalize_text` for many posts."""
    return [" ".join(words) for words in normalize_words_batch(texts)]


def normalize_words_batch(texts: list[str]) -> list[list[str]]:
    """`normalize_words` for many posts; a text repeated in the batch (a repost) is normalised once, and its
    posts share one list (do not change it)."""
    if len(texts) < 2:
        return [normalize_words(t) for t in texts]
    distinct = dict.fromkeys(texts)
    if len(distinct) == len(texts):
        return [normalize_words(t) for t in texts]
    done = {t: normalize_words(t) for t in distinct}
    return [done[t] for t in texts]


# --- tokenizer ---------------------------------------------------------------------------------

_HYPHEN_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_tokenizer_lock = threading.Lock()
_tokenizer: Tokenizer | None = None


def build_tokenizer() -> Tokenizer:
    """spaCy's Indonesian tokenizer (rules of `spacy.blank("id")`), built fast; see the module doc."""
    defaults = Indonesian.Defaults
    rules: dict[str, list[dict[int, str]]] = {}
    hyphen_words: set[str] = set()
    for key, value in defaults.tokenizer_exceptions.items():
        if len(value) == 1 and value[0].get(ORTH) == key and _HYPHEN_WORD.fullmatch(key):
            hyphen_words.add(key)
        else:
            rules[key] = value
    words = frozenset(hyphen_words)
    assert defaults.token_match is None  # ours replaces it; spaCy's Indonesian defaults have none

    def token_match(string: str) -> bool:
        return string in words

    return Tokenizer(
        Vocab(),
        rules=rules,
        prefix_search=compile_prefix_regex(defaults.prefixes).search,
        suffix_search=compile_suffix_regex(defaults.suffixes).search,
        infix_finditer=compile_infix_regex(defaults.infixes).finditer,
        token_match=token_match,
        url_match=defaults.url_match,
    )


def get_tokenizer() -> Tokenizer:
    """The process's one Indonesian tokenizer (built on first use)."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                _tokenizer = build_tokenizer()
    return _tokenizer


def renew_tokenizer(max_strings: int) -> Tokenizer:
    """The process tokenizer, replaced by a fresh one if its vocabulary holds more than `max_strings` strings.

    spaCy keeps every distinct token it has seen in its vocabulary; over a long run of novel tokens that
    memory only grows. Token orth ids are string hashes, identical in the new tokenizer.
    """
    global _tokenizer
    tok = get_tokenizer()
    if len(tok.vocab.strings) <= max_strings:
        return tok
    with _tokenizer_lock:
        if _tokenizer is tok:
            _tokenizer = build_tokenizer()
        return _tokenizer


def reference_tokenizer() -> Tokenizer:
    """`spacy.blank("id").tokenizer` itself (slow to build): for tests that compare tokens."""
    return spacy.blank("id").tokenizer


def tokenize(normalized: str) -> list[str]:
    """spaCy tokens of an already normalised text."""
    return [t.text for t in get_tokenizer()(normalized)]


# --- token level -------------------------------------------------------------------------------

_POSE_TOKENS = _read_table(EMOJI_PATH, lambda v: re.fullmatch(r"NUM[1-9]|POSE_[A-Z]+|EMO_[A-Z]+", v) is not None,
                           "<NUMn, POSE_* or EMO_*>")  # fmt: skip
# hand emoji that show a ballot number (and the "metal" hand read as three fingers): the pose cue
NUMBER_POSES = frozenset(k for k, v in _POSE_TOKENS.items() if v.startswith("NUM") or v == "POSE_METAL")
_RE_SMALL_NUMBER = re.compile(r"0?[1-9]")
_RE_HAS_WORDCHAR = re.compile(r"[^\W_]")


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, tuple[str, ...]]:
    """The abbreviation lexicon: informal token -> normal form token(s)."""
    table: dict[str, tuple[str, ...]] = {}
    for n, line in enumerate(ABBREVIATIONS_PATH.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("\t")
        if not sep or not value.strip() or " " in key:
            raise ValueError(f"{ABBREVIATIONS_PATH.name}:{n}: expected '<token><TAB><normal form>'")
        table[key.strip()] = tuple(value.split())
    return table


@lru_cache(maxsize=1)
def word_list() -> frozenset[str]:
    """The known-word list (`lexicon/words.txt`)."""
    words = set()
    for n, line in enumerate(WORDS_PATH.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        w = line.strip()
        if not (w.isascii() and w.isalpha() and w.islower() and len(w) >= _SEG_MIN):
            raise ValueError(f"{WORDS_PATH.name}:{n}: expected one lowercase ASCII word of at least 3 letters")
        words.add(w)
    return frozenset(words)


_RE_LAUGH = re.compile(r"a?(?:w+k+){2,}[wk]*|a?wok(?:wok)+|a?(?:ha){2,}h?|(?:he){2,}h?|(?:hi){3,}h?|(?:xi){2,}")
_RE_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
_RE_LEET = re.compile(r"(?<=[a-z])[013457](?=[a-z])")
_RE_GLUED_NUMBER = re.compile(
    r"(no|nomor|nomer|nmr|paslon|pslon|capres|cawapres|cagub|cabup|cawalkot|calon|caleg|urut)[.#]?(\d{1,2})"
)
_RE_REDUP = re.compile(r"([a-z]{2,})2")  # "teman2", "beliau2": reduplication written with a digit
_RE_DOUBLE = re.compile(r"([a-z])\1")


def map_token(tok: str) -> tuple[str, ...]:
    """Normal form(s) of one spaCy token of a normalised text; () for punctuation and spaces.

    Placeholders stay; hand-sign emoji and keycaps -> NUMn / POSE_*; "no.2", "paslon02" split;
    laughter -> "wkwk" / "haha"; leetspeak inside a word ("t3tap") undone; "teman2" -> "teman"; letters
    repeated 3+ times collapsed to one ("bangeeet" -> "banget"); abbreviation lexicon; doubled letters
    collapsed when that gives a known word ("ayoo" -> "ayo"); 1-9 as digits or number words -> NUMn.
    """
    if tok in PLACEHOLDERS:
        return (tok,)
    if _RE_DROP.search(tok):
        tok = _RE_DROP.sub("", tok)
        if not tok:
            return ()
    pose = _POSE_TOKENS.get(tok)
    if pose is not None:
        return (pose,)
    if len(tok) == 2 and tok[1] == "\u20e3" and tok[0].isdigit():
        return (f"NUM{tok[0]}",) if tok[0] != "0" else ("0",)
    m = _RE_GLUED_NUMBER.fullmatch(tok)
    if m:
        return map_token(m.group(1)) + map_token(m.group(2))
    if _RE_LAUGH.fullmatch(tok):
        return ("haha",) if "h" in tok or "x" in tok else ("wkwk",)
    if not tok.isdigit() and any(c.isdigit() for c in tok):
        tok = _RE_LEET.sub(lambda m: _LEET[m.group(0)], tok)
    m = _RE_REDUP.fullmatch(tok)
    if m:
        tok = m.group(1)
    if len(set(tok)) > 1:  # "ppp" (a party) stays; "bangeeet" -> "banget"
        tok = _RE_REPEAT.sub("\\1", tok)
    if _RE_SMALL_NUMBER.fullmatch(tok):
        return (f"NUM{tok[-1]}",)
    digit = _NUMBER_WORD_DIGIT.get(tok)
    if digit is not None:
        return (f"NUM{digit}",)
    expansion = abbreviations().get(tok)
    if expansion is not None:
        return expansion
    if len(tok) >= 4 and _RE_DOUBLE.search(tok) and tok not in word_list():
        single = _RE_DOUBLE.sub("\\1", tok)  # "ayoo" -> "ayo", "menangg" -> "menang", if that is a known word
        if single in word_list() or single in abbreviations():
            return map_token(single)
    if _RE_HAS_WORDCHAR.search(tok) or not _is_punct(tok):
        return (tok,)
    return ()


def zero_padded(tok: str) -> bool:
    """True if the token writes a ballot-style number with a leading zero: "02", "paslon01", "no.03"."""
    m = _RE_GLUED_NUMBER.fullmatch(tok)
    digits = m.group(2) if m else tok
    return len(digits) == 2 and digits[0] == "0" and digits[1] in "123456789"


def _is_punct(tok: str) -> bool:
    return all(unicodedata.category(c)[0] in "PZ" for c in tok)


def normalize(text: str) -> list[str]:
    """The full pipeline for one text: normal-form tokens as the features see them."""
    out: list[str] = []
    for tok in tokenize(normalize_text(text)):
        out.extend(map_token(tok))
    return out
