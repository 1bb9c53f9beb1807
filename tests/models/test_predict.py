"""The stable interface (models.predict): Result, Classifier.load/predict."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import models.predict as mp
from models.bench import make_texts
from models.predict import Classifier, Result
from pipeline.errors import ModelError
from pipeline.schema import FLAGGED_LABELS, Label

CODES = {label.value for label in Label}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(workers=0)


def _check(res: Result, threshold: float) -> None:
    assert isinstance(res.label, Label)
    assert set(res.scores) == CODES
    assert all(0.0 <= v <= 1.0 for v in res.scores.values())
    assert sum(res.scores.values()) == pytest.approx(1.0, abs=1e-6)
    p_flag = sum(res.scores[label.value] for label in FLAGGED_LABELS)
    assert res.flagged == (p_flag >= threshold)
    assert res.flagged == (res.label in FLAGGED_LABELS)  # the label follows the flag decision
    assert res.reasons and all(isinstance(r, str) and r for r in res.reasons)


def test_scores_and_flags_are_consistent(clf: Classifier) -> None:
    texts = make_texts(300, seed=3) + [
        "Ayo coblos paslon 02!!! #Pilih02 ✌️",
        "Jangan golput, datang ke TPS tanggal 14",
        "kampanye imunisasi polio besok di posyandu",
    ]
    results = clf.predict(texts)
    assert len(results) == len(texts)
    for r in results:
        _check(r, clf.threshold)
    assert any(r.flagged for r in results) and not all(r.flagged for r in results)


def test_examples_and_reasons(clf: Classifier) -> None:
    call, neutral, other = clf.predict(
        [
            "Bismillah, besok coblos nomor 2 ya bapak ibu, Pak Yosef sudah terbukti",
            "Pengingat: ASN wajib netral, jangan golput, datang ke TPS tanggal 14",
            "Bakso nomor 2 di pojok pasar enak banget",
        ]
    )
    assert call.flagged and call.label is Label.endorsement
    assert "menyebut nomor urut: 'nomor 2'" in call.reasons
    assert any(r.startswith("n-gram kuat: '") for r in call.reasons)
    assert not neutral.flagged and neutral.label is Label.political_neutral
    assert not other.flagged and other.label is Label.non_political


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "teks kosong"),
        ("   \n\t", "teks kosong"),
        ("😂😂😂🔥", "tidak ada kata"),
        ("✌️✌️", "tidak ada kata"),
        ("https://t.co/abc123", "tidak ada kata"),
        ("@someone @other", "tidak ada kata"),
        ("\x00\x01\x02\x7f\x1b", "tidak ada kata"),
        ("مرحبا بكم في بلدنا الجميل", "tidak beraksara Latin"),
    ],
)
def test_unjudgeable_texts_are_non_political_with_reason(clf: Classifier, text: str, why: str) -> None:
    (res,) = clf.predict([text])
    _check(res, clf.threshold)
    assert res.label is Label.non_political and not res.flagged
    assert res.scores[Label.non_political.value] == 1.0
    assert why in res.reasons[0]


def test_edge_texts_get_a_label(clf: Classifier) -> None:
    words = "pilih coblos nomor 2 kampanye bakso pak bupati jalan rusak timnas ayo jangan golput".split()
    huge = " ".join(words[i % len(words)] for i in range(20_000))[:100_000]
    assert len(huge) == 100_000
    texts = [
        huge,
        "The quick brown fox jumps over the lazy dog while the sun sets slowly",
        "Ayo\x00 coblos\x07 nomor\u200b 2\u202e sekarang",
        "a" * 5000,
        "🇮🇩" * 2000,
    ]
    t0 = time.perf_counter()
    results = clf.predict(texts)
    assert time.perf_counter() - t0 < 10
    for r in results:
        _check(r, clf.threshold)
    assert any("bahasa Indonesia" in x for x in results[1].reasons)


def test_bios_add_a_reason_but_never_change_scores(clf: Classifier) -> None:
    text = "Besok kampanye akbar di lapangan, ayo hadir ramai2 coblos nomor 1"
    plain, with_bio = clf.predict([text, text], [None, "ASN Pemkab | relawan paslon 1"])
    assert plain.scores == with_bio.scores
    assert any("relawan" in r for r in with_bio.reasons) and not any("bio" in r for r in plain.reasons)
    with pytest.raises(ValueError):
        clf.predict([text], [None, None])


def test_load_missing_folder_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Classifier.load(tmp_path / "v9.9.9")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model.joblib"):
        Classifier.load(tmp_path / "empty")


def test_load_corrupt_artifact_raises_model_error(tmp_path: Path, clf: Classifier) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.joblib").write_bytes(b"not a joblib file at all")
    with pytest.raises(ModelError, match="cannot read"):
        Classifier.load(bad)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (clf.model_dir / "model.joblib").read_bytes()
    (truncated / "model.joblib").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError):
        Classifier.load(truncated)


def test_missing_current_raises_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mp, "ARTIFACTS_DIR", tmp_path)
    with pytest.raises(ModelError, match="CURRENT"):
        Classifier.load()
    (tmp_path / "CURRENT").write_text("v0.0.1\n")
    with pytest.raises(ModelError, match="does not exist"):
        Classifier.load()


def test_shipped_artifact_loads_fast_and_names_its_version(clf: Classifier) -> None:
    current = (mp.ARTIFACTS_DIR / "CURRENT").read_text().strip()
    t0 = time.perf_counter()
    c = Classifier.load(workers=0)
    assert time.perf_counter() - t0 < 1.5  # measured ~0.15-0.2 s; catches e.g. building spacy.blank("id") per load
    assert c.version == current == clf.version
    assert 0.0 < c.threshold < 1.0


def test_single_core_speed_floor(clf: Classifier) -> None:
    """A loose floor (measured ~9-13k posts/s on one core): catches gross regressions, not a benchmark."""
    texts = make_texts(5000, seed=11)
    clf.predict(texts[:500])
    t0 = time.perf_counter()
    clf.predict(texts)
    assert 5000 / (time.perf_counter() - t0) > 2000


@pytest.mark.slow
def test_helper_process_gives_identical_results(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(mp.resolve_model_dir(), model_dir)
    texts = make_texts(mp.PARALLEL_MIN + 10, seed=5)
    bios = [None if i % 3 else "relawan paslon 2" for i in range(len(texts))]
    with Classifier.load(model_dir, workers=1) as par:
        deadline = time.monotonic() + 60
        while par._ready_worker() is None:
            assert time.monotonic() < deadline, "helper process did not start"
            time.sleep(0.2)
        got = par.predict(texts, bios)
        assert par._proc is not None and par._proc_ready  # the batch really went through the helper
        want = Classifier.load(model_dir, workers=0).predict(texts, bios)
        assert got == want
        # a helper that dies must not lose a batch: its half is scored in the calling process
        par._proc.kill()
        par._proc.wait()
        assert par.predict(texts, bios) == want
        assert par._proc is None and par._workers == 0
