"""Train classifier v0: multinomial logistic regression over models.features, threshold on validation.

    python -m models.train --out models/artifacts/v0.1.0

writes `model.joblib` (numpy arrays and plain values only), `card.json` and `metrics.json` into the
output folder, and, when the folder is inside models/artifacts/, its name into models/artifacts/CURRENT.

Rules (also written into the card):
* C (inverse regularisation) is chosen from C_GRID by macro-F1 on the validation split (ties: smaller C).
* Flag threshold on P(flagged) = sum of the four partisan labels' probabilities: the HIGHEST threshold at
  which validation flagged recall stays >= TARGET_RECALL (so: as few false alarms as possible while
  missing at most 10% of partisan posts), rounded down to 0.005, and never above 0.5 (a post the model
  finds more likely partisan than not is always flagged).
* Label of a post: if flagged, the most probable partisan label; else the most probable of the two others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from models.features import CUE_NAMES, FeatureConfig, Featurizer, lexicon_paths, softmax
from pipeline.schema import FLAGGED_LABELS, Label

MODELS_DIR = Path(__file__).resolve().parent
DATA_DIR = MODELS_DIR / "data"
ARTIFACTS_DIR = MODELS_DIR / "artifacts"
ARTIFACT_FORMAT = "pantau-linear-v1"
LABELS: tuple[str, ...] = tuple(label.value for label in Label)  # class order of the model
FLAGGED_IDX = np.array([i for i, code in enumerate(LABELS) if Label(code) in FLAGGED_LABELS])
OTHER_IDX = np.array([i for i, code in enumerate(LABELS) if Label(code) not in FLAGGED_LABELS])
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TARGET_RECALL = 0.90
MAX_THRESHOLD = 0.5
SPLITS = ("train", "valid", "test")

KNOWN_WEAKNESSES = [
    "Trained on ~440 hand-written posts (fictional regions, candidates and authors), not on real collected "
    "posts: expect lower quality on real data until issue-level data collection and labelling happen.",
    "Bag of words and character n-grams: no understanding of sarcasm beyond memorised phrases; a sarcastic "
    "attack without words like 'istirahat', 'makasih', emoji 🤡/🙄 is likely missed.",
    "Candidate names are not known to the model: support for a named candidate without a number, a vote verb "
    "or praise words may be scored as neutral; names seen in training may be over-weighted.",
    "Number mentions are ambiguous ('nomor 2' in a photo contest, news about ballot-number draws); the model "
    "relies on surrounding words and can flag such posts.",
    "Probabilities are not calibrated (issue 6); the threshold was set on 97 validation posts and is coarse.",
    "Author bios are not used in the score (only shown as a reason); images, videos and links are not read.",
    "Text without any Latin-script word (emoji only, URL only, other scripts) is not judged: label "
    "non_political with a reason, P(non_political)=1.",
    "Regional languages (Javanese, Sundanese, Banjar, Betawi) and English mixing are covered by a few dozen "
    "examples only.",
]


def load_split(path: Path) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """Rows {"id", "text", "label", "author"}: texts, label indices, rows. Raises ValueError on a bad row."""
    texts: list[str] = []
    ys: list[int] = []
    rows: list[dict[str, Any]] = []
    index = {code: i for i, code in enumerate(LABELS)}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or row.get("label") not in index:
                raise ValueError(f"{path}:{n}: expected an object with a string 'text' and a known 'label'")
            texts.append(row["text"])
            ys.append(index[row["label"]])
            rows.append(row)
    return texts, np.array(ys, dtype=np.int64), rows


def decide(proba: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(label index, flagged) per row under the card's decision rule."""
    p_flag = proba[:, FLAGGED_IDX].sum(axis=1)
    flagged = p_flag >= threshold
    best_flag = FLAGGED_IDX[np.argmax(proba[:, FLAGGED_IDX], axis=1)]
    best_other = OTHER_IDX[np.argmax(proba[:, OTHER_IDX], axis=1)]
    return np.where(flagged, best_flag, best_other), flagged


