"""Features of the classifier: hashed word uni+bigrams, hashed character n-grams, dense cue features.

Feature vector of one post (three blocks, `FeatureConfig.n_features` columns):

* words  [0, n_word): normal-form tokens (models.text) and adjacent token pairs, hashed with
  MurmurHash3 (the function of sklearn's HashingVectorizer, see `murmur32`) into n_word buckets;
  value = count / sqrt(sum over distinct tokens of count^2 + number of bigrams).
* chars  [n_word, n_word + n_char): character n-grams (2..5) of each word padded with spaces
  (within word boundaries, like sklearn's "char_wb"), hashed into n_char buckets;
  value = count / sqrt(sum over distinct tokens of count^2 * the token's number of n-grams).
  Placeholders, numbers and emoji get none.
  Both normalisers are the L2 norm of the block when no two distinct tokens share a bucket or an
  n-gram and no bigram repeats; they make a word repeated 2,000 times weigh like the word once
  (bounded values), and they need only per-token counts, which keeps prediction fast.
* cues   last len(CUES) columns: 0/1 cues, times `cue_scale`: hand-written word groups (lexicon/cues.tsv:
  ballot number mentioned, call to vote, campaign role, camp label, party ...) and the candidate registry
  (models.candidates: a registered candidate named, one of their slogans or hashtags used). They also give the
  reviewers' reasons.

Everything is stateless: hashing needs no vocabulary, so training and prediction agree by
construction. A per-process `ChunkTokenizer` remembers spaCy's tokens of each distinct whitespace-separated
chunk, and a per-process `TokenTable` remembers, for each distinct spaCy token, its normal
form(s), bucket indices and cue bits, so each word is hashed once per process; it is a cache of
word-level feature lookups (never of a post's result) and is cleared when it grows past
`max_entries` (200,000 distinct tokens); the spaCy tokenizer is renewed past 500,000 vocabulary
strings, so memory stays bounded in a long run.

Prediction never builds the sparse matrix: because the model is linear, the score of a post is the
sum over its tokens of precomputed per-token weight vectors (`LinearScorer`), scaled by the same
normalisers. `Featurizer.sparse` builds the explicit matrix for training; tests check both agree. The model has
seven rows of weights (six labels and a binary flagged-vs-not model), combined by `mixed_proba`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from models.candidates import ELECTION, NAME, TAG, Registry
from models.text import (
    LEXICON_DIR,
    LEXICON_PATHS,
    NUMBER_POSES,
    PLACEHOLDERS,
    abbreviations,
    get_tokenizer,
    map_token,
    normalize_words_batch,
    renew_tokenizer,
    visible,
    word_list,
    zero_padded,
)

try:  # spaCy's own C MurmurHash3 (x86, 32 bit): bit-identical to sklearn's murmurhash3_32 (tests check it),
    # and importing it instead of scikit-learn saves ~2 s of start-up in every process and in the helper.
    from murmurhash.mrmr import hash as _mmh3

    def murmur32(s: str, seed: int) -> int:
        """MurmurHash3_x86_32 of the UTF-8 bytes of s as an unsigned int, like sklearn's murmurhash3_32."""
        return _mmh3(s, seed) & 0xFFFFFFFF

except ImportError:  # pragma: no cover - murmurhash ships with spaCy
    from sklearn.utils import murmurhash3_32

    def murmur32(s: str, seed: int) -> int:
        """MurmurHash3_x86_32 of the UTF-8 bytes of s as an unsigned int."""
        return int(murmurhash3_32(s, seed=seed, positive=True))


_U32 = np.uint32


def _rotl32(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))  # type: ignore[no-any-return]


def murmur32_many(buf: np.ndarray, start: np.ndarray, length: np.ndarray, seed: int) -> np.ndarray:
    """`murmur32` of many keys at once: MurmurHash3_x86_32 of the bytes buf[start[i] : start[i] + length[i]] (uint8
    buf, the UTF-8 of the strings), as uint32. numpy's uint32 arithmetic wraps like the C code's; tests check it
    against `murmur32` bit for bit."""
    c1, c2 = _U32(0xCC9E2D51), _U32(0x1B873593)
    b = np.concatenate((buf.astype(np.uint8, copy=False), np.zeros(4, dtype=np.uint8))).astype(np.uint32)
    h = np.full(len(start), seed & 0xFFFFFFFF, dtype=np.uint32)
    nblocks = length // 4
    for k in range(int(nblocks.max(initial=0))):
        rows = np.flatnonzero(nblocks > k)
        at = start[rows] + 4 * k
        kb = b[at] | (b[at + 1] << _U32(8)) | (b[at + 2] << _U32(16)) | (b[at + 3] << _U32(24))
        kb = _rotl32(kb * c1, 15) * c2
        hb = _rotl32(h[rows] ^ kb, 13)
        h[rows] = hb * _U32(5) + _U32(0xE6546B64)
    tail = length & 3
    rows = np.flatnonzero(tail)
    if len(rows):
        at, t = start[rows] + 4 * nblocks[rows], tail[rows]
        k1 = b[at] | np.where(t >= 2, b[at + 1] << _U32(8), _U32(0)) | np.where(t >= 3, b[at + 2] << _U32(16), _U32(0))
        h[rows] ^= _rotl32(k1 * c1, 15) * c2
    h ^= length.astype(np.uint32)
    h ^= h >> _U32(16)
    h *= _U32(0x85EBCA6B)
    h ^= h >> _U32(13)
    h *= _U32(0xC2B2AE35)
    h ^= h >> _U32(16)
    return h


CUES_PATH = LEXICON_DIR / "cues.tsv"

# Dense cue features: (name, Indonesian reason prefix). Order = column order; never reorder within
# a model version (the artifact stores the names and `load` checks them).
CUES: tuple[tuple[str, str], ...] = (
    ("nomor_urut", "menyebut nomor urut"),
    ("pose_nomor", "emoji pose jari/nomor"),
    ("ajakan_memilih", "kata ajakan memilih/mendukung"),
    ("ajakan_nomor", "ajakan memilih nomor tertentu"),
    ("peran_kampanye", "peran kampanye"),
    ("kegiatan_kampanye", "kegiatan/materi kampanye"),
    ("negasi_calon", "ajakan menolak calon/kubu"),
    ("label_kubu", "label kubu (cebong/kampret/kadrun…)"),
    ("simbol", "atribut/simbol/foto"),
    ("istilah_pemilu", "istilah pemilu"),
    ("netralitas", "isyarat netral (KPU/Bawaslu/netralitas/golput)"),
    ("konteks_nonpolitik", "konteks non-politik"),
    ("calon_terdaftar", "menyebut calon terdaftar"),
    ("tagar_calon", "slogan/tagar calon"),
    ("nama_partai", "menyebut partai"),
)
CUE_NAMES: tuple[str, ...] = tuple(c[0] for c in CUES)
CUE_REASON: dict[str, str] = dict(CUES)

