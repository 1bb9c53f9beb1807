"""The labelled corpus in models/data/: reading the splits and finding near-duplicate posts.

Splits (one JSON object a line, see models/data/README.md):

* `train.jsonl`  what the model learns from;
* `valid.jsonl`  other authors and styles: choosing C, calibrating probabilities, choosing the flag threshold;
* `test.jsonl`   other authors and styles again: the figures reported in the model card;
* `unseen.jsonl` posts about candidates that appear neither in train/valid nor in any registry file: how well the
  model reads the *shape* of a partisan sentence rather than names it memorised.

Near-duplicates. Hand-written data drifts into templates ("Ayo coblos nomor 2, Pak X sudah terbukti" with the
name and number swapped), which inflates the figures and teaches names instead of shapes. `near_duplicates`
compares every pair of posts on character 4-grams of the normalised text after *masking* what a template swaps:
capitalised words (names, places; not the first word of a sentence) and digits. The similarity of a pair is the
Jaccard index of those 4-gram sets, or 0.8 x the containment of the smaller set in the larger when both posts
are long enough and of comparable length (so a post cannot reappear inside a longer one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from models.text import normalize
from pipeline.schema import Label

DATA_DIR = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "valid", "test", "unseen")
LABEL_CODES = frozenset(label.value for label in Label)
REQUIRED = ("id", "text", "label", "author")
# Pairs at or above this similarity are near-duplicates (see models/data/README.md for how it was chosen).
NEAR_DUPLICATE = 0.55
_SHORT = 25  # a post with fewer 4-grams than this is compared by Jaccard only (containment is noise there)
_MASK_NAME = re.compile(r"(?<![\w#@])[A-Z][\w'’]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:\n]\s*)$")
_MASK_DIGITS = re.compile(r"\d+")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one split; ValueError naming the line if a row lacks a field or has an unknown label."""
    rows: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: malformed JSON: {exc.msg}") from None
            if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in REQUIRED):
                raise ValueError(f"{path}:{n}: expected an object with string fields {', '.join(REQUIRED)}")
            if row["label"] not in LABEL_CODES:
                raise ValueError(f"{path}:{n}: unknown label {row['label']!r}")
            rows.append(row)
    return rows


def read_corpus(data_dir: Path = DATA_DIR, splits: Iterable[str] = SPLITS) -> dict[str, list[dict[str, Any]]]:
    """{split: rows} for the splits whose file exists."""
    out = {}
    for name in splits:
        path = Path(data_dir) / f"{name}.jsonl"
        if path.exists():
            out[name] = read_rows(path)
    return out


def template_shingles(text: str) -> set[str]:
    """Character 4-grams of the normalised text with names and digits masked (what a template would swap)."""

    def mask(m: re.Match[str]) -> str:
        return m.group(0) if _SENTENCE_START.search(text, 0, m.start()) else "Xx"

    masked = _MASK_DIGITS.sub("0", _MASK_NAME.sub(mask, text))
    s = " ".join(normalize(masked))
    return {s[i : i + 4] for i in range(len(s) - 3)}


def _shingle_matrix(texts: Sequence[str], vocab: dict[str, int]) -> sp.csr_matrix:
    indices: list[int] = []
    indptr = [0]
    for t in texts:
        indices.extend(vocab.setdefault(g, len(vocab)) for g in template_shingles(t))
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int64), np.array(indptr)),
        shape=(len(texts), 1 << 24),
    )


def _similarity(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Dense similarity block: max(Jaccard, 0.8 x containment) of every row of a with every row of b."""
    inter = (a @ b.T).toarray().astype(np.float64)
    size_a = np.diff(a.indptr).astype(np.float64)[:, None]
    size_b = np.diff(b.indptr).astype(np.float64)[None, :]
    union = size_a + size_b - inter
    jaccard = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    small = np.minimum(size_a, size_b)
    large = np.maximum(size_a, size_b)
    # containment only between posts of comparable length: a short post shares most of its 4-grams with any
    # long post on the same topic by chance
    contain = np.where((small >= _SHORT) & (large <= 4 * small), inter / np.maximum(small, 1), 0.0)
    return np.maximum(jaccard, 0.8 * contain)  # containment counts less: a shared phrase is not a copy


def similarity_matrix(texts_a: Sequence[str], texts_b: Sequence[str] | None = None) -> np.ndarray:
    """Similarity of every pair (a, b) (dense, len(a) x len(b)); b defaults to a (then the diagonal is 0)."""
    vocab: dict[str, int] = {}
    a = _shingle_matrix(texts_a, vocab)
    b = a if texts_b is None else _shingle_matrix(texts_b, vocab)
    sim = _similarity(a, b)
    if texts_b is None:
        np.fill_diagonal(sim, 0.0)
    return sim


def near_duplicates(
    texts_a: Sequence[str], texts_b: Sequence[str] | None = None, threshold: float = NEAR_DUPLICATE
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity) at or above the threshold, most similar first; within one list each pair once.

    Computed in blocks of rows, so memory stays small for any corpus size."""
    vocab: dict[str, int] = {}
    a = _shingle_matrix(texts_a, vocab)
    b = a if texts_b is None else _shingle_matrix(texts_b, vocab)
    pairs: list[tuple[int, int, float]] = []
    block = 512
    for lo in range(0, a.shape[0], block):
        sim = _similarity(a[lo : lo + block], b)
        if texts_b is None:  # each unordered pair once, never a post with itself
            sim = np.where(np.arange(b.shape[0])[None, :] > np.arange(lo, lo + sim.shape[0])[:, None], sim, 0.0)
        ii, jj = np.nonzero(sim >= threshold)
        pairs.extend((int(i) + lo, int(j), round(float(sim[i, j]), 3)) for i, j in zip(ii, jj, strict=True))
    return sorted(pairs, key=lambda p: -p[2])
