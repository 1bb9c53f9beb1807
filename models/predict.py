"""The stable interface of the classifier: `Classifier.load(...).predict(texts)` and `classify_jsonl`.

The model ranks what human reviewers look at; it never decides. Each `Result` carries the six label
probabilities, whether the post is flagged for review (P(any partisan label) >= the artifact's
threshold), and reasons in Indonesian: the cues that fired and the n-grams that moved the decision.

Speed: texts are normalised and tokenised once, then scored with per-token weight sums (no sparse
matrix, see models.features.LinearScorer); reasons are built for flagged posts only. On a machine
with more than one core, the first batch of `PARALLEL_MIN` posts or more starts one helper process
(models._worker, started once per Classifier and reused); while it boots (~3 s) batches are scored in
the calling process, and once it is ready each such batch is split in two and scored on both cores.
`Classifier.load(..., workers=0)` turns the helper off.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import re
import select
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from models import _worker
from models.features import (
    B_ID_FUNCTION,
    B_LATIN_WORD,
    B_OTHER_LETTERS,
    B_POSE_NUM,
    CUE_NAMES,
    CUE_REASON,
    Encoded,
    FeatureConfig,
    Featurizer,
    LinearScorer,
    lexicon_paths,
    softmax,
)
from pipeline.errors import ModelError
from pipeline.schema import FLAGGED_LABELS, Label

MODELS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = MODELS_DIR / "artifacts"
ARTIFACT_FORMAT = "pantau-linear-v1"
LABELS: tuple[Label, ...] = tuple(Label)
_CODES: tuple[str, ...] = tuple(label.value for label in LABELS)
PARALLEL_MIN = 2000  # batches at least this big are split across the calling process and one helper
HELPER_TIMEOUT_S = 120.0  # a helper silent this long is stopped and its half scored in the calling process
TOP_NGRAMS = 3
MAX_CUE_REASONS = 4
MIN_WORDS_FOR_LANGUAGE = 6  # a text this long without one common Indonesian/regional word gets a warning
_BIO_ROLE = re.compile(
    r"\b(relawan|timses|tim\s+sukses|tim\s+pemenangan|jurkam|juru\s+kampanye|simpatisan|kader\s+partai|"
    r"caleg|koordinator\s+saksi|saksi\s+paslon|pendukung)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Result:
    label: Label  # pipeline.schema.Label
    scores: dict[str, float]  # probability per label code, all six, summing to ~1
    flagged: bool  # P(label in FLAGGED_LABELS) >= stored threshold
    reasons: list[str]  # human-readable (Indonesian): cues that fired, strongest n-grams, or why not judged


@dataclass
class ClassifyStats:
    read: int = 0  # non-blank input lines
    written: int = 0  # classified rows written to out_path
    rejected: int = 0  # rows written to <out_path>.rejects.jsonl
    flagged: int = 0
    per_label: dict[str, int] = field(default_factory=lambda: {label.value: 0 for label in Label})
    seconds: float = 0.0


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_model_dir(path: Path | None = None) -> Path:
    """`path`, or models/artifacts/<name in models/artifacts/CURRENT>."""
    if path is not None:
        return Path(path)
    current = ARTIFACTS_DIR / "CURRENT"
    try:
        name = current.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ModelError(
            f"no model selected: cannot read {current} ({exc.strerror}); train one with "
            "`python -m models.train --out models/artifacts/v0.1.0`"
        ) from None
    if not name or "/" in name or name.startswith("."):
        raise ModelError(f"{current} must hold one artifact folder name such as v0.1.0, found {name!r}")
    return ARTIFACTS_DIR / name


def _load_artifact(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "model.joblib"
    if not model_dir.is_dir():
        raise ModelError(f"model folder {model_dir} does not exist")
    if not path.is_file():
        raise ModelError(f"model folder {model_dir} has no model.joblib (incomplete artifact?)")
    try:
        art = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ModelError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(art, dict) or art.get("format") != ARTIFACT_FORMAT:
        raise ModelError(f"{path} is not a {ARTIFACT_FORMAT} artifact (unknown format or version)")
    missing = {"version", "labels", "feature_config", "cue_names", "coef", "intercept", "threshold"} - set(art)
    if missing:
        raise ModelError(f"{path} lacks {sorted(missing)}")
    if list(art["labels"]) != [label.value for label in LABELS]:
        raise ModelError(f"{path} has labels {art['labels']}, this code expects {[x.value for x in LABELS]}")
    if list(art["cue_names"]) != list(CUE_NAMES):
        raise ModelError(f"{path} was trained with other cue features; retrain with this code")
    for p in lexicon_paths():
        want = art.get("lexicon_sha256", {}).get(p.name)
        if want is not None and want != _sha256(p):
            raise ModelError(f"{p} changed since {path} was trained; retrain the model (python -m models.train)")
    threshold = art["threshold"]
    if not isinstance(threshold, float) or not 0.0 < threshold < 1.0:
        raise ModelError(f"{path} has an invalid threshold {threshold!r}")
    return art


class Classifier:
    """A loaded artifact. `predict` calls are serialised (thread-safe); use one Classifier per process."""

    version: str
    threshold: float

    def __init__(self, artifact: dict[str, Any], model_dir: Path, workers: int | None = None) -> None:
        try:
            config = FeatureConfig(**artifact["feature_config"])
            self._featurizer = Featurizer(config)
            self._scorer = LinearScorer(
                self._featurizer, np.asarray(artifact["coef"]), np.asarray(artifact["intercept"])
            )
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{model_dir}: artifact does not fit this code: {exc}") from None
        self.version = str(artifact["version"])
        self.threshold = float(artifact["threshold"])
        self.model_dir = model_dir
        self._flag_idx = np.array([i for i, lab in enumerate(LABELS) if lab in FLAGGED_LABELS])
        self._other_idx = np.array([i for i, lab in enumerate(LABELS) if lab not in FLAGGED_LABELS])
        if workers is None:
            workers = 1 if (os.cpu_count() or 1) > 1 else 0
        self._workers = max(0, min(1, workers))
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_ready = False
        self._lock = threading.RLock()

    @classmethod
    def load(cls, path: Path | None = None, workers: int | None = None) -> Classifier:
        """Load models/artifacts/<CURRENT> (or `path`). Raises ModelError if missing or corrupt."""
        model_dir = resolve_model_dir(path)
        return cls(_load_artifact(model_dir), model_dir, workers=workers)

    # -- helper process ------------------------------------------------------------------------------
    def _ready_worker(self) -> subprocess.Popen[bytes] | None:
        """The helper process if it has booted; starts it (in the background) on the first call."""
        if self._workers == 0:
            return None
        with self._lock:
            proc = self._proc
            if proc is None:
                try:
                    proc = subprocess.Popen(
                        _worker.command(self.model_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE
                    )
                except OSError:
                    self._workers = 0
                    return None
                self._proc, self._proc_ready = proc, False
                return None
            if self._proc_ready:
                return proc
            assert proc.stdout is not None
            if proc.poll() is not None:  # died while booting: stay single-process
                self._stop_worker_locked()
                return None
            if not select.select([proc.stdout], [], [], 0)[0]:
                return None  # still booting
            hello = _worker.read_frame(proc.stdout)
            if not (isinstance(hello, tuple) and hello and hello[0] == "ready"):
                self._stop_worker_locked()
                return None
            self._proc_ready = True
            return proc

    def warm_up(self) -> None:
        """Start the helper process now (in the background) rather than at the first big batch."""
        self._ready_worker()

    def _stop_worker_locked(self, disable: bool = True) -> None:
        proc, self._proc, self._proc_ready = self._proc, None, False
        if disable:
            self._workers = 0
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def close(self) -> None:
        """Stop the helper process, if one was started (it also exits when this process does)."""
        with self._lock:
            self._stop_worker_locked(disable=False)

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    # -- prediction ----------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], bios: Sequence[str | None] | None = None) -> list[Result]:
        """One Result per text, in order. `bios` (author bios) only add a reason in v0, never change scores."""
        texts = list(texts)
        bio_list = None if bios is None else list(bios)
        if bio_list is not None and len(bio_list) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(bio_list)} bios")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
        with self._lock:  # one batch at a time: the word table and the helper's pipes are shared state
            return self._predict_locked(texts, bio_list)

    def _predict_locked(self, texts: list[str], bio_list: list[str | None] | None) -> list[Result]:
        n = len(texts)
        proc = self._ready_worker() if n >= PARALLEL_MIN else None
        if proc is None:
            return self._predict_local(texts, bio_list)
        half = n // 2
        tail_bios = None if bio_list is None else bio_list[half:]
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _worker.write_frame(proc.stdin, (texts[half:], tail_bios))
        except OSError:  # helper gone
            self._stop_worker_locked()
            return self._predict_local(texts, bio_list)
        first = self._predict_local(texts[:half], None if bio_list is None else bio_list[:half])
        reply = None
        try:
            if select.select([proc.stdout], [], [], HELPER_TIMEOUT_S)[0]:
                reply = _worker.read_frame(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            reply = None
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "ok" and len(reply[1]) == n - half:
            return first + [_unpack(r) for r in reply[1]]
        self._stop_worker_locked()  # a failed helper must not lose the batch: score it here
        return first + self._predict_local(texts[half:], tail_bios)

    def _predict_local(self, texts: list[str], bios: list[str | None] | None) -> list[Result]:
        if not texts:
            return []
        gc_was_enabled = gc.isenabled()
        gc.disable()  # a batch makes many small acyclic objects; cyclic-GC passes would cost ~15%
        try:
            return self._predict_batch(texts, bios)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _predict_batch(self, texts: list[str], bios: list[str | None] | None) -> list[Result]:
        f = self._featurizer
        enc = f.encode(texts)
        parts = self._scorer.parts(enc)
        proba = softmax(parts["logits"])
        n = enc.n_docs
        p_flag = proba[:, self._flag_idx].sum(axis=1)
        flagged = p_flag >= self.threshold
        best_flag = self._flag_idx[np.argmax(proba[:, self._flag_idx], axis=1)]
        best_other = self._other_idx[np.argmax(proba[:, self._other_idx], axis=1)]
        label_idx = np.where(flagged, best_flag, best_other)

        bits = f.token_bits(enc)
        latin = np.bincount(enc.doc_of, weights=(bits & B_LATIN_WORD) != 0, minlength=n)
        other = np.bincount(enc.doc_of, weights=(bits & B_OTHER_LETTERS) != 0, minlength=n)
        idwords = np.bincount(enc.doc_of, weights=(bits & B_ID_FUNCTION) != 0, minlength=n)
        judged = latin > 0
        flagged &= judged
        cues, cue_tok = parts["cues"], parts["cue_tok"]
        ngrams = self._ngram_reasons(enc, parts, np.nonzero(flagged)[0], label_idx, best_other)
        w_cue = self._scorer.w_cue
        thr = self.threshold
        results: list[Result] = []
        for d in range(n):
            if not judged[d]:
                results.append(self._unjudged(texts[d], enc, d, bool(other[d] > 0)))
                continue
            if flagged[d]:
                k, j = int(label_idx[d]), int(best_other[d])
                reasons = [f"skor partisan {p_flag[d]:.2f} ≥ ambang {thr:.2f} ({LABELS[k].value})"]
                fired = np.nonzero(cues[d])[0].tolist()
                support = sorted(((float(w_cue[c, k] - w_cue[c, j]), c) for c in fired), reverse=True)
                s0, s1 = int(enc.starts[d]), int(enc.starts[d + 1])
                for gain, c in support[:MAX_CUE_REASONS]:
                    if gain <= 0:
                        break
                    name = CUE_NAMES[c]
                    hi = int(np.argmax(cue_tok[s0:s1, c]))
                    lo = f.cue_span(enc, d, name, hi)
                    reasons.append(f"{CUE_REASON[name]}: '{f.display(enc, d, lo, hi)}'")
                reasons.extend(f"n-gram kuat: '{g}'" for g in ngrams.get(d, ()))
            else:
                reasons = [f"skor partisan {p_flag[d]:.2f} < ambang {thr:.2f}"]
                fired = np.nonzero(cues[d])[0].tolist()
                if fired:
                    reasons.append("isyarat: " + ", ".join(CUE_NAMES[c].replace("_", " ") for c in fired))
            if latin[d] >= MIN_WORDS_FOR_LANGUAGE and idwords[d] == 0:
                reasons.append("tidak ada kata bahasa Indonesia/daerah yang dikenali: penilaian kurang andal")
            if bios is not None and bios[d]:
                m = _BIO_ROLE.search(bios[d])
                if m:
                    reasons.append(f"bio penulis menyebut '{m.group(0)}' (tidak memengaruhi skor v0)")
            scores = dict(zip(_CODES, proba[d].tolist(), strict=True))
            results.append(Result(LABELS[int(label_idx[d])], scores, bool(flagged[d]), reasons))
        return results

    def _unjudged(self, text: str, enc: Encoded, d: int, other_script: bool) -> Result:
        """non_political with P=1 and the reason why the text could not be judged."""
        f = self._featurizer
        if not text.strip():
            why = "teks kosong: tidak bisa dinilai"
        elif other_script:
            why = "teks tidak beraksara Latin: model v0 hanya menilai teks Indonesia/daerah beraksara Latin"
        else:
            why = "tidak ada kata yang bisa dinilai (hanya emoji, URL, mention, angka atau tanda baca)"
        reasons = [why]
        s, e = int(enc.starts[d]), int(enc.starts[d + 1])
        view = f.table.bits.view
        poses = [i - s for i in range(s, e) if view[enc.ids[i]] & B_POSE_NUM]
        if poses:
            reasons.append(f"ada pose jari/nomor '{f.display(enc, d, poses[0], poses[0])}' tanpa konteks teks")
        scores = {code: (1.0 if code == Label.non_political.value else 0.0) for code in _CODES}
        return Result(Label.non_political, scores, False, reasons)

    def _ngram_reasons(
        self,
        enc: Encoded,
        parts: dict[str, np.ndarray],
        docs: np.ndarray,
        label_idx: np.ndarray,
        other_idx: np.ndarray,
    ) -> dict[int, list[str]]:
        """Top n-grams by contribution to logit(label) - logit(best non-partisan label), for `docs` only.

        A word's contribution is its unigram weight plus its character n-grams' weights, each times the
        post's normaliser; a bigram's is its weight times the normaliser. Exact, from the linear model.
        """
        out: dict[int, list[str]] = {}
        if len(docs) == 0:
            return out
        f = self._featurizer
        starts, doc_of = enc.starts, enc.doc_of
        inv_w, inv_c = parts["inv_w"], parts["inv_c"]
        tok_uni, tok_chr, tok_bi, bi_pos = parts["tok_uni"], parts["tok_chr"], parts["tok_bi"], parts["bi_pos"]
        chosen = np.zeros(enc.n_docs, dtype=bool)
        chosen[docs] = True
        tp = np.nonzero(chosen[doc_of])[0]
        td = doc_of[tp]
        k, j = label_idx[td], other_idx[td]
        tok = np.zeros(len(doc_of))
        tok[tp] = (tok_uni[tp, k] - tok_uni[tp, j]) * inv_w[td] + (tok_chr[tp, k] - tok_chr[tp, j]) * inv_c[td]
        bd = doc_of[bi_pos]
        bp = np.nonzero(chosen[bd])[0]
        big = np.zeros(len(bi_pos))
        big[bp] = (tok_bi[bp, label_idx[bd[bp]]] - tok_bi[bp, other_idx[bd[bp]]]) * inv_w[bd[bp]]
        bi_start = np.searchsorted(bi_pos, starts)  # bigram i covers token positions bi_pos[i], bi_pos[i] + 1
        for d in docs.tolist():
            s, e = int(starts[d]), int(starts[d + 1])
            b0, b1 = int(bi_start[d]), int(bi_start[d + 1])
            both = np.concatenate((tok[s:e], big[b0:b1]))
            cand: dict[str, float] = {}
            for i in np.argsort(-both)[: TOP_NGRAMS + 2].tolist():
                gain = float(both[i])
                if gain <= 0:
                    break
                if i < e - s:
                    g = f.display(enc, d, i, i)
                else:
                    lo = int(bi_pos[b0 + i - (e - s)]) - s
                    g = f.display(enc, d, lo, lo + 1)
                cand[g] = cand.get(g, 0.0) + gain
            out[d] = [g for g, _ in sorted(cand.items(), key=lambda kv: -kv[1])[:TOP_NGRAMS]]
        return out


def _unpack(t: tuple[Any, ...]) -> Result:
    return Result(Label(t[0]), dict(zip(_CODES, t[1], strict=True)), t[2], t[3])


# -- JSONL ----------------------------------------------------------------------------------------
def _check_row(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """(row, "") if the line is a classifiable row, else (None, reason)."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    try:
        row = json.loads(s)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    if not isinstance(row, dict):
        return None, f"expected a JSON object, got {type(row).__name__}"
    if "id" not in row or row["id"] is None:
        return None, "missing 'id'"
    rid = row["id"]
    if isinstance(rid, bool) or not isinstance(rid, str | int) or (isinstance(rid, str) and not rid.strip()):
        return None, f"'id' must be a non-empty string or an integer, got {json.dumps(rid, ensure_ascii=False)[:80]}"
    if "text" not in row:
        return None, "missing 'text'"
    text = row["text"]
    if not isinstance(text, str):
        return None, f"'text' must be a string, got {type(text).__name__ if text is not None else 'null'}"
    if "\ufffd" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return None, "text is not valid UTF-8 (replacement or surrogate characters found)"
    bio = row.get("author_bio")
    if bio is not None and not isinstance(bio, str):
        return None, f"'author_bio' must be a string or null, got {type(bio).__name__}"
    return row, ""


