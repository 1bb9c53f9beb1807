"""Speed work must not change what the classifier says.

`fixtures/reference_outputs.json` holds what the classifier said before the speed-up of issue "classify end to end
≥ 15,000 posts/s" (models/artifacts/v0.2.0): label, flagged, the six scores and the reasons of every post of
models/data/test.jsonl and unseen.jsonl (with author bios on some), `explain` of the first 40 of them, and the
SHA-256 of `classify_jsonl`'s output file for those posts and for 3,000 generated ones (bench texts, enough for a
batch to be split with the helper process). These tests compare the current code with it: labels, flags and
reasons equal, scores within 1e-9, output files byte for byte.

The reference follows the shipped artifact. After retraining, or a deliberate change of the reasons, write it anew
(and say so in the commit): `.venv/bin/python -m tests.models.test_outputs_unchanged --write`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "reference_outputs.json"
ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("test", "unseen")
N_EXPLAIN = 40
N_GENERATED = 3000
BIOS = ("relawan paslon 2", "Guru SD Negeri 3", None, None)


def _posts() -> list[dict[str, Any]]:
    rows = []
    for split in SPLITS:
        with (ROOT / "models" / "data" / f"{split}.jsonl").open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [{"id": r["id"], "text": r["text"], "author_bio": BIOS[i % len(BIOS)]} for i, r in enumerate(rows)]


def _generated() -> list[dict[str, Any]]:
    from models.bench import make_texts

    texts = make_texts(N_GENERATED, seed=4242)
    return [{"id": f"g{i}", "text": t, "author_bio": BIOS[i % len(BIOS)]} for i, t in enumerate(texts)]


def _jsonl_sha(rows: list[dict[str, Any]], tmp: Path) -> str:
    from models.predict import classify_jsonl

    inp, out = tmp / "in.jsonl", tmp / "out.jsonl"
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    classify_jsonl(inp, out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def compute(tmp: Path) -> dict[str, Any]:
    """What the classifier in this tree says (the fixture's content)."""
    from models.predict import Classifier

    posts = _posts()
    clf = Classifier.load(workers=0)
    results = clf.predict([p["text"] for p in posts], [p["author_bio"] for p in posts])
    rows = [
        {"id": p["id"], "label": r.label.value, "flagged": r.flagged, "scores": r.scores, "reasons": r.reasons}
        for p, r in zip(posts, results, strict=True)
    ]
    explains = []
    for p in posts[:N_EXPLAIN]:
        e = clf.explain(p["text"], p["author_bio"])
        explains.append(
            {
                "id": p["id"],
                "label": e.result.label.value,
                "scores": e.result.scores,
                "reasons": e.result.reasons,
                "tokens": e.tokens,
                "cues": [[c.name, c.start, c.end, c.reason] for c in e.cues],
                "ngrams": [[g, w] for g, w in e.ngrams],
            }
        )
    return {
        "model_version": clf.version,
        "rows": rows,
        "explain": explains,
        "jsonl_sha256": _jsonl_sha(posts, tmp),
        "generated_jsonl_sha256": _jsonl_sha(_generated(), tmp),
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _same_scores(got: dict[str, float], want: dict[str, float]) -> bool:
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) <= 1e-9 for k in want)


def test_predict_equals_reference(reference: dict[str, Any]) -> None:
    from models.predict import Classifier

    clf = Classifier.load(workers=0)
    assert clf.version == reference["model_version"], "the reference is of another artifact: write it anew"
    posts = _posts()
    got = clf.predict([p["text"] for p in posts], [p["author_bio"] for p in posts])
    assert len(got) == len(reference["rows"])
    for p, r, want in zip(posts, got, reference["rows"], strict=True):
        assert p["id"] == want["id"]
        assert (r.label.value, r.flagged, r.reasons) == (want["label"], want["flagged"], want["reasons"]), p["id"]
        assert _same_scores(r.scores, want["scores"]), p["id"]
    # one post at a time (other batch composition, other token-table state) says the same
    for p, want in list(zip(posts, reference["rows"], strict=True))[:60]:
        (r,) = clf.predict([p["text"]], [p["author_bio"]])
        assert (r.label.value, r.reasons) == (want["label"], want["reasons"]) and _same_scores(r.scores, want["scores"])


def test_explain_equals_reference(reference: dict[str, Any]) -> None:
    from models.predict import Classifier

    clf = Classifier.load(workers=0)
    for p, want in zip(_posts()[:N_EXPLAIN], reference["explain"], strict=True):
        e = clf.explain(p["text"], p["author_bio"])
        assert (e.result.label.value, e.result.reasons, e.tokens) == (want["label"], want["reasons"], want["tokens"])
        assert _same_scores(e.result.scores, want["scores"])
        assert [[c.name, c.start, c.end, c.reason] for c in e.cues] == want["cues"], p["id"]
        assert [g for g, _ in e.ngrams] == [g for g, _ in want["ngrams"]], p["id"]
        assert all(abs(w - v) <= 1e-9 for (_, w), (_, v) in zip(e.ngrams, want["ngrams"], strict=True))


def test_classify_jsonl_output_equals_reference(reference: dict[str, Any], tmp_path: Path) -> None:
    assert _jsonl_sha(_posts(), tmp_path) == reference["jsonl_sha256"]


