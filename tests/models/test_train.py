"""Training (models.train, models.reviews): a tiny run writes a loadable artifact, reviewers' decisions become
labels, and the shipped artifact meets the issue's figures on the test split."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from models.predict import ARTIFACTS_DIR, Classifier
from models.reviews import reviewer_labels
from models.train import (
    DATA_DIR,
    LABELS,
    TARGET_RECALL,
    calibration_report,
    choose_threshold,
    decide,
    evaluate,
    fit_temperature,
    load_split,
    run,
    train,
)
from pipeline.schema import FLAGGED_LABELS, Label, parse_post, sha256_text
from pipeline.storage import Store, posts_to_arrow
from tests.conftest import make_post

FAST = (10.0,)  # one C instead of the grid: the recipe is the same, the tests four times faster


def _tiny_data(dst: Path, per_label: dict[str, int]) -> None:
    """The first rows of each label of every split (deterministic), as a small data folder."""
    dst.mkdir()
    for split in ("train", "valid", "test", "unseen"):
        rows = [json.loads(x) for x in (DATA_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        keep = []
        for label, n in per_label.items():
            keep += [r for r in rows if r["label"] == label][: n if split == "train" else max(2, n // 3)]
        (dst / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("tiny") / "data"
    _tiny_data(data, {label: 6 for label in LABELS})
    return data


def test_train_smoke_writes_loadable_reproducible_artifact(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "artifacts" / "v0.0.1-test"
    extra = {"extra": (["ayo coblos nomor 2", "bakso enak"], ["endorsement", "non_political"])}
    card = train(tiny, out, seed=13, heldout=extra, c_grid=FAST)
    for name in ("model.json", "model.npz", "card.json", "metrics.json", "confusion_matrix.png"):
        assert (out / name).is_file()
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "card.json").read_text(encoding="utf-8"))
    assert on_disk["version"] == card["version"] == "v0.0.1-test"
    assert on_disk["seed"] == 13 and on_disk["data"]["sizes"]["train"] == 36
    assert set(on_disk["test"]["per_label"]) == set(LABELS) and on_disk["known_weaknesses"]
    assert set(on_disk["heldout"]) == {"unseen", "extra"} and on_disk["heldout"]["extra"]["n"] == 2
    assert 0 < on_disk["threshold"] <= 0.5 and str(TARGET_RECALL) in on_disk["threshold_rule"]
    assert len(on_disk["calibration"]["temperatures"]) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"valid", "test", "heldout", "c_grid", "calibration", "threshold_sweep_valid"}
    assert not (tmp_path / "artifacts" / "CURRENT").exists()  # train() itself never switches CURRENT

    clf = Classifier.load(out, workers=0)
    assert clf.version == "v0.0.1-test" and clf.threshold == on_disk["threshold"]
    (res,) = clf.predict(["ayo coblos nomor 2 ya"])
    assert set(res.scores) == set(LABELS)

    # same seed, same data -> the same model
    again = train(tiny, tmp_path / "again", seed=13, version="v0.0.1-test", c_grid=FAST)
    with np.load(out / "model.npz") as a, np.load(tmp_path / "again" / "model.npz") as b:
        np.testing.assert_array_equal(a["coef"], b["coef"])
        np.testing.assert_array_equal(a["intercept"], b["intercept"])
    meta = [json.loads((d / "model.json").read_text()) for d in (out, tmp_path / "again")]
    assert meta[0] == meta[1] and again["test"] == card["test"]


def test_train_rejects_a_split_without_every_label(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _tiny_data(data, {"endorsement": 5, "non_political": 5})
    with pytest.raises(ValueError, match="every label"):
        train(data, tmp_path / "out", c_grid=FAST)


def test_threshold_rule() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    pos = np.ones(10, dtype=bool)
    assert choose_threshold(p, pos, target=0.9) == pytest.approx(0.1)  # keeps 9 of 10
    assert choose_threshold(p, pos, target=0.5) == pytest.approx(0.5)
    assert choose_threshold(np.array([0.99, 0.98]), np.ones(2, dtype=bool)) == 0.5  # capped


def test_decision_rule_label_follows_flag() -> None:
    # P(flagged) = 0.45 split over four labels; political_neutral is the single most probable label
    proba = np.array([[0.15, 0.1, 0.1, 0.1, 0.35, 0.2]])
    label, flagged = decide(proba, threshold=0.4)
    assert flagged[0] and LABELS[label[0]] == "endorsement"
    label, flagged = decide(proba, threshold=0.5)
    assert not flagged[0] and LABELS[label[0]] == "political_neutral"


def test_temperature_scaling_fixes_overconfidence() -> None:
    """Labels drawn from softmax(z): logits 3z are over-confident by a factor 3, which the fit must find."""
    from models.features import softmax

    rng = np.random.default_rng(0)
    z = rng.normal(scale=1.5, size=(4000, 6))
    p = softmax(z)
    y = np.array([rng.choice(6, p=row) for row in p])
    t = fit_temperature(3 * z, y)
    assert 2.6 < t < 3.4
    before = calibration_report(y, softmax(3 * z))["ece_top_label"]
    after = calibration_report(y, softmax(3 * z / t))["ece_top_label"]
    assert after < before / 3
    zb = rng.normal(scale=1.5, size=4000)  # one column: binary logits, labels drawn from sigmoid(zb)
    yb = (rng.random(4000) < 1 / (1 + np.exp(-zb))).astype(int)
    assert 2.6 < fit_temperature(3 * zb, yb) < 3.4


# --- reviewers' decisions ---------------------------------------------------------------------------------

NOW = datetime(2024, 11, 20, tzinfo=UTC)


def _decide(store: Store, post_id: str, decision: str, category: str | None, reason: str | None, sha: str | None,
            minutes: int = 0) -> None:  # fmt: skip
    with store.transaction() as con:
        con.execute(
            "INSERT INTO review_decisions (platform, platform_post_id, reviewer, decision, category, note, "
            "decided_at, dismiss_reason, text_sha256) VALUES ('mastodon', ?, 'rina', ?, ?, '', ?, ?, ?)",
            [post_id, decision, category, NOW + timedelta(minutes=minutes), reason, sha],
        )


def _load_posts(store: Store, texts: list[str]) -> list[str]:
    posts = [parse_post(make_post(i, text=t)) for i, t in enumerate(texts)]
    store.load_batch("r1", posts_to_arrow(posts, [sha256_text(p.text) for p in posts], "r1"), None, [])
    return [p.platform_post_id for p in posts]


def test_reviewer_labels_from_the_store(store: Store) -> None:
    assert reviewer_labels(store).rows == []
    assert "no reviewer decisions" in reviewer_labels(store).summary()
    texts = ["Ayo menangkan Pak Darto nomor 1", "Info TPS pindah ke balai desa", "Jual nasi kuning murah",
             "Kaos paslon 2 sudah sampai", "Mari ke TPS", "Coblos nomor 3"]  # fmt: skip
    ids = _load_posts(store, texts)
    _decide(store, ids[0], "not_violation", None, "no_side_taken", None)  # overruled by the later decision:
    _decide(store, ids[0], "violation", "endorsement", None, sha256_text(texts[0]), minutes=5)
    _decide(store, ids[1], "not_violation", None, "news_or_information", None)
    _decide(store, ids[2], "not_violation", None, "not_political", sha256_text(texts[2]))
    _decide(store, ids[3], "violation", None, None, None)  # no category: cannot be a label
    _decide(store, ids[4], "not_violation", None, "not_asn", None)  # says nothing about the text: model decides
    _decide(store, ids[5], "violation", "attack", None, "0" * 64)  # the text decided on is not stored
    _decide(store, ids[5], "second_opinion", None, None, None, minutes=9)  # not a decision about the label
    got = reviewer_labels(store)
    assert got.decisions == 6
    assert sorted((r["text"], r["label"]) for r in got.rows) == [
        ("Ayo menangkan Pak Darto nomor 1", "endorsement"),
        ("Info TPS pindah ke balai desa", "political_neutral"),
        ("Jual nasi kuning murah", "non_political"),
    ]
    assert [r["text"] for r in got.unresolved] == ["Mari ke TPS"]
    assert got.skipped == {"violation without a partisan category": 1, "text decided on no longer stored": 1}


def test_train_with_reviews_reports_before_and_after(store: Store, tiny: Path, tmp_path: Path) -> None:
    texts = ["Pokoknya Pak Darto harus menang, coblos nomor 1!", "Pengumuman: TPS 4 pindah ke aula SD",
             "Mari ke TPS besok pagi"]  # fmt: skip
    ids = _load_posts(store, texts)
    _decide(store, ids[0], "violation", "endorsement", None, None)
    _decide(store, ids[1], "not_violation", "political_neutral", None, None)
    _decide(store, ids[2], "not_violation", None, "other", None)
    rep = run(out=tmp_path / "b", store=store, data_dir=tiny, c_grid=FAST)
    r = rep["reviews"]
    assert r["added"] == 3 and r["decisions"] == 3
    assert set(r["before"]) >= {"macro_f1", "flagged_recall"} and set(r["after"]) >= {"macro_f1", "flagged_recall"}
    card = json.loads((tmp_path / "b" / "card.json").read_text(encoding="utf-8"))
    assert card["data"]["reviewer_labels_added"] == 3 and card["reviews"]["before"] == r["before"]
    assert card["data"]["sizes"]["train"] == 36 + 3


# --- the shipped artifact ---------------------------------------------------------------------------------


def test_shipped_artifact_meets_the_issue_figures_on_the_test_split() -> None:
    """Issue 6: on the test split, flagged recall >= 0.95 at flagged precision >= 0.85, macro-F1 >= 0.80. The card
    must report exactly what the model does on the split now."""
    clf = Classifier.load(workers=0)
    card = json.loads((clf.model_dir / "card.json").read_text(encoding="utf-8"))
    for split, name in (("test", "test"), ("unseen", "unseen")):
        texts, y, _ = load_split(DATA_DIR / f"{split}.jsonl")
        results = clf.predict(texts)
        index = {code: i for i, code in enumerate(LABELS)}
        proba = np.array([[r.scores[c] for c in LABELS] for r in results])
        m = evaluate(y, proba, clf.threshold)
        pred, flagged = decide(proba, clf.threshold)  # the Result fields agree with the card's decision rule
        assert [index[r.label.value] for r in results] == pred.tolist()
        assert [r.flagged for r in results] == flagged.tolist()
        shown = card["test"] if split == "test" else card["heldout"]["unseen"]
        assert shown["flagged_recall"] == m["flagged"]["recall"] and shown["macro_f1"] == m["macro_f1"], name
        assert m["flagged"]["recall"] >= 0.95 and m["flagged"]["precision"] >= 0.85 and m["macro_f1"] >= 0.80, name
    assert card["version"] == (ARTIFACTS_DIR / "CURRENT").read_text().strip()
    assert {Label(code) for code in card["flagged_labels"]} == FLAGGED_LABELS
    assert card["heldout"]["demo"]["n"] == 396  # the demo's statuses are reported, never trained on
    assert card["registry_files_in_training"] and not any(
        "tanah-merah" in f for f in card["registry_files_in_training"]
    )