def choose_threshold(p_flag: np.ndarray, is_flag: np.ndarray, target: float = TARGET_RECALL) -> float:
    """Highest threshold keeping recall >= target on these rows, floored to 0.005, capped at MAX_THRESHOLD."""
    pos = np.sort(p_flag[is_flag])[::-1]
    if len(pos) == 0:
        return MAX_THRESHOLD
    k = math.ceil(target * len(pos))  # we must keep the k highest-scoring partisan posts
    t = math.floor(float(pos[k - 1]) * 200) / 200
    return float(min(max(t, 0.005), MAX_THRESHOLD))


def evaluate(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    pred, flagged = decide(proba, threshold)
    labels = list(range(len(LABELS)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    is_flag = np.isin(y, FLAGGED_IDX)
    tp = int((flagged & is_flag).sum())
    fp = int((flagged & ~is_flag).sum())
    fn = int((~flagged & is_flag).sum())
    fprec = tp / (tp + fp) if tp + fp else 0.0
    frec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": int(len(y)),
        "per_label": {
            LABELS[i]: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                        "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i in labels
        },  # fmt: skip
        "macro_f1": round(float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)), 4),
        "accuracy": round(float((pred == y).mean()), 4),
        "flagged": {
            "precision": round(fprec, 4),
            "recall": round(frec, 4),
            "f1": round(2 * fprec * frec / (fprec + frec), 4) if fprec + frec else 0.0,
            "tp": tp, "fp": fp, "fn": fn,
        },  # fmt: skip
        "confusion_matrix": {
            "labels": list(LABELS),
            "rows_true_cols_pred": confusion_matrix(y, pred, labels=labels).tolist(),
        },
    }  # fmt: skip