# --- token bits --------------------------------------------------------------------------------
B_NUM = 1 << 0  # NUM1..NUM9
B_ZEROPAD = 1 << 1  # written "01".."09"
B_POSE_NUM = 1 << 2  # ☝ ✌ 🤟 🤘 👆
B_KEYCAP = 1 << 3  # 1️⃣ 2️⃣ ...
B_BALLOT_CTX = 1 << 4
B_VOTE = 1 << 5
B_ROLE = 1 << 6
B_TEAM_HEAD = 1 << 7  # "tim", "juru" (+ sukses / pemenangan / kampanye)
B_TEAM_TAIL = 1 << 8
B_EVENT = 1 << 9
B_NEG = 1 << 10
B_NEG_BREAK = 1 << 11  # "lupa": "jangan lupa pilih" is not a call to reject
B_CAND = 1 << 12
B_CAMP = 1 << 13
B_SYMBOL = 1 << 14
B_ELECTION = 1 << 15
B_NEUTRAL = 1 << 16
B_NONPOL = 1 << 17
B_ID_FUNCTION = 1 << 18  # a common Indonesian/regional word: the text is in a language we know
B_LATIN_WORD = 1 << 19  # has a Latin letter (a judgeable word)
B_OTHER_LETTERS = 1 << 20  # has letters of another script only
B_PLACEHOLDER = 1 << 21
B_REG_FIRST = 1 << 22  # first token of a candidate-registry phrase (models.candidates)
B_PARTY = 1 << 23  # a party name (lexicon group "party" or a party in the registry)
B_KNOWN = 1 << 24  # a word of our lexicons (words.txt, cues, abbreviations): used to warn about unknown languages

_GROUP_BITS = {
    "ballot_ctx": B_BALLOT_CTX,
    "vote": B_VOTE,
    "role": B_ROLE,
    "event": B_EVENT,
    "neg": B_NEG,
    "cand": B_CAND,
    "camp": B_CAMP,
    "symbol": B_SYMBOL,
    "election": B_ELECTION,
    "neutral": B_NEUTRAL,
    "nonpol": B_NONPOL,
    "id_function": B_ID_FUNCTION,
    "party": B_PARTY,
}
_EXTRA_BITS = {
    "tim": B_TEAM_HEAD,
    "juru": B_TEAM_HEAD,
    "sukses": B_TEAM_TAIL,
    "pemenangan": B_TEAM_TAIL,
    "kampanye": B_TEAM_TAIL,
    "lupa": B_NEG_BREAK,
}
_C_NAME = CUE_NAMES.index("calon_terdaftar")
_C_TAG = CUE_NAMES.index("tagar_calon")
_C_ELECTION = CUE_NAMES.index("istilah_pemilu")
_NEG_TARGET = B_CAND | B_NUM | B_CAMP | B_VOTE | B_REG_FIRST | B_PARTY
_WINDOW = 3


