"""Candidate registries (models.candidates): the shipped files, validation errors, and the matcher against spaCy's
PhraseMatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from models.candidates import ELECTION, NAME, REGISTRY_DIR, TAG, Registry
from models.features import CUE_NAMES, Featurizer
from models.text import normalize
from pipeline.errors import RegistryError

DATA = Path(__file__).resolve().parents[2] / "models" / "data"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def _names(reg: Registry, text: str) -> set[tuple[str, str]]:
    """(candidate pair, phrase kind) of every match in a text."""
    out = set()
    for _, _, p in reg.match(normalize(text)):
        ph = reg.phrases[p]
        out.add((reg.candidates[ph.candidate].pair if ph.candidate >= 0 else "-", ph.kind))
    return out


def test_shipped_registries(registry: Registry) -> None:
    ids = {e["id"] for e in registry.elections}
    assert {"pilkada-tanah-merah-2024", "pilpres-2024", "pilpres-2019", "pilpres-2014"} <= ids
    demo = [c for c in registry.candidates if c.election_id == "pilkada-tanah-merah-2024"]
    assert [(c.number, c.pair) for c in demo] == [
        (1, "Haryo Wicaksono–Siti Komariyah"),
        (2, "Bagus Pranoto–Ahmad Fauzan Hilmi"),
        (3, "Ratna Dewi Anggraini–Yudi Kurniawan"),
    ]
    training = Registry.load(include_heldout=False)
    assert "pilkada-tanah-merah-2024" not in {e["id"] for e in training.elections}
    assert len(training.files) == len(registry.files) - 1
    assert registry.sha256 and registry.sha256 != training.sha256


def test_demo_candidates_are_found(registry: Registry) -> None:
    assert _names(registry, "Jadwal kampanye Pak Haryo hari ini #HARSI") == {
        ("Haryo Wicaksono–Siti Komariyah", NAME),
        ("Haryo Wicaksono–Siti Komariyah", TAG),
    }
    assert ("Bagus Pranoto–Ahmad Fauzan Hilmi", TAG) in _names(registry, "Ayo menangkan #Pilih02 #TanahMerahMaju")
    assert ("Ratna Dewi Anggraini–Yudi Kurniawan", NAME) in _names(registry, "ngopi bareng Kang Yudi dan Bu Ratna")
    assert ("-", ELECTION) in _names(registry, "Pantau terus #PilkadaTanahMerah")


def test_common_words_match_only_with_an_honorific_or_as_a_hashtag(registry: Registry) -> None:
    assert _names(registry, "pelayanan puskesmasnya bagus sekali") == set()  # "bagus" alone is a word
    assert ("Bagus Pranoto–Ahmad Fauzan Hilmi", NAME) in _names(registry, "Pak Bagus paling paham birokrasi")
    assert ("Bagus Pranoto–Ahmad Fauzan Hilmi", NAME) in _names(registry, "paslon Bagus lebih siap")
    assert _names(registry, "amin ya rabbal alamin") == set()  # the prayer word is not the AMIN pair
    assert ("Anies Baswedan–Muhaimin Iskandar", TAG) in _names(registry, "Sudah mantap #AMIN")


def test_matcher_equals_spacy_phrase_matcher(registry: Registry) -> None:
    """Our two-level index must find exactly what spaCy's PhraseMatcher finds over the same normal-form tokens."""
    vocab = Vocab()
    matcher = PhraseMatcher(vocab)
    for i, ph in enumerate(registry.phrases):
        matcher.add(str(i), [Doc(vocab, words=list(ph.tokens))])
    texts = []
    for name in ("train", "valid", "test", "unseen"):
        with (DATA / f"{name}.jsonl").open(encoding="utf-8") as f:
            texts.extend(json.loads(line)["text"] for line in f)
    texts += ["Pak Haryo Wicaksono dan Haryo-Siti, #HARSI #Pilih01", "Jokowi dua periode! salam dua jari", "x"]
    found = 0
    for t in texts:
        toks = normalize(t)
        if not toks:
            continue
        ours = sorted(registry.match(toks))
        theirs = sorted((s, e, int(vocab.strings[m])) for m, s, e in matcher(Doc(vocab, words=toks)))
        assert ours == theirs, t
        found += len(ours)
    assert found > 100  # the corpus mentions registered candidates often enough to test something


