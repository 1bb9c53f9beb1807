"""Normalisation, lexicon files and tokenisation of informal Indonesian (models.text)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from spacy.tokenizer import Tokenizer

from models.features import ChunkTokenizer, _tokenize_batch
from models.text import (
    ABBREVIATIONS_PATH,
    EMOJI_PATH,
    NUMBERS_PATH,
    WORDS_PATH,
    abbreviations,
    get_tokenizer,
    map_token,
    normalize,
    normalize_text,
    normalize_texts,
    reference_tokenizer,
    segment,
    word_list,
)

DATA = Path(__file__).resolve().parents[2] / "models" / "data"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # lowercase, abbreviation lexicon, repeated and doubled letters, exclamation marks dropped
        ("Ayooo coblos yg bener!!!", ["ayo", "coblos", "yang", "benar"]),
        ("gk sy bgt utk jgn tdk dgn krn", ["tidak", "saya", "banget", "untuk", "jangan", "tidak", "dengan", "karena"]),
        ("mantappp bangeeet", ["mantap", "banget"]),
        ("ayoo menangg", ["ayo", "menang"]),
        ("PPP dan PKB", ["ppp", "dan", "pkb"]),  # a run of one letter is a name, not a repeat
        # URLs and mentions become placeholders
        ("cek https://t.co/AbC?x=1 kata @kpu_ri", ["cek", "URL", "kata", "MENTION"]),
        ("www.kpu.go.id", ["URL"]),
        ("kirim ke budi@contoh.id", ["kirim", "ke", "budi@contoh.id"]),  # an e-mail address is not a mention
        # hashtags: tag kept, camel case, digits and lowercase runs split into words
        ("#Pilih02", ["#pilih02", "pilih", "NUM2"]),
        ("#LanjutkanBontang", ["#lanjutkanbontang", "lanjutkan", "bontang"]),
        ("#lanjutkanbontang", ["#lanjutkanbontang", "lanjutkan", "bontang"]),
        ("#tolakpolitikuang", ["#tolakpolitikuang", "tolak", "politik", "uang"]),
        ("#2019GantiPresiden", ["#2019gantipresiden", "2019", "ganti", "presiden"]),
        ("#pilih_03", ["#pilih_03", "pilih", "NUM3"]),
        ("#HARSI", ["#harsi", "harsi"]),  # an unknown word stays whole
        # ballot numbers in many spellings and languages
        ("no.2", ["no", "NUM2"]),
        ("nmr.3 paslon02 cagub1", ["nomor", "NUM3", "paslon", "NUM2", "cagub", "NUM1"]),
        ("nomer loro", ["nomor", "NUM2"]),
        ("nomer siji, hiji, tilu, ciek, telu", ["nomor", "NUM1", "NUM1", "NUM3", "NUM1", "NUM3"]),
        ("kosong siji", ["NUM1"]),
        ("kosong 2", ["NUM2"]),
        ("01 02 03", ["NUM1", "NUM2", "NUM3"]),
        ("nomor urut 3", ["nomor", "urut", "NUM3"]),
        ("2️⃣", ["NUM2"]),
        # meaningful emoji (skin tones and variation selectors removed)
        ("salam ✌️🏻", ["salam", "NUM2"]),
        ("☝️ 🤟 👆🏾", ["NUM1", "NUM3", "NUM1"]),
        ("👍🏽 ✊ 👌 🗳️", ["POSE_THUMB", "POSE_FIST", "POSE_OK", "EMO_BALLOT"]),
        # leetspeak inside words, but not numbers or words ending in digits; reduplication with 2
        ("t3tap p1l1h c0blos", ["tetap", "pilih", "coblos"]),
        ("covid19 2024 10.000", ["covid19", "2024", "10.000"]),
        ("teman2 beliau2", ["teman", "beliau"]),
        # laughter
        ("wkwkwkwk hahahaha", ["wkwk", "haha"]),
        # control and invisible characters
        ("a\x00b\u200bc\td\ne", ["a", "bc", "d", "e"]),
        ("", []),
        ("   \n\t ", []),
        # Javanese / Sundanese / Betawi / Banjar / eastern forms to Indonesian
        ("ojo lali, ulah poho, kagak", ["jangan", "lali", "jangan", "poho", "tidak"]),
        ("aye kagak tau, ulun kada tahu", ["saya", "tidak", "tau", "saya", "tidak", "tahu"]),
        ("beta su pilih, torang samua", ["saya", "su", "pilih", "kita", "samua"]),
        # English words that recur in mixed posts
        ("vote for my candidate", ["pilih", "for", "my", "calon"]),
    ],
)
def test_normalize(text: str, expected: list[str]) -> None:
    assert normalize(text) == expected


def test_normalize_text_keeps_words_readable() -> None:
    # character level only: lexicon and number mapping happen per token, so reasons can quote the writer's words
    assert normalize_text("Ayo Coblos NO.2 yg T3TAP!!  \n #Pilih02") == "ayo coblos no.2 yg t3tap!! #pilih02 pilih 02"


def test_map_token_drops_punctuation_only() -> None:
    assert map_token("!!") == ()
    assert map_token("…") == ()
    assert map_token("🔥") == ("🔥",)


def test_segment_needs_known_words() -> None:
    assert segment("tolakpolitikuang") == ["tolak", "politik", "uang"]
    assert segment("asalbukanpetahana") == ["asal", "bukan", "petahana"]
    assert segment("xqzvbnmkrt") == ["xqzvbnmkrt"]  # nothing known: whole
    assert segment("ab") == ["ab"]


# --- lexicon files: format and content -------------------------------------------------------------------


def _entries(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]


def test_abbreviation_lexicon_is_well_formed() -> None:
    rows = _entries(ABBREVIATIONS_PATH)
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "an informal form is listed twice"
    for r in rows:
        assert len(r) == 2 and r[0] == r[0].lower() and " " not in r[0] and r[1].strip(), r
        assert r[0] != r[1], f"{r[0]} maps to itself"
    table = abbreviations()
    assert table["yg"] == ("yang",) and table["timses"] == ("tim", "sukses") and table["gk"] == ("tidak",)
    assert len(table) >= 300


def test_number_and_emoji_lexicons() -> None:
    numbers = dict(_entries(NUMBERS_PATH))
    assert numbers["siji"] == numbers["hiji"] == numbers["satu"] == "1"
    assert numbers["loro"] == numbers["dua"] == "2" and numbers["telu"] == numbers["tilu"] == numbers["tiga"] == "3"
    assert all(v in "123456789" and len(v) == 1 for v in numbers.values())
    emoji = dict(_entries(EMOJI_PATH))
    assert emoji["☝"] == "NUM1" and emoji["✌"] == "NUM2" and emoji["🤟"] == "NUM3" and emoji["👍"] == "POSE_THUMB"
    for k in emoji:  # keys are stored without variation selectors or skin tones
        assert not any(unicodedata.category(c) in ("Mn", "Sk") or "\ufe00" <= c <= "\ufe0f" for c in k), k


def test_word_list_is_sorted_lowercase_and_has_no_names() -> None:
    words = [w for w in WORDS_PATH.read_text(encoding="utf-8").splitlines() if w and not w.startswith("#")]
    assert words == sorted(set(words))
    assert all(w.isascii() and w.isalpha() and w.islower() and len(w) >= 3 for w in words)
    assert {"bagus", "pilih", "presiden", "tolak"} <= word_list()
    assert not {"prabowo", "jokowi", "haryo", "anies"} & word_list()  # names must not be "common words"


# --- tokenizer ------------------------------------------------------------------------------------------


def test_tokenizer_is_built_once_per_process() -> None:
    assert get_tokenizer() is get_tokenizer()


def _corpus_texts() -> list[str]:
    texts = []
    for name in ("train", "valid", "test", "unseen"):
        with (DATA / f"{name}.jsonl").open(encoding="utf-8") as f:
            texts.extend(json.loads(line)["text"] for line in f)
    return texts


@pytest.fixture(scope="module")
def ref() -> Tokenizer:
    return reference_tokenizer()  # spacy.blank("id").tokenizer: ~2 s to build


def test_fast_tokenizer_matches_spacy_blank_id(ref: Tokenizer) -> None:
    """Our tokenizer registers spaCy's hyphenated-word exceptions differently; the tokens must not change."""
    ours = get_tokenizer()
    texts = [normalize_text(t) for t in _corpus_texts()]
    texts += [
        "anak-anak bermain di luar",
        "(anak-anak) dan ibu-ibu!",
        "e-ktp ktp-el ramah-tamah",
        "bpk. dr. h. sdh dll.",
        ":) :-) ;-) <3",
        "harga rp50.000,- per-kg",
    ]
    for t in texts:
        assert [x.text for x in ours(t)] == [x.text for x in ref(t)], t