@lru_cache(maxsize=1)
def cue_lexicon() -> dict[str, int]:
    """word -> OR of its cue-group bits, from lexicon/cues.tsv."""
    table: dict[str, int] = {}
    for n, line in enumerate(CUES_PATH.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        group, sep, word = line.partition("\t")
        if not sep or group not in _GROUP_BITS or not word or " " in word:
            raise ValueError(f"{CUES_PATH.name}:{n}: expected '<group><TAB><one word>' with a known group")
        table[word] = table.get(word, 0) | _GROUP_BITS[group]
    for word, bit in _EXTRA_BITS.items():
        table[word] = table.get(word, 0) | bit
    return table


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Every word our lexicons know (the word list, cue words, abbreviations' normal forms)."""
    return frozenset(word_list()) | frozenset(cue_lexicon()) | {w for v in abbreviations().values() for w in v}


@dataclass(frozen=True)
class FeatureConfig:
    n_word: int = 2**18
    n_char: int = 2**18
    char_min: int = 2
    char_max: int = 5
    char_max_word: int = 30  # longer tokens contribute n-grams of their first 30 characters only
    cue_scale: float = 0.5  # chosen on the validation split (issue 6): cues guide, n-grams decide
    word_seed: int = 17
    char_seed: int = 29

    @property
    def n_cues(self) -> int:
        return len(CUES)

    @property
    def n_features(self) -> int:
        return self.n_word + self.n_char + self.n_cues

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_BIGRAM_MULT = np.uint64(2654435761)


class _Grow:
    """A numpy array that grows by doubling."""

    def __init__(self, dtype: type, cap: int = 4096) -> None:
        self.a = np.zeros(cap, dtype=dtype)
        self.n = 0

    def append(self, values: Sequence[int]) -> int:
        start = self.n
        need = start + len(values)
        if need > len(self.a):
            bigger = np.zeros(max(need, 2 * len(self.a)), dtype=self.a.dtype)
            bigger[:start] = self.a[:start]
            self.a = bigger
        self.a[start:need] = values
        self.n = need
        return start

    @property
    def view(self) -> np.ndarray:
        return self.a[: self.n]


class TokenTable:
    """Per-process lookups: spaCy token -> normal-form ids -> bucket indices and cue bits."""

    def __init__(self, config: FeatureConfig, registry: Registry | None = None, max_entries: int = 200_000) -> None:
        self.config = config
        self.registry = registry or Registry()
        self.reg_first = self.registry.first
        self.parties = self.registry.party_words()
        self.max_entries = max_entries
        self.generation = 0  # bumped at every reset so that scorers drop their per-id caches
        self._reset()

    def _reset(self) -> None:
        self.by_orth: dict[int, tuple[int, ...]] = {}
        self.by_text: dict[str, tuple[int, ...]] = {}
        self.by_key: dict[tuple[str, int], int] = {}
        self.norms: list[str] = []
        self.word_hash = _Grow(np.uint32)
        self.bits = _Grow(np.int64)
        self.char_start = _Grow(np.int64)
        self.char_len = _Grow(np.int64)
        self.chars = _Grow(np.int32, cap=65536)
        self._pending: list[bytes | None] = []  # per id not yet in char_start/char_len/chars: its padded UTF-8
        self.generation += 1

    def maybe_reset(self) -> None:
        if len(self.norms) > self.max_entries or len(self.by_orth) > self.max_entries:
            self._reset()

    def __len__(self) -> int:
        return len(self.norms)

    def _norm_id(self, norm: str, raw_bits: int) -> int:
        key = (norm, raw_bits)
        i = self.by_key.get(key)
        if i is not None:
            return i
        cfg = self.config
        bits = raw_bits | cue_lexicon().get(norm, 0)
        if norm in self.reg_first:
            bits |= B_REG_FIRST
        if norm in self.parties:
            bits |= B_PARTY
        if norm in known_words():
            bits |= B_KNOWN
        padded: bytes | None = None
        if norm in PLACEHOLDERS:
            bits |= B_PLACEHOLDER
        elif norm.startswith(("NUM", "POSE_", "EMO_")) and norm.isupper() or norm.isdigit():
            if norm.startswith("NUM"):
                bits |= B_NUM
        elif any(c.isalpha() for c in norm):
            if any("a" <= c <= "z" for c in norm):
                bits |= B_LATIN_WORD
            else:
                bits |= B_OTHER_LETTERS
            padded = f" {norm[: cfg.char_max_word]} ".encode()  # its char n-grams: hashed in `flush`
        word_hash = murmur32(norm, cfg.word_seed)
        i = len(self.norms)
        self.norms.append(norm)
        self.by_key[key] = i
        self.word_hash.append([word_hash])
        self.bits.append([bits])
        self._pending.append(padded)
        return i

    def flush(self) -> None:
        """Hash the character n-grams of the ids added since the last call, all at once (`murmur32_many`), into
        char_start, char_len and chars: the n-grams of padded ' word ' (its first char_max_word characters), of
        sizes char_min..char_max, by size then position, each murmur32(n-gram, char_seed) % n_char."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        cfg = self.config
        sizes = range(cfg.char_min, cfg.char_max + 1)
        # every character boundary of every padded word, as a byte offset into `buf` (their concatenation)
        bounds: list[np.ndarray] = []
        n_chars = np.zeros(len(pending), dtype=np.int64)
        base = 0
        for j, p in enumerate(pending):
            if p is None:
                continue
            if p.isascii():
                offs = np.arange(base, base + len(p) + 1, dtype=np.int64)
            else:
                widths = [len(c.encode()) for c in p.decode()]
                offs = base + np.concatenate(([0], np.cumsum(widths, dtype=np.int64)))
            bounds.append(offs)
            n_chars[j] = len(offs) - 1
            base += len(p)
        per_size = [np.maximum(n_chars - n + 1, 0) * (n_chars > 0) for n in sizes]  # n-grams of each size
        n_grams = np.sum(per_size, axis=0, dtype=np.int64)
        first_gram = self.chars.n + np.cumsum(n_grams) - n_grams
        if bounds:
            buf = np.frombuffer(b"".join(p for p in pending if p is not None), dtype=np.uint8)
            offs_all = np.concatenate(bounds)
            first_bound = np.cumsum(n_chars + (n_chars > 0)) - (n_chars + (n_chars > 0))
            grams = np.zeros(int(n_grams.sum()), dtype=np.int64)
            before = np.zeros(len(pending), dtype=np.int64)  # n-grams of smaller sizes of each word
            for n, count in zip(sizes, per_size, strict=True):
                words = np.repeat(np.arange(len(pending)), count)
                pos = np.arange(len(words)) - np.repeat(np.cumsum(count) - count, count)  # start character
                lo = offs_all[first_bound[words] + pos]
                hi = offs_all[first_bound[words] + pos + n]
                h = murmur32_many(buf, lo, hi - lo, cfg.char_seed)
                grams[first_gram[words] - self.chars.n + before[words] + pos] = h % np.uint32(cfg.n_char)
                before += count
            self.chars.append(grams)
        self.char_start.append(first_gram)
        self.char_len.append(n_grams)

    def ids_for_text(self, tok: str) -> tuple[int, ...]:
        """Normal-form ids of one spaCy token text."""
        got = self._ids_for_text(tok)
        self.flush()
        return got

    def _ids_for_text(self, tok: str) -> tuple[int, ...]:
        """`ids_for_text` without `flush`: char_start, char_len and chars are not complete until it is called."""
        got = self.by_text.get(tok)
        if got is not None:
            return got
        raw_bits = 0
        if tok in NUMBER_POSES:
            raw_bits |= B_POSE_NUM
        if len(tok) == 2 and tok[1] == "\u20e3":
            raw_bits |= B_KEYCAP
        pad = B_ZEROPAD if zero_padded(tok) else 0
        got = tuple(self._norm_id(n, raw_bits | (pad if n.startswith("NUM") else 0)) for n in map_token(tok))
        self.by_text[tok] = got
        return got


@dataclass
class Encoded:
    """A batch of posts as normal-form token ids (concatenated, in document order)."""

    n_docs: int
    ids: np.ndarray  # (T,) int64 normal-form ids
    doc_of: np.ndarray  # (T,) int64 document of each id
    raw_pos: np.ndarray  # (T,) int64 index, within its document, of the spaCy token it came from
    starts: np.ndarray  # (n_docs + 1,) offsets of each document's ids
    orths: np.ndarray  # (R,) uint64 spaCy orth (string hash) of every spaCy token, all documents
    raw_starts: np.ndarray  # (n_docs + 1,) offsets of each document's spaCy tokens in orths
    generation: int  # TokenTable generation the ids belong to
    reg_hits: np.ndarray | None = None  # (H, 4) registry matches (doc, lo, hi, phrase), see Featurizer.registry_hits
    reg_by_end: dict[tuple[int, int], list[tuple[int, int]]] | None = None  # (doc, hi) -> [(lo, phrase)] of those

    # The same arrays as Python lists, made on first use: the reasons index them one element at a time, which is
    # several times faster on a list than on a numpy array (no numpy scalar per access).
    @cached_property
    def ids_list(self) -> list[int]:
        return self.ids.tolist()  # type: ignore[no-any-return]

    @cached_property
    def starts_list(self) -> list[int]:
        return self.starts.tolist()  # type: ignore[no-any-return]

    @cached_property
    def raw_pos_list(self) -> list[int]:
        return self.raw_pos.tolist()  # type: ignore[no-any-return]

    @cached_property
    def raw_starts_list(self) -> list[int]:
        return self.raw_starts.tolist()  # type: ignore[no-any-return]

    @cached_property
    def orths_list(self) -> list[int]:
        return self.orths.tolist()  # type: ignore[no-any-return]


_SEPARATOR = " \n "  # normalised texts never contain "\n": joined by it, they come out as one "\n " token between


class ChunkTokenizer:
    """spaCy's tokens of normalised texts, computed once per distinct whitespace-separated chunk.

    spaCy's tokenizer works chunk by chunk (the text between spaces) and caches each chunk's tokens itself, but it
    stops caching for the rest of a call as soon as one chunk hits a special case (spaCy issue #1250), and each call
    also pays for a Doc. So: a normalised text (single spaces, lower case) is split on spaces here, every chunk not
    seen yet goes to spaCy (all new chunks of a batch in one call, joined by a separator), and the chunk gets a
    number (`ids`) under which its tokens (ORTH ids) are kept in one array (`orth_pool`, from `orth_start`,
    `orth_len` long), so a batch's tokens are gathered from it with numpy. The tokens are exactly those of one
    spaCy call per text (lower-cased text never matches spaCy's few multi-word special cases such as "Dr. med";
    tests/models/test_text.py checks the whole corpus). Everything is forgotten past `max_entries` chunks and
    whenever the tokenizer is renewed (`epoch` counts that), so memory stays bounded and every ORTH id's string is
    in the current vocabulary.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._tok: Any = None
        self.epoch = 0
        self._reset()

    def _reset(self) -> None:
        self._cache: dict[str, int] = {}
        self.orth_pool = _Grow(np.uint64, cap=65536)
        self.orth_start = _Grow(np.int64)
        self.orth_len = _Grow(np.int64)
        self.epoch += 1

    def __len__(self) -> int:
        return len(self._cache)

    def ids(self, tok: Any, chunks: list[str]) -> np.ndarray:
        """The number of each chunk (learning the new ones; numbers are valid until `epoch` changes)."""
        if tok is not self._tok or len(self._cache) > self.max_entries:
            self._tok = tok
            self._reset()
        cache = self._cache
        missing = [c for c in dict.fromkeys(chunks) if c not in cache]
        if missing:
            self._learn(tok, missing)
        return np.fromiter(map(cache.__getitem__, chunks), dtype=np.int64, count=len(chunks))

    def orths(self, cids: np.ndarray) -> np.ndarray:
        """The tokens (ORTH ids) of these chunks, one after the other."""
        return _gather(self.orth_pool.view, self.orth_start.view, self.orth_len.view, cids)

    def __call__(self, tok: Any, normalized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ORTH ids of all tokens, in document order; number of tokens per document)."""
        per_doc = [t.split(" ") if t else [] for t in normalized]
        cids = self.ids(tok, list(chain.from_iterable(per_doc)))
        n_chunks = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        lens = np.bincount(
            np.repeat(np.arange(len(per_doc)), n_chunks), weights=self.orth_len.view[cids], minlength=len(per_doc)
        )
        return self.orths(cids), lens.astype(np.int64)

    def _learn(self, tok: Any, chunks: list[str]) -> None:
        arr = tok(_SEPARATOR.join(chunks)).to_array("ORTH").astype(np.uint64, copy=False)
        cut = np.flatnonzero(arr == np.uint64(tok.vocab.strings.add(_SEPARATOR.lstrip(" "))))
        if len(cut) == len(chunks) - 1:  # parts after the first start with the separator token
            parts = [part[1:] if k else part for k, part in enumerate(np.split(arr, cut))]
        else:  # pragma: no cover - defensive: one call per chunk
            parts = [tok(c).to_array("ORTH").astype(np.uint64) for c in chunks]
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        first = len(self._cache)
        self.orth_start.append(self.orth_pool.n + np.cumsum(lens) - lens)
        self.orth_len.append(lens)
        self.orth_pool.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64))
        self._cache.update(zip(chunks, range(first, first + len(chunks)), strict=True))


def _gather(pool: np.ndarray, start: np.ndarray, length: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """pool[start[i] : start[i] + length[i]] for each i of sel, concatenated."""
    lens = length[sel]
    ends = np.cumsum(lens)
    return pool[np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(start[sel] - (ends - lens), lens)]


def _tokenize_batch(tok: Any, normalized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reference: one spaCy call per text (tests compare ChunkTokenizer with it)."""
    per_text = [tok(t).to_array("ORTH").astype(np.uint64) for t in normalized]
    lens = np.array([len(p) for p in per_text], dtype=np.int64)
    parts = [p for p in per_text if len(p)]
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)), lens


class Featurizer:
    """Text -> Encoded -> features (sparse matrix for training, cue matrix, reasons' cue hits)."""

    def __init__(self, config: FeatureConfig | None = None, registry: Registry | None = None) -> None:
        self.config = config or FeatureConfig()
        self.registry = registry or Registry()
        self.table = TokenTable(self.config, self.registry)
        self.tokenizer = get_tokenizer()
        self.max_strings = 500_000  # spaCy vocabulary size at which the process tokenizer is renewed
        self.chunks = ChunkTokenizer()
        self._chunk_epoch = -1  # per chunk of self.chunks: its normal-form ids (see `_chunk_norms`)
        self._id_pool, self._raw_pool = _Grow(np.int64), _Grow(np.int64)
        self._id_start, self._id_len, self._id_gen = _Grow(np.int64), _Grow(np.int64), _Grow(np.int64)
        self._reg_gen, self._reg_at = -1, {}  # a cache of `registry_hits` (per TokenTable generation)
        self._shown: dict[int, str] = {}  # spaCy orth -> visible(its string), for reasons (see `display`)
        self._shown_tok: Any = self.tokenizer

    # -- encoding --
    def encode(self, texts: Sequence[str]) -> Encoded:
        table = self.table
        table.maybe_reset()
        words = normalize_words_batch(list(texts))
        tok = self.tokenizer = renew_tokenizer(self.max_strings)
        n = len(words)
        ck = self.chunks
        cids = ck.ids(tok, list(chain.from_iterable(words)))
        self._chunk_norms(cids, tok)
        raw_len = ck.orth_len.view[cids]  # spaCy tokens per chunk
        id_len = self._id_len.view[cids]  # normal-form ids per chunk
        chunk_doc = np.repeat(np.arange(n, dtype=np.int64), np.fromiter(map(len, words), dtype=np.int64, count=n))
        raw_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(chunk_doc, weights=raw_len, minlength=n).astype(np.int64), out=raw_start[1:])
        if raw_start[-1] == 0:
            empty = np.zeros(0, dtype=np.int64)
            zeros = np.zeros(n + 1, dtype=np.int64)
            return Encoded(n, empty, empty, empty, zeros, np.zeros(0, np.uint64), zeros, table.generation)
        orths = ck.orths(cids)
        ids = _gather(self._id_pool.view, self._id_start.view, self._id_len.view, cids)
        within = _gather(self._raw_pool.view, self._id_start.view, self._id_len.view, cids)  # token in the chunk
        doc_of = np.repeat(chunk_doc, id_len)
        chunk_raw = np.cumsum(raw_len) - raw_len  # first spaCy token of each chunk, counted over the batch
        raw_pos = np.repeat(chunk_raw, id_len) + within - raw_start[doc_of]
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc_of, minlength=n), out=starts[1:])
        return Encoded(n, ids, doc_of, raw_pos, starts, orths, raw_start, table.generation)

    def _chunk_norms(self, cids: np.ndarray, tok: Any) -> None:
        """Make sure each chunk of `cids` has its normal-form ids of the current TokenTable generation: for each
        chunk, its ids (`_id_pool` from `_id_start`, `_id_len` long; a chunk's count of ids never changes) and, for
        each id, the spaCy token of the chunk it comes from (`_raw_pool`). New spaCy tokens get their ids in the
        order of their ORTH values, as one batch of them always did (ids number the TokenTable's rows)."""
        table, ck = self.table, self.chunks
        if self._chunk_epoch != ck.epoch:
            self._chunk_epoch = ck.epoch
            self._id_pool, self._raw_pool = _Grow(np.int64, cap=65536), _Grow(np.int64, cap=65536)
            self._id_start, self._id_len, self._id_gen = _Grow(np.int64), _Grow(np.int64), _Grow(np.int64)
        known = self._id_gen.n
        if len(ck) > known:  # chunks learnt since: no ids yet
            self._id_gen.append(np.full(len(ck) - known, -1, dtype=np.int64))
            self._id_start.append(np.full(len(ck) - known, -1, dtype=np.int64))
            self._id_len.append(np.zeros(len(ck) - known, dtype=np.int64))
        stale_mask = self._id_gen.view[cids] != table.generation
        if not stale_mask.any():
            return
        stale = np.unique(cids[stale_mask])
        strings = tok.vocab.strings
        by_orth = table.by_orth
        for o in np.unique(ck.orths(stale)).tolist():
            if o not in by_orth:
                by_orth[o] = table._ids_for_text(strings[o])
        table.flush()
        pool, ostart, olen = ck.orth_pool.view, ck.orth_start.view, ck.orth_len.view
        id_start, id_len, id_gen = self._id_start.view, self._id_len.view, self._id_gen.view
        for c in stale.tolist():
            s0 = int(ostart[c])
            ids: list[int] = []
            within: list[int] = []
            for k, o in enumerate(pool[s0 : s0 + int(olen[c])].tolist()):
                e = by_orth[o]
                ids.extend(e)
                within.extend([k] * len(e))
            if id_start[c] < 0:  # first time: room at the end of the pools
                id_start[c] = self._id_pool.append(ids)  # (the per-chunk arrays do not grow here: views stay)
                self._raw_pool.append(within)
                id_len[c] = len(ids)
            else:  # a new TokenTable generation: same count of ids, new values
                self._id_pool.a[id_start[c] : id_start[c] + len(ids)] = ids
            id_gen[c] = table.generation

    def tokens(self, enc: Encoded, d: int) -> list[str]:
        """Normal-form tokens of document d (for tests and debugging)."""
        return [self.table.norms[i] for i in enc.ids[enc.starts[d] : enc.starts[d + 1]].tolist()]

    def display(self, enc: Encoded, d: int, lo: int, hi: int) -> str:
        """The words (after character normalisation) behind normal-form positions lo..hi of doc d."""
        s = enc.starts_list[d]
        r = enc.raw_starts_list[d]
        raw_pos = enc.raw_pos_list
        p0, p1 = raw_pos[s + lo], raw_pos[s + hi]
        tok = self.tokenizer
        strings = tok.vocab.strings
        try:
            if p0 == p1:  # one token: remembered per orth while the tokenizer stays the same
                shown = self._shown
                if self._shown_tok is not tok or len(shown) > 100_000:
                    shown.clear()
                    self._shown_tok = tok
                o = enc.orths_list[r + p0]
                got = shown.get(o)
                if got is None:
                    got = shown[o] = visible(strings[o])
                return got
            return visible(" ".join(strings[o] for o in enc.orths_list[r + p0 : r + p1 + 1]))
        except KeyError:  # the tokenizer was renewed meanwhile by another Featurizer: show normal forms
            return " ".join(self.table.norms[i] for i in enc.ids_list[s + lo : s + hi + 1])

    def display_many(self, enc: Encoded, docs: list[int], los: list[int], his: list[int]) -> list[str]:
        """`display(enc, d, lo, hi)` for many (d, lo, hi) at once."""
        if not docs:
            return []
        d, lo, hi = np.asarray(docs, dtype=np.int64), np.asarray(los, dtype=np.int64), np.asarray(his, dtype=np.int64)
        first = (enc.raw_starts[d] + enc.raw_pos[enc.starts[d] + lo]).tolist()  # spaCy tokens first..last, over the
        last = (enc.raw_starts[d] + enc.raw_pos[enc.starts[d] + hi]).tolist()  # batch
        tok = self.tokenizer
        strings = tok.vocab.strings
        shown = self._shown
        if self._shown_tok is not tok or len(shown) > 100_000:
            shown.clear()
            self._shown_tok = tok
        orths = enc.orths_list
        out = []
        for k, (a, b) in enumerate(zip(first, last, strict=True)):
            try:
                if a == b:
                    got = shown.get(orths[a])
                    if got is None:
                        got = shown[orths[a]] = visible(strings[orths[a]])
                    out.append(got)
                else:
                    out.append(visible(" ".join(strings[o] for o in orths[a : b + 1])))
            except KeyError:
                out.append(self.display(enc, docs[k], los[k], his[k]))
        return out

    # -- shared pieces --
    def norms(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """(1 / word-block normaliser, 1 / char-block normaliser) per document; 0 for an empty block."""
        n = enc.n_docs
        t = len(enc.ids)
        n_tok = np.diff(enc.starts)
        if t == 0:
            return np.zeros(n), np.zeros(n)
        key = enc.doc_of * (len(self.table) + 1) + enc.ids
        uniq, counts = np.unique(key, return_counts=True)
        udoc = uniq // (len(self.table) + 1)
        uid = uniq - udoc * (len(self.table) + 1)
        sq = counts.astype(np.float64) ** 2
        word_sq = np.bincount(udoc, weights=sq, minlength=n) + np.maximum(n_tok - 1, 0)
        char_sq = np.bincount(udoc, weights=sq * self.table.char_len.view[uid], minlength=n)
        inv_w = np.where(word_sq > 0, 1.0 / np.sqrt(np.maximum(word_sq, 1e-12)), 0.0)
        inv_c = np.where(char_sq > 0, 1.0 / np.sqrt(np.maximum(char_sq, 1e-12)), 0.0)
        return inv_w, inv_c

    def bigram_index(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """(bucket of each within-document token pair, position of its first token)."""
        if len(enc.ids) < 2:
            z = np.zeros(0, dtype=np.int64)
            return z, z
        h = self.table.word_hash.view[enc.ids].astype(np.uint64)
        same = enc.doc_of[1:] == enc.doc_of[:-1]
        pos = np.nonzero(same)[0]
        b = ((h[pos] * _BIGRAM_MULT) ^ h[pos + 1]) % np.uint64(self.config.n_word)
        return b.astype(np.int64), pos

    def token_bits(self, enc: Encoded) -> np.ndarray:
        return self.table.bits.view[enc.ids]

    def doc_bits(self, enc: Encoded) -> np.ndarray:
        """OR of token bits per document."""
        bits = self.token_bits(enc)
        out = np.zeros(enc.n_docs, dtype=np.int64)
        np.bitwise_or.at(out, enc.doc_of, bits)
        return out

    # -- candidate registry --
    def registry_hits(self, enc: Encoded) -> np.ndarray:
        """(H, 4) int64 rows (doc, lo, hi, phrase): every registry phrase occurrence, lo..hi its positions.

        Only tokens marked B_REG_FIRST are looked at (a phrase's first token), so the cost is proportional to the
        number of candidate mentions, not to the text. Cached on `enc`."""
        if enc.reg_hits is not None:
            return enc.reg_hits
        out: list[tuple[int, int, int, int]] = []
        reg = self.registry
        if self.table.reg_first and len(enc.ids):
            norms = self.table.norms
            phrases = reg.phrases
            ids = enc.ids_list
            at = np.nonzero(self.table.bits.view[enc.ids] & B_REG_FIRST)[0]
            docs = enc.doc_of[at]
            if self._reg_gen != self.table.generation or len(self._reg_at) > 200_000:
                self._reg_gen, self._reg_at = self.table.generation, {}
            at_ids = self._reg_at  # (id, next id or -1) -> reg.candidates_at of their normal forms
            for t, d, s, e in zip(
                at.tolist(), docs.tolist(), enc.starts[docs].tolist(), enc.starts[docs + 1].tolist(), strict=True
            ):
                key = (ids[t], ids[t + 1] if t + 1 < e else -1)
                cands = at_ids.get(key)
                if cands is None:
                    cands = at_ids[key] = reg.candidates_at(norms[key[0]], norms[key[1]] if key[1] >= 0 else None)
                for p in cands:
                    toks = phrases[p].tokens
                    n = len(toks)
                    if t + n <= e and all(norms[ids[t + k]] == toks[k] for k in range(2, n)):
                        out.append((d, t - s, t - s + n - 1, p))
        enc.reg_hits = np.array(out, dtype=np.int64).reshape(-1, 4)
        return enc.reg_hits

    def _registry_kinds(self, hits: np.ndarray) -> np.ndarray:
        kinds = np.array([{NAME: 0, TAG: 1, ELECTION: 2}[p.kind] for p in self.registry.phrases], dtype=np.int64)
        return kinds[hits[:, 3]] if len(hits) else np.zeros(0, dtype=np.int64)

    # -- cues --
    def cue_tokens(self, enc: Encoded) -> np.ndarray:
        """(T x n_cues) bool: cue c fires at token t (vectorised; same rules as `cue_hits`)."""
        t = len(enc.ids)
        if t == 0:
            return np.zeros((0, len(CUES)), dtype=bool)
        bits = self.token_bits(enc)
        doc_of = enc.doc_of

        same_doc: dict[int, np.ndarray] = {}  # k -> token i and token i + k are in the same document

        def shift(x: np.ndarray, d: int) -> np.ndarray:
            """x moved d positions later (d < 0: earlier), False across document boundaries."""
            y = np.zeros_like(x)
            k = abs(d)
            if t > k:
                ok = same_doc.get(k)
                if ok is None:
                    ok = same_doc[k] = doc_of[k:] == doc_of[:-k]
                if d > 0:
                    y[k:] = x[:-k] & ok
                else:
                    y[:-k] = x[k:] & ok
            return y

        def has(b: int) -> np.ndarray:
            return (bits & b) != 0

        def before(mask: np.ndarray, w: int) -> np.ndarray:
            acc = np.zeros(t, dtype=bool)
            for d in range(1, w + 1):
                acc |= shift(mask, d)
            return acc

        num = has(B_NUM)
        vote = has(B_VOTE)
        neg_ok = has(B_NEG) & ~shift(has(B_NEG_BREAK), -1)
        per_tok = [
            (num & before(has(B_BALLOT_CTX | B_VOTE), 2)) | has(B_ZEROPAD | B_KEYCAP),
            has(B_POSE_NUM),
            vote,
            num & before(vote, _WINDOW),
            has(B_ROLE) | (has(B_TEAM_TAIL) & shift(has(B_TEAM_HEAD), 1)),
            has(B_EVENT),
            has(_NEG_TARGET) & before(neg_ok, _WINDOW),
            has(B_CAMP),
            has(B_SYMBOL),
            has(B_ELECTION),
            has(B_NEUTRAL),
            has(B_NONPOL),
            np.zeros(t, dtype=bool),  # calon_terdaftar, tagar_calon: set from the registry matches below
            np.zeros(t, dtype=bool),
            has(B_PARTY),
        ]
        out = np.stack(per_tok, axis=1)
        hits = self.registry_hits(enc)
        if len(hits):
            at = enc.starts[hits[:, 0]] + hits[:, 2]  # a phrase fires at its last token
            kind = self._registry_kinds(hits)
            out[at[kind == 0], _C_NAME] = True
            out[at[kind == 1], _C_TAG] = True
            out[at[kind == 2], _C_ELECTION] = True  # an election-wide tag is an election term
        return out

    def cue_matrix(self, enc: Encoded, per_tok: np.ndarray | None = None) -> np.ndarray:
        """(n_docs x n_cues) float32 0/1: the cue fires somewhere in the document."""
        return (self.cue_first(enc, per_tok) >= 0).astype(np.float32)

    def cue_first(self, enc: Encoded, per_tok: np.ndarray | None = None) -> np.ndarray:
        """(n_docs x n_cues) int64: position (within the document) where each cue first fires, -1 if it does not."""
        if per_tok is None:
            per_tok = self.cue_tokens(enc)
        out = np.full((enc.n_docs, len(CUES)), -1, dtype=np.int64)
        for c in range(per_tok.shape[1] if len(per_tok) else 0):
            pos = np.nonzero(per_tok[:, c])[0]
            if len(pos):
                dp = enc.doc_of[pos]  # in document order: each document's first position starts its run
                idx = np.flatnonzero(np.diff(dp, prepend=-1))
                docs = dp[idx]
                out[docs, c] = pos[idx] - enc.starts[docs]
        return out

    def cue_span(self, enc: Encoded, d: int, name: str, hi: int) -> int:
        """Start (lo) of the words behind cue `name` that fired at position hi of document d."""
        s, e = enc.starts_list[d], enc.starts_list[d + 1]
        view = self.table.bits.view
        ids = enc.ids_list

        def b(i: int) -> int:
            return int(view[ids[s + i]]) if 0 <= i < e - s else 0

        if name == "nomor_urut" and b(hi) & B_NUM:
            for k in (1, 2):
                if b(hi - k) & (B_BALLOT_CTX | B_VOTE):
                    return hi - k
        elif name == "ajakan_nomor":
            for k in range(1, _WINDOW + 1):
                if b(hi - k) & B_VOTE:
                    return hi - k
        elif name == "peran_kampanye" and not b(hi) & B_ROLE:
            return hi - 1
        elif name == "negasi_calon":
            for k in range(1, _WINDOW + 1):
                j = hi - k
                if b(j) & B_NEG and not b(j + 1) & B_NEG_BREAK:
                    return j
        elif name in ("calon_terdaftar", "tagar_calon"):
            got = self.registry_phrase(enc, d, hi, NAME if name == "calon_terdaftar" else TAG)
            if got is not None:
                return got[0]
        return hi

    def registry_phrase(self, enc: Encoded, d: int, hi: int, kind: str) -> tuple[int, int] | None:
        """(lo, phrase) of the longest registry phrase of this kind ending at position hi of document d; among
        equally long ones, the candidate of the most recent election."""
        by_end = enc.reg_by_end
        if by_end is None:  # (doc, last position) -> [(first position, phrase)], in the order of the hits
            by_end = enc.reg_by_end = {}
            for doc, lo, end, p in self.registry_hits(enc).tolist():
                by_end.setdefault((doc, end), []).append((lo, p))
        best: tuple[int, int] | None = None
        for lo, p in by_end.get((d, hi), ()):
            if self.registry.phrases[p].kind != kind:
                continue
            if best is None or lo < best[0] or (lo == best[0] and self._recency(p) > self._recency(best[1])):
                best = (lo, p)
        return best

    def _recency(self, p: int) -> str:
        e = self.registry.elections[self.registry.phrases[p].election]
        return str(e.get("voting_day") or "")

    def cue_hits(self, enc: Encoded, d: int) -> dict[str, tuple[int, int]]:
        """Reference (per-document, plain Python) cue rules: cue -> (lo, hi) positions of its first hit."""
        s, e = int(enc.starts[d]), int(enc.starts[d + 1])
        bits = self.table.bits.view[enc.ids[s:e]].tolist()
        n = len(bits)
        hits: dict[str, tuple[int, int]] = {}
        ends: dict[int, list[tuple[int, str]]] = {}  # registry matches by last position
        for lo, end, p in self.registry.match(self.tokens(enc, d)):
            kind = self.registry.phrases[p].kind
            name = {NAME: "calon_terdaftar", TAG: "tagar_calon", ELECTION: "istilah_pemilu"}[kind]
            ends.setdefault(end - 1, []).append((lo, name))

        def put(name: str, lo: int, hi: int) -> None:
            hits.setdefault(name, (lo, hi))

        for i, b in enumerate(bits):
            if b & B_NUM:
                for k in (1, 2):
                    if i - k >= 0 and bits[i - k] & (B_BALLOT_CTX | B_VOTE):
                        put("nomor_urut", i - k, i)
                        break
                for k in range(1, _WINDOW + 1):
                    if i - k >= 0 and bits[i - k] & B_VOTE:
                        put("ajakan_nomor", i - k, i)
                        break
            if b & (B_ZEROPAD | B_KEYCAP):
                put("nomor_urut", i, i)
            if b & B_POSE_NUM:
                put("pose_nomor", i, i)
            if b & B_VOTE:
                put("ajakan_memilih", i, i)
            if b & B_ROLE:
                put("peran_kampanye", i, i)
            if b & B_TEAM_TAIL and i >= 1 and bits[i - 1] & B_TEAM_HEAD:
                put("peran_kampanye", i - 1, i)
            if b & B_EVENT:
                put("kegiatan_kampanye", i, i)
            if b & _NEG_TARGET:
                for k in range(1, _WINDOW + 1):
                    j = i - k
                    if j >= 0 and bits[j] & B_NEG and not (j + 1 < n and bits[j + 1] & B_NEG_BREAK):
                        put("negasi_calon", j, i)
                        break
            if b & B_CAMP:
                put("label_kubu", i, i)
            if b & B_SYMBOL:
                put("simbol", i, i)
            if b & B_ELECTION:
                put("istilah_pemilu", i, i)
            if b & B_NEUTRAL:
                put("netralitas", i, i)
            if b & B_NONPOL:
                put("konteks_nonpolitik", i, i)
            if b & B_PARTY:
                put("nama_partai", i, i)
            for lo, name in sorted(ends.get(i, ())):
                put(name, i if name == "istilah_pemilu" else lo, i)
        return {name: hits[name] for name in CUE_NAMES if name in hits}

    # -- explicit matrix (training) --
    def sparse(self, enc: Encoded) -> Any:
        """The (n_docs x n_features) float32 scipy.sparse CSR feature matrix (training; prediction uses the
        equivalent LinearScorer and never imports scipy, which keeps the helper process's start-up short)."""
        import scipy.sparse as sp

        cfg = self.config
        n = enc.n_docs
        t = len(enc.ids)
        inv_w, inv_c = self.norms(enc)
        clen = self.table.char_len.view[enc.ids]
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        if t:
            # unigrams
            rows.append(enc.doc_of)
            cols.append(self.table.word_hash.view[enc.ids].astype(np.int64) % cfg.n_word)
            vals.append(inv_w[enc.doc_of])
            # bigrams
            b, pos = self.bigram_index(enc)
            rows.append(enc.doc_of[pos])
            cols.append(b)
            vals.append(inv_w[enc.doc_of[pos]])
            # char n-grams
            cstart = self.table.char_start.view[enc.ids]
            tok_rep = np.repeat(np.arange(t), clen)
            within = np.arange(len(tok_rep)) - np.repeat(np.cumsum(clen) - clen, clen)
            gram = self.table.chars.view[cstart[tok_rep] + within]
            rows.append(enc.doc_of[tok_rep])
            cols.append(cfg.n_word + gram)
            vals.append(inv_c[enc.doc_of[tok_rep]])
        cues = self.cue_matrix(enc)
        r, c = np.nonzero(cues)
        rows.append(r.astype(np.int64))
        cols.append(cfg.n_word + cfg.n_char + c)
        vals.append(np.full(len(r), cfg.cue_scale))
        m = sp.coo_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, cfg.n_features),
        ).tocsr()
        m.sum_duplicates()
        return m