@pytest.mark.slow
def test_classify_jsonl_with_helper_equals_reference(reference: dict[str, Any], tmp_path: Path) -> None:
    assert _jsonl_sha(_generated(), tmp_path) == reference["generated_jsonl_sha256"]


def test_bounded_caches_do_not_change_results(reference: dict[str, Any]) -> None:
    """Past their bounds the word table and the chunk cache start afresh (and the ids of words are numbered anew);
    small bounds and small batches make that happen many times within the two splits: the same results."""
    from models.predict import Classifier

    clf = Classifier.load(workers=0)
    f = clf._featurizer
    f.table.max_entries = 300
    f.chunks.max_entries = 200
    posts = _posts()
    got = []
    for i in range(0, len(posts), 40):
        part = posts[i : i + 40]
        got += clf.predict([p["text"] for p in part], [p["author_bio"] for p in part])
    assert f.table.generation > 3 and f.chunks.epoch > 3
    for p, r, want in zip(posts, got, reference["rows"], strict=True):
        assert (r.label.value, r.flagged, r.reasons) == (want["label"], want["flagged"], want["reasons"]), p["id"]
        assert _same_scores(r.scores, want["scores"]), p["id"]


def test_vectorised_rounding_equals_pythons_round() -> None:
    """classify_jsonl writes scores rounded to 6 decimals with a vectorised rounding: Python's round, exactly."""
    import numpy as np

    from models.predict import _round6

    rng = np.random.default_rng(7)
    halves = (np.arange(0, 200_001) + 0.5) / 1e6  # the hard cases: a half at the 7th decimal, and its neighbours
    values = np.concatenate(
        [rng.random(300_000), rng.random(50_000) ** 12, halves, np.nextafter(halves, 2), np.nextafter(halves, -1)]
    )
    values = np.concatenate([values, [0.0, 1.0, 5e-324, 1e-300, 0.1234565, 2.5e-6, 1e12, np.inf, np.nan]])
    got = _round6(values.reshape(-1, 1))
    want = [round(v, 6) for v in values.tolist()]
    assert [g for (g,) in got][:-1] == want[:-1]
    assert np.isnan(got[-1][0])


def test_vectorised_murmurhash_equals_murmur32() -> None:
    import random

    import numpy as np

    from models.features import murmur32, murmur32_many

    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz é#0123456789ñ漢字🇮🇩✌️\u20e3ü"
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(5000)]
    strings += ["", "a", "ab", "abc", "abcd", "abcde", "\xff\xfe", "x" * 64]
    raw = [s.encode() for s in strings]
    lengths = np.array([len(b) for b in raw], dtype=np.int64)
    buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
    for seed in (0, 17, 29, 2**32 - 1):
        got = murmur32_many(buf, np.cumsum(lengths) - lengths, lengths, seed).tolist()
        assert got == [murmur32(s, seed) for s in strings]


def test_char_ngrams_hashed_in_bulk_equal_one_by_one() -> None:
    """The token table hashes the character n-grams of new words in bulk; they must be those of the per-word rule."""
    from models.features import FeatureConfig, TokenTable, murmur32

    cfg = FeatureConfig()
    table = TokenTable(cfg)
    words = [
        "coblos",
        "URL",
        "NUM2",
        "🔥",
        "02",
        "✌",
        "pemilu",
        "é",
        "漢字漢字",
        "ñandú",
        "a" * 45,
        "#pilih02",
        "x",
        "ok",
    ]
    ids = [i for w in words for i in table._ids_for_text(w)]
    table.flush()
    table.ids_for_text("lagi")  # and one more word alone
    ids.append(table.by_text["lagi"][0])
    for i in ids:
        norm = table.norms[i]
        s, n = int(table.char_start.view[i]), int(table.char_len.view[i])
        got = table.chars.view[s : s + n].tolist()
        want = []
        special = norm in ("URL", "MENTION") or norm.startswith(("NUM", "POSE_", "EMO_")) and norm.isupper()
        if any(c.isalpha() for c in norm) and not (special or norm.isdigit()):
            padded = f" {norm[: cfg.char_max_word]} "
            for size in range(cfg.char_min, cfg.char_max + 1):
                for k in range(len(padded) - size + 1):
                    want.append(murmur32(padded[k : k + size], cfg.char_seed) % cfg.n_char)
        assert got == want, norm
    assert table.chars.n == int(table.char_start.view[-1] + table.char_len.view[-1])


if __name__ == "__main__":  # python -m tests.models.test_outputs_unchanged --write
    import tempfile

    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.models.test_outputs_unchanged --write")
    with tempfile.TemporaryDirectory() as d:
        ref = compute(Path(d))
    FIXTURE.parent.mkdir(exist_ok=True)
    with FIXTURE.open("w", encoding="utf-8") as f:  # one row per line: readable diffs
        f.write('{"model_version": ' + json.dumps(ref["model_version"]) + ",\n")
        for key in ("jsonl_sha256", "generated_jsonl_sha256"):
            f.write(f' "{key}": {json.dumps(ref[key])},\n')
        for key in ("rows", "explain"):
            f.write(f' "{key}": [\n')
            f.write(",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in ref[key]))
            f.write("\n ]" + (",\n" if key == "rows" else "\n"))
        f.write("}\n")
    print(f"wrote {FIXTURE}")