def _dump(obj: dict[str, Any]) -> bytes:
    s = json.dumps(obj, ensure_ascii=False)
    try:
        return s.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate in some other field: keep it, escaped
        return json.dumps(obj, ensure_ascii=True).encode("ascii") + b"\n"


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            yield n, line.rstrip(b"\r\n")


def classify_jsonl(
    in_path: Path, out_path: Path, model_dir: Path | None = None, batch_size: int = 5000
) -> ClassifyStats:
    """Classify a JSONL file of posts, streaming `batch_size` rows at a time.

    Input rows: {"id", "text", "author_bio"?, ...}. Output rows: the input plus "label", "scores",
    "flagged", "reasons", "model_version" (existing keys of those names are replaced). Bad rows go to
    `<out_path>.rejects.jsonl` as {"line", "reason", "raw"} and do not stop the run; blank lines are
    skipped. The output is written to `<out_path>.part` and renamed when complete.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    t0 = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    clf = Classifier.load(model_dir)
    if batch_size >= PARALLEL_MIN and in_path.stat().st_size >= 1_000_000:
        clf.warm_up()  # a big file: let the helper boot while the first batch is read
    stats = ClassifyStats()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rejects_path = out_path.with_name(out_path.name + ".rejects.jsonl")
    part = out_path.with_name(out_path.name + ".part")
    try:
        with part.open("wb") as out, rejects_path.open("wb") as rej:
            batch: list[dict[str, Any]] = []

            def flush() -> None:
                if not batch:
                    return
                results = clf.predict([r["text"] for r in batch], [r.get("author_bio") for r in batch])
                buf = []
                for row, res in zip(batch, results, strict=True):
                    row["label"] = res.label.value
                    row["scores"] = {k: round(v, 6) for k, v in res.scores.items()}
                    row["flagged"] = res.flagged
                    row["reasons"] = res.reasons
                    row["model_version"] = clf.version
                    buf.append(_dump(row))
                    stats.per_label[res.label.value] += 1
                    stats.flagged += res.flagged
                out.write(b"".join(buf))
                stats.written += len(batch)
                batch.clear()

            for n, line in _lines(in_path):
                if not line.strip():
                    continue
                stats.read += 1
                row, reason = _check_row(line)
                if row is None:
                    raw = line.decode("utf-8", "backslashreplace")
                    rej.write(_dump({"line": n, "reason": reason, "raw": raw}))
                    stats.rejected += 1
                    continue
                batch.append(row)
                if len(batch) >= batch_size:
                    flush()
            flush()
        part.replace(out_path)
    finally:
        clf.close()
        if part.exists():
            part.unlink()
    stats.seconds = round(time.perf_counter() - t0, 3)
    return stats