class LinearScorer:
    """logits = X @ W.T + b, computed from per-token weight sums without building X."""

    def __init__(self, featurizer: Featurizer, coef: np.ndarray, intercept: np.ndarray) -> None:
        cfg = featurizer.config
        if coef.shape[1] != cfg.n_features:
            raise ValueError(f"coef has {coef.shape[1]} columns, features have {cfg.n_features}")
        self.f = featurizer
        self.k = coef.shape[0]
        w = np.ascontiguousarray(coef.T, dtype=np.float32)  # (F, K): row gathers are contiguous
        self.w_word = w[: cfg.n_word]
        self.w_char = w[cfg.n_word : cfg.n_word + cfg.n_char]
        self.w_cue = w[cfg.n_word + cfg.n_char :] * np.float32(cfg.cue_scale)
        self.b = intercept.astype(np.float64)
        self._gen = -1
        self._done = 0
        self._uni = np.zeros((0, self.k), dtype=np.float32)
        self._chr = np.zeros((0, self.k), dtype=np.float32)

    def _sync(self) -> None:
        """Compute per-id unigram and char-n-gram weight sums for ids added since the last call."""
        tab = self.f.table
        if tab.generation != self._gen:
            self._gen, self._done = tab.generation, 0
            self._uni = np.zeros((0, self.k), dtype=np.float32)
            self._chr = np.zeros((0, self.k), dtype=np.float32)
        n = len(tab)
        if n == self._done:
            return
        new = np.arange(self._done, n)
        uni = self.w_word[tab.word_hash.view[new].astype(np.int64) % self.f.config.n_word]
        clen = tab.char_len.view[new]
        cstart = tab.char_start.view[new]
        lo, hi = int(cstart[0]), int(cstart[-1] + clen[-1])
        csum = np.zeros((hi - lo + 1, self.k), dtype=np.float64)
        if hi > lo:
            np.cumsum(self.w_char[tab.chars.view[lo:hi]], axis=0, out=csum[1:])
        chr_ = (csum[cstart - lo + clen] - csum[cstart - lo]).astype(np.float32)
        if len(self._uni) < n:
            cap = max(n, 2 * len(self._uni), 4096)
            for name in ("_uni", "_chr"):
                old = getattr(self, name)
                grown = np.zeros((cap, self.k), dtype=np.float32)
                grown[: len(old)] = old
                setattr(self, name, grown)
        self._uni[self._done : n] = uni
        self._chr[self._done : n] = chr_
        self._done = n

    def parts(self, enc: Encoded) -> dict[str, np.ndarray]:
        """Everything the logits and the reasons need, for the whole batch."""
        self._sync()
        n = enc.n_docs
        inv_w, inv_c = self.f.norms(enc)
        bi, bpos = self.f.bigram_index(enc)
        tok_uni = self._uni[enc.ids]
        tok_chr = self._chr[enc.ids]
        tok_bi = self.w_word[bi]
        sum_w = _segment_sums(tok_uni, enc.doc_of, n)
        if len(bi):
            sum_w += _segment_sums(tok_bi, enc.doc_of[bpos], n)
        sum_c = _segment_sums(tok_chr, enc.doc_of, n)
        cue_tok = self.f.cue_tokens(enc)
        cue_first = self.f.cue_first(enc, cue_tok)
        cues = (cue_first >= 0).astype(np.float32)
        logits = self.b + sum_w * inv_w[:, None] + sum_c * inv_c[:, None] + cues @ self.w_cue
        return {
            "logits": logits,
            "cues": cues,
            "cue_tok": cue_tok,
            "cue_first": cue_first,
            "inv_w": inv_w,
            "inv_c": inv_c,
            "tok_uni": tok_uni,
            "tok_chr": tok_chr,
            "tok_bi": tok_bi,
            "bi_pos": bpos,
        }

    def logits(self, enc: Encoded) -> np.ndarray:
        return self.parts(enc)["logits"]