def _shown(path: Path) -> str:
    """The path relative to the repository when inside it (keeps the card free of machine paths)."""
    try:
        return str(path.resolve().relative_to(MODELS_DIR.parent))
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fit(x: Any, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit on the columns used by x only (the others get weight 0 under L2 anyway): (coef, intercept)."""
    active = np.unique(x.indices)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, tol=1e-5, random_state=seed)
    model.fit(x[:, active], y)
    if list(model.classes_) != list(range(len(LABELS))):
        raise ValueError("the train split must contain every label at least once")
    coef = np.zeros((len(LABELS), x.shape[1]), dtype=np.float32)
    coef[:, active] = model.coef_
    return coef, model.intercept_.astype(np.float64)


def _proba(x: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return softmax(x @ coef.T.astype(np.float64) + intercept)


def train(data_dir: Path, out_dir: Path, seed: int = 13, version: str | None = None) -> dict[str, Any]:
    """Train on data_dir/{train,valid,test}.jsonl, write the artifact to out_dir, return the card."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    version = version or out_dir.name
    np.random.seed(seed)
    featurizer = Featurizer(FeatureConfig())
    splits = {name: load_split(data_dir / f"{name}.jsonl") for name in SPLITS}
    for name, (texts, _, _) in splits.items():
        if not texts:
            raise ValueError(f"{data_dir / (name + '.jsonl')} has no rows")
    x = {name: featurizer.sparse(featurizer.encode(texts)) for name, (texts, _, _) in splits.items()}
    y = {name: ys for name, (_, ys, _) in splits.items()}
    if len(set(y["train"].tolist())) < len(LABELS):
        raise ValueError("the train split must contain every label at least once")

    grid = []
    for c in C_GRID:
        proba = _proba(x["valid"], *_fit(x["train"], y["train"], c, seed))
        grid.append({"C": c, "valid_macro_f1_argmax": round(float(
            f1_score(y["valid"], proba.argmax(1), average="macro", zero_division=0)), 4)})  # fmt: skip
    best_c = max(grid, key=lambda g: (g["valid_macro_f1_argmax"], -g["C"]))["C"]
    coef, intercept = _fit(x["train"], y["train"], best_c, seed)

    def proba_of(name: str) -> np.ndarray:
        return _proba(x[name], coef, intercept)

    p_valid = proba_of("valid")
    threshold = choose_threshold(p_valid[:, FLAGGED_IDX].sum(1), np.isin(y["valid"], FLAGGED_IDX))
    metrics = {
        "valid": evaluate(y["valid"], p_valid, threshold),
        "test": evaluate(y["test"], proba_of("test"), threshold),
        "train": {
            k: v for k, v in evaluate(y["train"], proba_of("train"), threshold).items() if k != "confusion_matrix"
        },
        "c_grid": grid,
        "threshold_sweep_valid": [
            {"threshold": t, **{k: v for k, v in evaluate(y["valid"], p_valid, t)["flagged"].items()}}
            for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
        ],
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = {
        "format": ARTIFACT_FORMAT,
        "version": version,
        "labels": list(LABELS),
        "feature_config": featurizer.config.to_dict(),
        "cue_names": list(CUE_NAMES),
        "lexicon_sha256": {p.name: _sha256(p) for p in lexicon_paths()},
        "coef": coef,
        "intercept": intercept,
        "threshold": threshold,
    }
    joblib.dump(artifact, out_dir / "model.joblib", compress=("zlib", 3))
    counts = {name: dict(sorted(Counter(LABELS[i] for i in ys.tolist()).items())) for name, ys in y.items()}
    test = metrics["test"]
    card = {
        "name": "pantau classifier",
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "intended_use": "Rank public posts by civil servants for human review of political partisanship. "
        "The model never decides: a reviewer reads every flagged post.",
        "algorithm": f"multinomial logistic regression (sklearn lbfgs, C={best_c}, class_weight=balanced) over "
        "hashed word 1-2-grams, hashed char 2-4-grams within words and 12 dense cue features",
        "feature_config": featurizer.config.to_dict(),
        "data": {
            "dir": _shown(data_dir),
            "sizes": {name: int(len(ys)) for name, ys in y.items()},
            "label_counts": counts,
            "sha256": {name: _sha256(data_dir / f"{name}.jsonl") for name in SPLITS},
        },
        "labels": list(LABELS),
        "flagged_labels": sorted(label.value for label in FLAGGED_LABELS),
        "threshold": threshold,
        "threshold_rule": f"highest threshold on P(flagged) with validation flagged recall >= {TARGET_RECALL}, "
        f"floored to 0.005, capped at {MAX_THRESHOLD}",
        "decision_rule": "flagged = P(endorsement)+P(campaign)+P(attack)+P(symbol) >= threshold; label = most "
        "probable partisan label if flagged, else the more probable of political_neutral/non_political",
        "test": {
            "per_label": {k: {m: v[m] for m in ("precision", "recall", "f1")} for k, v in test["per_label"].items()},
            "macro_f1": test["macro_f1"],
            "flagged_precision": test["flagged"]["precision"],
            "flagged_recall": test["flagged"]["recall"],
        },
        "valid": {
            "macro_f1": metrics["valid"]["macro_f1"],
            "flagged_precision": metrics["valid"]["flagged"]["precision"],
            "flagged_recall": metrics["valid"]["flagged"]["recall"],
        },
        "known_weaknesses": KNOWN_WEAKNESSES,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card


def set_current(version: str, artifacts_dir: Path = ARTIFACTS_DIR) -> None:
    (artifacts_dir / "CURRENT").write_text(version + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="artifact folder, e.g. models/artifacts/v0.1.0")
    ap.add_argument("--data", type=Path, default=DATA_DIR, help="folder with train/valid/test.jsonl")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--set-current",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the folder name into models/artifacts/CURRENT (default: yes if --out is in models/artifacts)",
    )
    args = ap.parse_args(argv)
    card = train(args.data, args.out, seed=args.seed)
    set_cur = args.set_current
    if set_cur is None:
        set_cur = args.out.resolve().parent == ARTIFACTS_DIR
    if set_cur:
        set_current(args.out.name)
    t = card["test"]
    print(json.dumps({"version": card["version"], "threshold": card["threshold"], "test_macro_f1": t["macro_f1"],
                      "test_flagged_precision": t["flagged_precision"], "test_flagged_recall": t["flagged_recall"],
                      "current": bool(set_cur)}, ensure_ascii=False))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
