"""Evaluate a classifier artifact on any labelled JSONL file (`pantau evaluate FILE.jsonl`).

Rows: {"text": ..., "label": <one of the six labels>} (other fields ignored); a Mastodon status with HTML in
"content" instead of "text" is read too when the caller passes an HTML-to-text function (the CLI passes the
spider's own, so the demo's `spiders/replay/data/statuses.jsonl` can be evaluated as it is). Lines that are not
JSON objects, lack a text or carry an unknown label are skipped and counted by reason with their line numbers;
the report says how many.

The figures are those of the model card (models.train.evaluate): per-label precision/recall/F1, macro-F1, flagged
precision/recall and the confusion matrix, under the artifact's stored threshold.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.predict import Classifier
from pipeline.errors import InputError
from pipeline.schema import Label

LABEL_CODES = tuple(label.value for label in Label)


@dataclass
class FileEvaluation:
    path: Path
    model_version: str
    threshold: float
    metrics: dict[str, Any]
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> line numbers

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())


def read_labelled(
    path: Path, html_to_text: Callable[[str], str] | None = None
) -> tuple[list[str], list[str], dict[str, list[int]]]:
    """(texts, labels, skipped reason -> line numbers) of a labelled JSONL file. InputError if unreadable."""
    texts: list[str] = []
    labels: list[str] = []
    skipped: dict[str, list[int]] = {}
    try:
        f = Path(path).open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            reason, text, label = _parse(raw, html_to_text)
            if reason:
                skipped.setdefault(reason, []).append(n)
                continue
            texts.append(text)
            labels.append(label)
    return texts, labels, skipped


def _parse(raw: bytes, html_to_text: Callable[[str], str] | None) -> tuple[str, str, str]:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return "not valid JSON", "", ""
    if not isinstance(row, dict):
        return "not a JSON object", "", ""
    label = row.get("label")
    if label not in LABEL_CODES:
        return "missing or unknown 'label'", "", ""
    text = row.get("text")
    if not isinstance(text, str):
        content = row.get("content")
        if isinstance(content, str) and html_to_text is not None:
            text = html_to_text(content)
        else:
            return "no 'text' string", "", ""
    return "", text, label


def evaluate_file(
    path: Path, model_dir: Path | None = None, html_to_text: Callable[[str], str] | None = None
) -> FileEvaluation:
    """Classify every labelled row of `path` with the artifact and compute the card's figures."""
    from models.train import evaluate, label_indices  # scikit-learn: only when evaluating

    texts, labels, skipped = read_labelled(path, html_to_text)
    if not texts:
        raise InputError(f"{path} has no labelled rows ({sum(len(v) for v in skipped.values())} skipped)")
    with Classifier.load(model_dir) as clf:
        results = clf.predict(texts)
        proba = np.array([[r.scores[c] for c in LABEL_CODES] for r in results])
        metrics = evaluate(label_indices(labels), proba, clf.threshold)
        return FileEvaluation(Path(path), clf.version, clf.threshold, metrics, skipped)