def _segment_sums(rows: np.ndarray, doc_of: np.ndarray, n_docs: int) -> np.ndarray:
    """(n_docs x k) float64 sums of `rows` grouped by their (sorted) document; 0 for a document without rows."""
    out = np.zeros((n_docs, rows.shape[1]), dtype=np.float64)
    if len(rows):
        first = np.flatnonzero(np.diff(doc_of, prepend=-1))  # first row of each document that has rows
        out[doc_of[first]] = np.add.reduceat(rows.astype(np.float64), first, axis=0)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mixed_proba(logits: np.ndarray, flag_idx: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Six label probabilities from the model's 7 logits: 6 of the multinomial model and, last, the logit of the
    binary flagged-vs-not model (both already temperature-scaled).

    The result is the average of two distributions: the multinomial softmax, and the same within-group shares
    rescaled so that the partisan group gets the binary model's P(flagged). The binary model pools the four
    partisan labels, so it ranks "needs review" better; the multinomial one tells them apart. An average of
    probabilities is under-confident, so the mixture gets its own temperature (fitted on the validation split):
    softmax(log(mixture) / temperature)."""
    p = softmax(logits[:, :-1])
    p_bin = 1.0 / (1.0 + np.exp(-np.clip(logits[:, -1], -60, 60)))
    is_flag = np.zeros(p.shape[1], dtype=bool)
    is_flag[flag_idx] = True
    p_flag = p[:, is_flag].sum(axis=1, keepdims=True)
    p_other = 1.0 - p_flag
    with np.errstate(divide="ignore", invalid="ignore"):
        rescaled = np.where(
            is_flag[None, :],
            np.where(p_flag > 0, p / p_flag, 1.0 / is_flag.sum()) * p_bin[:, None],
            np.where(p_other > 0, p / p_other, 1.0 / (~is_flag).sum()) * (1.0 - p_bin[:, None]),
        )
    mix = 0.5 * (p + rescaled)
    if temperature == 1.0:
        return mix
    return softmax(np.log(np.clip(mix, 1e-300, 1.0)) / temperature)


def lexicon_paths() -> list[Path]:
    """The lexicon files the features depend on (an artifact records their hashes; changing one needs retraining)."""
    return [*LEXICON_PATHS, CUES_PATH]