def test_known_tokenizer_difference_is_only_chained_hyphen_words(ref: Tokenizer) -> None:
    """The one documented divergence: a hyphen word chained to another word by a further hyphen."""
    assert [x.text for x in ref("kerja-kerja-kerja")] == ["kerja-kerja", "-", "kerja"]
    assert [x.text for x in get_tokenizer()("kerja-kerja-kerja")] == ["kerja", "-", "kerja", "-", "kerja"]


def test_chunk_tokenizer_equals_one_spacy_call_per_text() -> None:
    """The featurizer tokenizes whitespace chunks once and caches them; the tokens must be those of one spaCy call
    per text, on the whole corpus, edge cases and spaCy's multi-word special cases (which lower case never hits)."""
    raw = _corpus_texts() + [
        "",
        " ",
        "✌️",
        "a" * 5000,
        "🇮🇩" * 300,
        "x\n",
        "",
        "halo",
        "akhir.",
        "Dr. med dll. :) (bpk.)",
    ]
    normalized = normalize_texts(raw)
    tok = get_tokenizer()
    want_orths, want_lens = _tokenize_batch(tok, normalized)
    chunks = ChunkTokenizer()
    for half in (normalized[::2], normalized):  # a second batch: half of its chunks come from the cache
        got_orths, got_lens = chunks(tok, half)
        ref_orths, ref_lens = _tokenize_batch(tok, half)
        assert got_lens.tolist() == ref_lens.tolist()
        assert np.array_equal(got_orths, ref_orths)
    assert np.array_equal(chunks(tok, normalized)[0], want_orths) and want_lens.sum() == len(want_orths)
    small = ChunkTokenizer(max_entries=10)  # bounded: the cache is emptied, the tokens stay the same
    assert np.array_equal(small(tok, normalized[:50])[0], _tokenize_batch(tok, normalized[:50])[0])
    assert len(small._cache) > 10  # over the bound after that batch: the next call starts afresh
    small(tok, ["x y"])
    assert set(small._cache) == {"x", "y"}