def test_featurizer_registry_cues_and_spans(registry: Registry) -> None:
    f = Featurizer(registry=registry)
    texts = ["Nanti malam ngopi bareng Pak Bagus, #TanahMerahMaju", "pelayanannya bagus", "tolak Ahok!"]
    enc = f.encode(texts)
    m = f.cue_matrix(enc)
    got = [{CUE_NAMES[c] for c in range(len(CUE_NAMES)) if m[d, c]} for d in range(len(texts))]
    assert {"calon_terdaftar", "tagar_calon"} <= got[0]
    assert not {"calon_terdaftar", "tagar_calon"} & got[1]
    assert {"calon_terdaftar", "negasi_calon"} <= got[2]
    hits = f.cue_hits(enc, 0)
    lo, hi = hits["calon_terdaftar"]
    assert f.display(enc, 0, lo, hi) == "pak bagus"
    assert registry.describe_phrase(f.registry_phrase(enc, 0, hi, NAME)[1]).startswith("paslon nomor 2 Bagus")


def _write(tmp_path: Path, body: str, name: str = "x.toml") -> Path:
    d = tmp_path / "reg"
    d.mkdir(exist_ok=True)
    (d / name).write_text(body, encoding="utf-8")
    return d


GOOD = """
[election]
id = "pilkada-contoh"
name = "Pilkada Contoh"
kind = "pilkada"
region = "Kabupaten Contoh"

[[candidates]]
number = 1
name = "Budi Santoso"
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("this is = not toml [", "cannot read"),
        ("[[candidates]]\nnumber = 1\nname = 'A'\n", "needs an [election] table"),
        (GOOD.replace('kind = "pilkada"', 'kind = "pilkades"'), "'kind' must be one of"),
        (GOOD.replace('region = "Kabupaten Contoh"', ""), "needs 'region'"),
        (GOOD + '\n[[candidates]]\nnumber = 1\nname = "Lain"\n', "ballot number 1 is used twice"),
        (GOOD.replace("number = 1", "number = 0"), "'number' must be the ballot number"),
        (GOOD + 'hashtags = ["Pilih01"]\n', "must look like '#Pilih02'"),
        (GOOD + 'nicknames = "Budi"\n', "'nicknames' must be a list"),
        (GOOD + 'motto = "x"\n', "unknown field(s) ['motto']"),
        (GOOD.split("[[candidates]]")[0], "needs at least one [[candidates]] table"),
    ],
)
def test_invalid_registry_files_raise_registry_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RegistryError, match="x.toml") as err:
        Registry.load(_write(tmp_path, body))
    assert message in str(err.value)


def test_a_new_registry_needs_no_retraining(tmp_path: Path) -> None:
    """An operator adds a file; the features see the new candidate (the model weights are generic)."""
    reg = Registry.load(_write(tmp_path, GOOD + 'nicknames = ["Mas Budi"]\nhashtags = ["#BudiNomor1"]\n'))
    assert [c.pair for c in reg.candidates] == ["Budi Santoso"]
    assert {k for _, k in _names(reg, "Ayo dukung Mas Budi #BudiNomor1")} == {NAME, TAG}
    assert Registry.load(tmp_path / "missing").candidates == []
    assert Registry.load(None).phrases == []


def test_registry_readme_documents_every_field() -> None:
    readme = (REGISTRY_DIR / "README.md").read_text(encoding="utf-8")
    for field in ("id", "name", "kind", "region", "office", "voting_day", "hashtags", "heldout", "number",
                  "running_mate", "nicknames", "acronym", "parties", "slogans"):  # fmt: skip
        assert f"`{field}`" in readme, field
