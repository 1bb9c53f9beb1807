"""The stable interface (models.predict): Result, Classifier.load/predict/explain, bad input."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import models.predict as mp
from models.bench import make_texts
from models.predict import Classifier, Result
from pipeline.errors import ModelError, RegistryError
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
    call, neutral, other, demo = clf.predict(
        [
            "Bismillah, besok coblos nomor 2 ya bapak ibu, beliau sudah terbukti",
            "Pengingat: ASN wajib netral, jangan golput, datang ke TPS tanggal 14",
            "Bakso nomor 2 di pojok pasar enak banget",
            "Nanti malam ngopi bareng Pak Bagus, yuk dukung #TanahMerahMaju",
        ]
    )
    assert call.flagged and call.label is Label.endorsement
    assert "menyebut paslon nomor 2: 'nomor 2'" in call.reasons and "ajakan: coblos" in call.reasons
    assert call.reasons[0].startswith("skor partisan") and any(r.startswith("n-gram kuat: '") for r in call.reasons)
    assert not neutral.flagged and neutral.label is Label.political_neutral
    assert not other.flagged and other.label is Label.non_political
    # the demo registry names the candidate in the reasons
    assert demo.flagged
    assert any("Bagus Pranoto–Ahmad Fauzan Hilmi" in r and "'pak bagus'" in r for r in demo.reasons), demo.reasons


def test_explain_gives_cue_positions_and_ngram_weights(clf: Classifier) -> None:
    ex = clf.explain("Ayo coblos nomor 2, salam dua jari ✌️ #Pilih02")
    assert ex.result.flagged and ex.result == clf.predict(["Ayo coblos nomor 2, salam dua jari ✌️ #Pilih02"])[0]
    assert ex.tokens[:4] == ["ayo", "coblos", "nomor", "2"]
    spans = {c.name: " ".join(ex.tokens[c.start : c.end + 1]) for c in ex.cues}
    assert spans["ajakan_memilih"] == "coblos" and spans["nomor_urut"] == "nomor 2"
    assert ex.ngrams and all(gain > 0 for _, gain in ex.ngrams)
    assert ex.threshold == clf.threshold and ex.model_version == clf.version
    quiet = clf.explain("Selamat hari guru untuk semua guru hebat")
    assert not quiet.result.flagged and quiet.result.label is Label.non_political


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "teks kosong"),
        ("   \n\t", "teks kosong"),
        ("😂😂😂🔥", "tidak ada kata"),
        ("✌️✌️", "tidak ada kata"),
        ("https://t.co/abc123", "tidak ada kata"),
        ("https://kpu.go.id/berita/2024/11/27/hasil?id=1 www.bawaslu.go.id", "tidak ada kata"),
        ("@someone @other", "tidak ada kata"),
        ("\x00\x01\x02\x7f\x1b", "tidak ada kata"),
        ("مرحبا بكم في بلدنا الجميل", "tidak beraksara Latin"),
        ("Привет, как дела? 你好 こんにちは", "tidak beraksara Latin"),
    ],
)
def test_unjudgeable_texts_are_non_political_with_reason(clf: Classifier, text: str, why: str) -> None:
    (res,) = clf.predict([text])
    _check(res, clf.threshold)
    assert res.label is Label.non_political and not res.flagged
    assert res.scores[Label.non_political.value] == 1.0
    assert why in res.reasons[0]


def test_only_a_pose_emoji_says_so(clf: Classifier) -> None:
    (res,) = clf.predict(["✌️✌️"])
    assert "pose jari/nomor '✌' tanpa konteks teks" in res.reasons[1]


def test_edge_texts_get_a_label(clf: Classifier) -> None:
    words = "pilih coblos nomor 2 kampanye bakso pak bupati jalan rusak timnas ayo jangan golput".split()
    huge = " ".join(words[i % len(words)] for i in range(20_000))[:100_000]
    assert len(huge) == 100_000
    texts = [
        huge,
        "Heute ist ein schöner Tag, wir gehen zusammen in den Park spazieren",  # German: labelled, with a warning
        "Ayo\x00 coblos\x07 nomor\u200b 2\u202e sekarang",  # control and format characters
        "Ayo coblos nomor 2 Привет 你好 ✌️",  # mixed scripts: judged on the Latin words
        "a" * 5000,
        "🇮🇩" * 2000,
    ]
    results = clf.predict(texts)
    for r in results:
        _check(r, clf.threshold)
    assert any("bahasa tidak dikenali" in x for x in results[1].reasons)
    assert results[2].flagged and "menyebut paslon nomor 2: 'nomor 2'" in results[2].reasons  # no \u200b shown
    assert results[3].flagged


def test_bios_add_a_reason_but_never_change_scores(clf: Classifier) -> None:
    text = "Besok kampanye akbar di lapangan, ayo hadir ramai2 coblos nomor 1"
    plain, with_bio = clf.predict([text, text], [None, "ASN Pemkab | relawan paslon 1"])
    assert plain.scores == with_bio.scores
    assert any("relawan" in r for r in with_bio.reasons) and not any("bio" in r for r in plain.reasons)
    with pytest.raises(ValueError):
        clf.predict([text], [None, None])
    with pytest.raises(TypeError):
        clf.predict([None])  # type: ignore[list-item]


def test_load_missing_folder_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Classifier.load(tmp_path / "v9.9.9")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model.json"):
        Classifier.load(tmp_path / "empty")


def test_load_corrupt_or_old_artifact_raises_model_error(tmp_path: Path, clf: Classifier) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(clf.model_dir, bad)
    (bad / "model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot read"):
        Classifier.load(bad)
    truncated = tmp_path / "truncated"
    shutil.copytree(clf.model_dir, truncated)
    data = (truncated / "model.npz").read_bytes()
    (truncated / "model.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cannot read"):
        Classifier.load(truncated)
    other = tmp_path / "other"
    shutil.copytree(clf.model_dir, other)
    meta = json.loads((other / "model.json").read_text())
    (other / "model.json").write_text(json.dumps({**meta, "cue_names": meta["cue_names"][:-1]}))
    with pytest.raises(ModelError, match="other cue features"):
        Classifier.load(other)
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.joblib").write_bytes(b"pickled v0 model")  # the v0 format: a clear message, nothing unpickled
    with pytest.raises(ModelError, match="older format"):
        Classifier.load(old)


def test_invalid_registry_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[election]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="bad.toml"):
        Classifier.load(registry_dir=tmp_path, workers=0)
    assert Classifier.load(registry_dir=None, workers=0).registry.candidates == []


def test_missing_current_raises_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mp, "ARTIFACTS_DIR", tmp_path)
    with pytest.raises(ModelError, match="CURRENT"):
        Classifier.load()
    (tmp_path / "CURRENT").write_text("v0.0.1\n")
    with pytest.raises(ModelError, match="does not exist"):
        Classifier.load()


def test_shipped_artifact_names_its_version(clf: Classifier) -> None:
    """(Load time and speed are measured by `make bench`, rows "classify ..." and "classifier load".)"""
    current = (mp.ARTIFACTS_DIR / "CURRENT").read_text().strip()
    c = Classifier.load(workers=0)
    assert c.version == current == clf.version
    assert 0.0 < c.threshold < 1.0


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
