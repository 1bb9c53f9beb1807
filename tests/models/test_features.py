"""Features (models.features): the fast scorer equals the explicit matrix, cues match the reference rules, the
probability mixture is a distribution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils import murmurhash3_32

from models.candidates import Registry
from models.features import CUE_NAMES, FeatureConfig, Featurizer, LinearScorer, mixed_proba, murmur32, softmax

DATA = Path(__file__).resolve().parents[2] / "models" / "data"
EXTRA = [
    "",
    "✌️",
    "jangan lupa pilih tgl 14 ya, jangan golput",
    "jangan pilih paslon 02, janji palsu",
    "sy relawan tim sukses pak Bambang, ayo coblos nomor urut 3",
    "juru kampanye dan juru parkir",
    "kampanye imunisasi polio di posyandu RW 05",
    "x " * 300,
    "tolak Ahok! Pak Bagus #HARSI #PilkadaTanahMerah, kader PDIP",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    out = []
    for name in ("train", "valid", "test", "unseen"):
        with (DATA / f"{name}.jsonl").open(encoding="utf-8") as f:
            out.extend(json.loads(line)["text"] for line in f)
    return out[::4] + EXTRA  # every 4th post of every split: all styles, a quarter of the time


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def test_scorer_equals_sparse_matrix(texts: list[str], registry: Registry) -> None:
    f = Featurizer(FeatureConfig(), registry)
    enc = f.encode(texts)
    x = f.sparse(enc)
    assert x.shape == (len(texts), f.config.n_features)
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(7, f.config.n_features)).astype(np.float32)  # 6 labels + the binary flag model
    intercept = rng.normal(size=7)
    fast = LinearScorer(f, coef, intercept).logits(enc)
    slow = x @ coef.T.astype(np.float64) + intercept
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-4)


def test_vectorised_cues_match_reference_rules(texts: list[str], registry: Registry) -> None:
    f = Featurizer(registry=registry)
    enc = f.encode(texts)
    m = f.cue_matrix(enc)
    per_tok = f.cue_tokens(enc)
    for d in range(enc.n_docs):
        hits = f.cue_hits(enc, d)
        assert set(hits) == {CUE_NAMES[c] for c in np.nonzero(m[d])[0]}, texts[d]
        s, e = enc.starts[d], enc.starts[d + 1]
        for name, (lo, hi) in hits.items():
            c = CUE_NAMES.index(name)
            first = int(np.argmax(per_tok[s:e, c]))
            assert first == hi == f.cue_first(enc)[d, c] and f.cue_span(enc, d, name, hi) == lo, (texts[d], name)


def test_cue_examples() -> None:
    f = Featurizer()
    samples = {
        "ayo coblos no 2": {"nomor_urut", "ajakan_memilih", "ajakan_nomor"},
        "jangan lupa pilih ya, jangan golput": {"ajakan_memilih", "netralitas"},
        "jangan pilih paslon 3": {"ajakan_memilih", "negasi_calon", "nomor_urut", "ajakan_nomor", "istilah_pemilu"},
        "sy timses kecamatan": {"peran_kampanye"},
        "juru parkir pasar": set(),
        "salam ✌️ dari kantor": {"pose_nomor", "nomor_urut"},
        "dasar kampret": {"label_kubu"},
        "kader PDIP rapat": {"peran_kampanye", "nama_partai", "kegiatan_kampanye"},
        "kader posyandu rapat": {"peran_kampanye", "konteks_nonpolitik", "kegiatan_kampanye"},
    }
    enc = f.encode(list(samples))
    m = f.cue_matrix(enc)
    for d, want in enumerate(samples.values()):
        assert {CUE_NAMES[c] for c in np.nonzero(m[d])[0]} == want, list(samples)[d]


def test_murmur32_is_sklearns_murmurhash3_32() -> None:
    words = ["", "pilih", "✌", "🇮🇩", "dukung-dukung", "é", "NUM2", " pi", "lih "]
    words += [chr(c) * 3 for c in range(32, 3000, 7)]
    for w in words:
        for seed in (0, 17, 29):
            assert murmur32(w, seed) == murmurhash3_32(w, seed=seed, positive=True), (w, seed)


def test_hashing_is_sklearns_murmurhash_and_stateless() -> None:
    a, b = Featurizer(), Featurizer()
    texts = ["pilih nomor 2 yaa", "kampanye imunisasi"]
    b.encode(["kata lain dulu supaya tabelnya beda urutan"])  # different per-process table history
    xa, xb = a.sparse(a.encode(texts)), b.sparse(b.encode(texts))
    assert (xa != xb).nnz == 0
    word = murmurhash3_32("pilih", seed=a.config.word_seed, positive=True) % a.config.n_word
    assert xa[0, word] > 0


def test_memory_bounds_keep_results() -> None:
    """Clearing the word table and renewing the spaCy tokenizer (done to bound memory) change nothing."""
    f = Featurizer()
    coef = np.random.default_rng(1).normal(size=(6, f.config.n_features)).astype(np.float32)
    sc = LinearScorer(f, coef, np.zeros(6))
    texts = ["coblos nomor 2 ya", "bakso nomor 2 enak", "salam ✌️ #Pilih02"]
    before = sc.logits(f.encode(texts))
    generation, tokenizer = f.table.generation, f.tokenizer
    f.table.max_entries = 0
    f.max_strings = 0
    enc = f.encode(texts)
    assert f.table.generation > generation and f.tokenizer is not tokenizer
    np.testing.assert_allclose(sc.logits(enc), before, rtol=1e-6)
    assert f.display(enc, 2, 1, 1) == "✌"


def test_mixed_proba_is_a_distribution_that_follows_the_binary_model() -> None:
    rng = np.random.default_rng(3)
    flag_idx = np.array([0, 1, 2, 3])
    logits = rng.normal(scale=3, size=(200, 7))
    for t in (1.0, 0.8, 1.3):
        p = mixed_proba(logits, flag_idx, t)
        assert p.shape == (200, 6) and np.all(p >= 0) and np.allclose(p.sum(axis=1), 1)
    p = mixed_proba(logits, flag_idx)
    multi = softmax(logits[:, :6])
    p_bin = 1 / (1 + np.exp(-logits[:, 6]))
    # P(flagged) is the average of the two models' P(flagged); shares within each group are the multinomial's
    np.testing.assert_allclose(p[:, :4].sum(1), 0.5 * (multi[:, :4].sum(1) + p_bin), rtol=1e-9)
    np.testing.assert_allclose(
        p[:, :4] / p[:, :4].sum(1, keepdims=True), multi[:, :4] / multi[:, :4].sum(1, keepdims=True), rtol=1e-9
    )
    # a sure binary model moves the flag probability halfway, whatever the multinomial says
    sure = logits.copy()
    sure[:, 6] = 50
    assert np.all(mixed_proba(sure, flag_idx)[:, :4].sum(1) >= 0.5)
