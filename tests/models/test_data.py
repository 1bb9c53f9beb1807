"""The labelled corpus (models/data, models.corpus): size, labels, disjoint authors and styles, no near-duplicates,
no leak of the demo's held-out election, and an unseen-candidates split that really is unseen."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from models.candidates import REGISTRY_DIR
from models.corpus import DATA_DIR, NEAR_DUPLICATE, SPLITS, near_duplicates, read_corpus, read_rows
from pipeline.schema import Label

DEMO = Path(__file__).resolve().parents[2] / "spiders" / "replay" / "data" / "statuses.jsonl"


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict]]:
    return read_corpus()


def test_every_split_is_present_well_formed_and_has_every_label(corpus: dict[str, list[dict]]) -> None:
    assert set(corpus) == set(SPLITS)
    ids = [r["id"] for rows in corpus.values() for r in rows]
    assert len(ids) == len(set(ids)), "an id is used twice"
    for name, rows in corpus.items():
        assert {r["label"] for r in rows} == {label.value for label in Label}, name
        assert all(r["text"].strip() and r.get("style") and r.get("election") for r in rows), name
    sizes = {name: len(rows) for name, rows in corpus.items()}
    assert sum(sizes.values()) >= 2500 and sizes["valid"] >= 300 and sizes["test"] >= 300 and sizes["unseen"] >= 150
    partisan = sum(r["label"] in {"endorsement", "campaign", "attack", "symbol"} for r in corpus["train"])
    assert 0.3 < partisan / sizes["train"] < 0.5  # hard negatives in quantity: most posts are not partisan


def test_authors_never_cross_splits(corpus: dict[str, list[dict]]) -> None:
    authors = {name: {r["author"] for r in rows} for name, rows in corpus.items()}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not authors[a] & authors[b], (a, b, sorted(authors[a] & authors[b])[:5])


def test_validation_and_test_differ_in_style_from_training(corpus: dict[str, list[dict]]) -> None:
    def share(rows: list[dict]) -> Counter:
        c = Counter(r["style"] for r in rows)
        return Counter({k: v / len(rows) for k, v in c.items()})

    train = share(corpus["train"])
    for name in ("valid", "test", "unseen"):
        other = share(corpus[name])
        distance = 0.5 * sum(abs(train[k] - other[k]) for k in set(train) | set(other))
        assert distance >= 0.5, (name, distance)  # total variation distance of the style mix


def test_no_near_duplicates_across_all_splits(corpus: dict[str, list[dict]]) -> None:
    rows = [r for split in SPLITS for r in corpus[split]]
    pairs = near_duplicates([r["text"] for r in rows])
    shown = [(rows[i]["id"], rows[j]["id"], s) for i, j, s in pairs[:5]]
    assert not pairs, f"{len(pairs)} near-duplicate pairs (similarity >= {NEAR_DUPLICATE}), e.g. {shown}"


def test_the_duplicate_detector_catches_templates() -> None:
    """What the corpus test above must be able to fail on: the same sentence with names, places or numbers swapped,
    a reworded template, and a post inside a longer one. Independent posts on one topic stay below the bar."""
    template = [
        "Ayo coblos nomor 2, Pak Yosef sudah terbukti bangun jalan desa!",
        "Ayo coblos nomor 3, Bu Maria sudah terbukti bangun jalan desa!",
        "Sy relawan paslon 2 di kecamatan, yang mau ikut konsolidasi malam ini japri ya. Kaos sudah ready di posko",
        "Sy relawan paslon 1 di kelurahan, yang mau ikut konsolidasi besok malam japri ya. Kaos sudah ready di posko",
        "Besok kampanye akbar paslon Hendra-Lina di lapangan kecamatan, ayo datang ramai-ramai",
        "Lusa kampanye akbar paslon Budi-Wati di alun-alun kota, ayo datang ramai-ramai",
    ]
    found = {(i, j) for i, j, _ in near_duplicates(template)}
    assert {(0, 1), (2, 3), (4, 5)} <= found
    honest = [
        "Besok pagi ada kampanye imunisasi polio di posyandu Melati, bawa buku KIA ya",
        "Puskesmas membuka vaksinasi HPV untuk siswi kelas 5 dan 6 mulai minggu depan",
        "Jangan golput, datang ke TPS tanggal 14 dan pilih sesuai hati nurani",
    ]
    assert near_duplicates(honest) == []


def test_the_demo_election_is_never_in_the_data(corpus: dict[str, list[dict]]) -> None:
    """The demo's statuses carry ground-truth labels and are a held-out evaluation: no post may name its election
    or be a near-copy of one of its statuses."""
    texts = [r["text"] for rows in corpus.values() for r in rows]
    assert not [t for t in texts if re.search(r"tanah\s*merah", t, re.IGNORECASE)]
    demo = [re.sub(r"<[^>]+>", " ", json.loads(line)["content"]) for line in DEMO.read_text().splitlines()]
    pairs = near_duplicates(texts, demo, threshold=NEAR_DUPLICATE)
    assert not pairs, [(texts[i][:60], demo[j][:60], s) for i, j, s in pairs[:3]]


def test_unseen_candidates_appear_nowhere_else() -> None:
    unseen = read_rows(DATA_DIR / "unseen.jsonl")
    names = {c for r in unseen for c in r.get("candidates", [])}
    assert all(r.get("candidates") for r in unseen) and len(names) >= 40
    elsewhere = " ".join(r["text"] for split in ("train", "valid") for r in read_rows(DATA_DIR / f"{split}.jsonl"))
    elsewhere += " ".join(p.read_text(encoding="utf-8") for p in REGISTRY_DIR.glob("*.toml"))
    leaked = [n for n in sorted(names) if re.search(rf"\b{re.escape(n)}\b", elsewhere, re.IGNORECASE)]
    assert not leaked, leaked
    partisan = [r for r in unseen if r["label"] in {"endorsement", "campaign", "attack", "symbol"}]
    mentioned = sum(any(n.lower() in r["text"].lower() for n in r["candidates"]) for r in partisan)
    assert mentioned >= 0.75 * len(partisan)  # the split is about these candidates, not only tagged with them
