"""The stable interface of the classifier: `Classifier.load(...).predict(texts)` and `classify_jsonl`.

The model ranks what human reviewers look at; it never decides. Each `Result` carries the six label
probabilities (calibrated on the validation split, see models.train), whether the post is flagged for review
(P(any partisan label) >= the artifact's threshold), and reasons in Indonesian: the cues that fired ("menyebut
paslon nomor 2: 'no 2'", "ajakan: coblos", "menyebut paslon nomor 1 Haryo Wicaksono–Siti Komariyah (...)"), and
the n-grams that moved the decision. `Classifier.explain` gives the same for one text with the cue positions, for
`pantau explain`.

Candidate registries (models.candidates, `models/registry/*.toml`) are read at load time: editing one needs no
retraining, only a new load.

Speed: texts are normalised and tokenised once, then scored with per-token weight sums (no sparse
matrix, see models.features.LinearScorer); reasons are built for flagged posts only. On a machine
with more than one core, the first batch of `PARALLEL_MIN` posts or more starts one helper process
(models._worker, started once per Classifier and reused); `classify_jsonl` starts it right after loading the
model. On Linux the helper is a fork of the calling process (`HELPER_START`), ready within milliseconds;
elsewhere it is a new interpreter that imports spaCy and loads the model (~2-3 s), and batches are scored in the
calling process until it is ready. Once it is ready each such batch is split in two and scored on both cores.
`classify_jsonl` hands the helper raw JSONL lines, so parsing and writing JSON is split across the cores too.
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
import sys
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic_core import from_json, to_json

from models import _worker
from models.candidates import REGISTRY_DIR, Registry
from models.features import (
    B_ID_FUNCTION,
    B_KNOWN,
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
    mixed_proba,
)
from pipeline.errors import ModelError
from pipeline.schema import FLAGGED_LABELS, Label

MODELS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = MODELS_DIR / "artifacts"
ARTIFACT_FORMAT = "pantau-linear-v2"
LABELS: tuple[Label, ...] = tuple(Label)
_CODES: tuple[str, ...] = tuple(label.value for label in LABELS)
_CUE_WORDS: tuple[str, ...] = tuple(name.replace("_", " ") for name in CUE_NAMES)
PARALLEL_MIN = 2000  # batches at least this big are split across the calling process and one helper
HELPER_START = "fork" if sys.platform.startswith("linux") else "spawn"  # how the helper process starts
FORK_READY_S = 2.0  # how long the first big batch waits for a forked helper's "ready" (it takes milliseconds)
HELPER_TIMEOUT_S = 120.0  # a helper silent this long is stopped and its half scored in the calling process
TOP_NGRAMS = 3
MAX_CUE_REASONS = 4
MIN_WORDS_FOR_LANGUAGE = 6  # a text this long without one common Indonesian/regional word ...
MIN_KNOWN_SHARE = 0.3  # ... and with fewer than 30% words our lexicons know gets a warning (it is still judged)
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


@dataclass(frozen=True)
class Cue:
    name: str  # a name of models.features.CUE_NAMES
    start: int  # first and last spaCy token (of the normalised text, Explanation.tokens) behind the cue
    end: int
    reason: str


@dataclass(frozen=True)
class Explanation:
    result: Result
    tokens: list[str]  # spaCy tokens of the normalised text
    cues: list[Cue]  # cues that favour the label, strongest first
    ngrams: list[tuple[str, float]]  # n-grams with their contribution to the label's logit
    threshold: float
    model_version: str


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
    """model.json (format, version, labels, features, threshold ...) + model.npz (the weights), checked.

    The weights are plain arrays loaded with allow_pickle=False: reading an artifact never runs code."""
    path = model_dir / "model.json"
    if not model_dir.is_dir():
        raise ModelError(f"model folder {model_dir} does not exist")
    if not path.is_file():
        if (model_dir / "model.joblib").is_file():
            raise ModelError(f"{model_dir} holds an artifact of an older format; train a new one with `pantau train`")
        raise ModelError(f"model folder {model_dir} has no model.json (incomplete artifact?)")
    try:
        art = json.loads(path.read_text(encoding="utf-8"))
        with np.load(model_dir / "model.npz", allow_pickle=False) as weights:
            arrays = {"coef": weights["coef"], "intercept": weights["intercept"]}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read the artifact in {model_dir}: {type(exc).__name__}: {exc}") from None
    if isinstance(art, dict):
        art.update(arrays)
    if not isinstance(art, dict) or art.get("format") != ARTIFACT_FORMAT:
        found = art.get("format") if isinstance(art, dict) else None
        raise ModelError(
            f"{path} is not a {ARTIFACT_FORMAT} artifact (found {found!r}); train a new one with `pantau train`"
        )
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

    def __init__(
        self,
        artifact: dict[str, Any],
        model_dir: Path,
        workers: int | None = None,
        registry_dir: Path | None = REGISTRY_DIR,
    ) -> None:
        self.registry_dir = registry_dir
        self.registry = Registry.load(registry_dir)  # RegistryError names the bad file and field
        try:
            config = FeatureConfig(**artifact["feature_config"])
            self._featurizer = Featurizer(config, self.registry)
            coef, intercept = np.asarray(artifact["coef"]), np.asarray(artifact["intercept"])
            if coef.shape[0] != len(LABELS) + 1 or intercept.shape != (len(LABELS) + 1,):
                raise ValueError(f"expected {len(LABELS) + 1} rows of weights, found {coef.shape[0]}")
            self._scorer = LinearScorer(self._featurizer, coef, intercept)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{model_dir}: artifact does not fit this code: {exc}") from None
        temps = artifact.get("temperature", [1.0, 1.0, 1.0])
        self._mix_temperature = float(temps[2]) if isinstance(temps, list | tuple) and len(temps) == 3 else 1.0
        self.version = str(artifact["version"])
        self.threshold = float(artifact["threshold"])
        self.model_dir = model_dir
        self._flag_idx = np.array([i for i, lab in enumerate(LABELS) if lab in FLAGGED_LABELS])
        self._other_idx = np.array([i for i, lab in enumerate(LABELS) if lab not in FLAGGED_LABELS])
        if workers is None:
            workers = 1 if (os.cpu_count() or 1) > 1 else 0
        self._workers = max(0, min(1, workers))
        self._proc: subprocess.Popen[bytes] | _worker.Forked | None = None
        self._proc_ready = False
        self._helper_share = 0.5  # part of a big JSONL batch the helper takes (classify_lines adapts it)
        self._lock = threading.RLock()

    @classmethod
    def load(
        cls, path: Path | None = None, workers: int | None = None, registry_dir: Path | None = REGISTRY_DIR
    ) -> Classifier:
        """Load models/artifacts/<CURRENT> (or `path`) with the candidate registries of `registry_dir`.
        Raises ModelError if the artifact is missing or corrupt, RegistryError if a registry file is invalid."""
        model_dir = resolve_model_dir(path)
        return cls(_load_artifact(model_dir), model_dir, workers=workers, registry_dir=registry_dir)

    # -- helper process ------------------------------------------------------------------------------
    def _ready_worker(self) -> subprocess.Popen[bytes] | _worker.Forked | None:
        """The helper process if it is ready; starts it on the first call. A forked helper is waited for (it is
        ready within milliseconds), a spawned one boots in the background while the caller goes on alone."""
        if self._workers == 0:
            return None
        with self._lock:
            proc = self._proc
            wait = 0.0
            if proc is None:
                try:
                    if HELPER_START == "fork":
                        proc, wait = _worker.fork(self), FORK_READY_S
                    else:
                        proc = _worker.spawn(self.model_dir, self.registry_dir)
                except OSError:
                    self._workers = 0
                    return None
                self._proc, self._proc_ready = proc, False
            if self._proc_ready:
                return proc
            assert proc.stdout is not None
            if proc.poll() is not None:  # died while booting: stay single-process
                self._stop_worker_locked()
                return None
            if not select.select([proc.stdout], [], [], wait)[0]:
                return None  # still booting
            try:
                hello = _worker.read_frame(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                hello = None
            if not (isinstance(hello, tuple) and hello and hello[0] == "ready"):
                self._stop_worker_locked()
                return None
            self._proc_ready = True
            return proc

    def after_fork(self) -> None:
        """In a forked helper: this copy of the Classifier works alone, with locks of its own (an inherited lock
        may be held by a thread that does not exist in the child)."""
        self._lock = threading.RLock()
        self._workers, self._proc, self._proc_ready = 0, None, False

    def warm_up(self) -> None:
        """Start the helper process now rather than at the first big batch."""
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
            if isinstance(proc, _worker.Forked):
                proc.wait(timeout=5)  # reap it (Popen does that itself)

    # -- prediction ----------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], bios: Sequence[str | None] | None = None) -> list[Result]:
        """One Result per text, in order. `bios` (author bios) only add a reason, never change scores (the author
        signal is combined with the score in the review queue's priority, pipeline.review)."""
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
            _worker.write_frame(proc.stdin, ("predict", texts[half:], tail_bios))
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

    def classify_lines(self, items: list[tuple[int, bytes]]) -> list[LinesResult]:
        """JSONL lines -> output chunks in input order; a big batch is split with the helper process, which
        parses, scores and writes its half (see `classify_lines` at module level)."""
        items = list(items)
        if not items:
            return []
        with self._lock:
            proc = self._ready_worker() if len(items) >= PARALLEL_MIN else None
            if proc is None:
                return [classify_lines(self, items)]
            # the calling process also reads and writes the files: split by the measured speed of both sides
            half = min(len(items) - 1, max(1, round(len(items) * (1.0 - self._helper_share))))
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _worker.write_frame(proc.stdin, ("lines", items[half:]))
            except OSError:  # helper gone
                self._stop_worker_locked()
                return [classify_lines(self, items)]
            t0 = time.perf_counter()
            first = classify_lines(self, items[:half])
            own = time.perf_counter() - t0
            reply = None
            try:
                if select.select([proc.stdout], [], [], HELPER_TIMEOUT_S)[0]:
                    reply = _worker.read_frame(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                reply = None
            if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "ok" and isinstance(reply[1], LinesResult):
                theirs = reply[1].seconds
                if own > 0 and theirs > 0:  # posts per second on each side -> the helper's next share (smoothed)
                    mine_rate, their_rate = half / own, (len(items) - half) / theirs
                    share = their_rate / (mine_rate + their_rate)
                    self._helper_share = min(0.75, max(0.25, 0.5 * self._helper_share + 0.5 * share))
                return [first, reply[1]]
            self._stop_worker_locked()  # a failed helper must not lose the batch: do it here
            return [first, classify_lines(self, items[half:])]

    def predict_local(self, texts: list[str], bios: list[str | None] | None = None) -> list[Result]:
        """`predict` in the calling process only (the helper process uses this for its half)."""
        with self._lock:
            return self._predict_local(list(texts), None if bios is None else list(bios))

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
        return self._score(texts, bios)[0]

    def _score(self, texts: list[str], bios: list[str | None] | None) -> tuple[list[Result], Encoded, dict[str, Any]]:
        """Results, plus the encoded batch and the scorer's parts (for `explain`)."""
        f = self._featurizer
        enc = f.encode(texts)
        parts = self._scorer.parts(enc)
        proba = mixed_proba(parts["logits"], self._flag_idx, self._mix_temperature)
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
        known = np.bincount(enc.doc_of, weights=(bits & (B_KNOWN | B_ID_FUNCTION)) != 0, minlength=n)
        # no common Indonesian/regional word and few known words: a language the model was not trained on
        foreign = ((latin >= MIN_WORDS_FOR_LANGUAGE) & (idwords == 0) & (known < MIN_KNOWN_SHARE * latin)).tolist()
        judged = latin > 0
        flagged &= judged
        flagged_docs = np.nonzero(flagged)[0]
        ngrams = self._ngram_reasons(enc, parts, flagged_docs, label_idx, best_other)
        order = self._cue_order(
            parts, flagged_docs, label_idx[flagged_docs], best_other[flagged_docs], 1.0, MAX_CUE_REASONS
        )
        cue_order = dict(zip(flagged_docs.tolist(), order, strict=True))
        first_pos = parts["cue_first"].tolist()
        thr = self.threshold
        # plain Python values once for the whole batch: per-row numpy scalars are slow in the loop below
        rows, pf, fl, lab = proba.tolist(), p_flag.tolist(), flagged.tolist(), label_idx.tolist()
        jd = judged.tolist()
        results: list[Result] = []
        for d in range(n):
            if not jd[d]:
                results.append(self._unjudged(texts[d], enc, d, bool(other[d] > 0)))
                continue
            if fl[d]:
                k = lab[d]
                reasons = [f"skor partisan {pf[d]:.2f} ≥ ambang {thr:.2f} ({_CODES[k]})"]
                reasons.extend(t for _, _, _, t in self._cue_reasons(enc, parts, d, cue_order[d]))
                reasons.extend(f"n-gram kuat: '{g}'" for g in ngrams.get(d, ()))
            else:
                reasons = [f"skor partisan {pf[d]:.2f} < ambang {thr:.2f}"]
                fired = [_CUE_WORDS[c] for c, pos in enumerate(first_pos[d]) if pos >= 0]
                if fired:
                    reasons.append("isyarat: " + ", ".join(fired))
            if foreign[d]:
                reasons.append(
                    "bahasa tidak dikenali (tidak ada kata Indonesia/daerah yang umum): penilaian kurang andal"
                )
            if bios is not None and bios[d]:
                m = _BIO_ROLE.search(bios[d])
                if m:
                    reasons.append(f"bio penulis menyebut '{m.group(0)}' (tidak memengaruhi skor)")
            results.append(Result(LABELS[lab[d]], dict(zip(_CODES, rows[d], strict=True)), fl[d], reasons))
        return results, enc, parts

    def _cue_order(
        self, parts: dict[str, Any], docs: np.ndarray, k: np.ndarray, j: np.ndarray, sign: float, limit: int
    ) -> list[list[int]]:
        """For each of `docs`: the cues that fired and favour its label k over label j, strongest first (at most
        `limit`). A cue's gain is its weight for k minus its weight for j, plus `sign` (+1 when k is partisan, -1
        when not) times its weight in the binary flagged model. Vectorised over the batch."""
        if len(docs) == 0:
            return []
        w = self._scorer.w_cue  # (n_cues, 7)
        gain = w[:, k].T - w[:, j].T + sign * w[:, -1][None, :]
        gain = np.where(parts["cue_first"][docs] >= 0, gain, -np.inf)
        order = np.argsort(-gain, axis=1, kind="stable")[:, :limit]
        keep = np.take_along_axis(gain, order, axis=1) > 0
        return [o[m].tolist() for o, m in zip(order, keep, strict=True)]

    def _cue_reasons(
        self, enc: Encoded, parts: dict[str, Any], d: int, cues: list[int]
    ) -> list[tuple[str, int, int, str]]:
        """(cue, lo, hi, reason) for these cues of document d; lo..hi are normal-form positions of the words."""
        f = self._featurizer
        first = parts["cue_first"][d].tolist() if cues else []
        out = []
        for c in cues:
            name = CUE_NAMES[c]
            hi = first[c]
            lo = f.cue_span(enc, d, name, hi)
            out.append((name, lo, hi, self._cue_text(enc, d, name, lo, hi)))
        return out

    def _cue_text(self, enc: Encoded, d: int, name: str, lo: int, hi: int) -> str:
        """One reason in Indonesian, e.g. "menyebut paslon nomor 2: 'no 2'", "ajakan: coblos"."""
        f = self._featurizer
        words = f.display(enc, d, lo, hi)
        last = f.table.norms[enc.ids_list[enc.starts_list[d] + hi]]
        number = last[3:] if last.startswith("NUM") else ""
        if name == "nomor_urut" and number:
            return f"menyebut paslon nomor {number}: '{words}'"
        if name == "ajakan_nomor" and number:
            return f"ajakan memilih nomor {number}: '{words}'"
        if name == "pose_nomor":
            return f"pose jari nomor {number}: '{words}'" if number else f"pose jari: '{words}'"
        if name == "ajakan_memilih":
            return f"ajakan: {words}"
        if name in ("calon_terdaftar", "tagar_calon"):
            got = f.registry_phrase(enc, d, hi, "name" if name == "calon_terdaftar" else "tag")
            if got is not None:
                what = "menyebut" if name == "calon_terdaftar" else "slogan/tagar"
                return f"{what} {self.registry.describe_phrase(got[1])}: '{words}'"
        return f"{CUE_REASON[name]}: '{words}'"

    def explain(self, text: str, bio: str | None = None) -> Explanation:
        """One text with everything behind its Result: the cue spans (as spaCy-token positions of the normalised
        text, for highlighting) and the n-grams with their weight. For `pantau explain`; not for bulk use."""
        with self._lock:
            (res,), enc, parts = self._score([text], None if bio is None else [bio])
        f = self._featurizer
        s, e = int(enc.starts[0]), int(enc.starts[1])
        r0, r1 = int(enc.raw_starts[0]), int(enc.raw_starts[1])
        strings = f.tokenizer.vocab.strings
        tokens = [strings[o] for o in enc.orths[r0:r1].tolist()]
        k = LABELS.index(res.label)
        # against the best label on the other side of the flag decision
        sign = 1.0 if res.flagged else -1.0
        other = (self._other_idx if res.flagged else self._flag_idx).tolist()
        j = max(other, key=lambda i: res.scores[_CODES[i]])
        cues = []
        if e > s:
            (order,) = self._cue_order(parts, np.array([0]), np.array([k]), np.array([j]), sign, len(CUE_NAMES))
            for name, lo, hi, reason in self._cue_reasons(enc, parts, 0, order):
                cues.append(Cue(name, int(enc.raw_pos[s + lo]), int(enc.raw_pos[s + hi]), reason))
        ngrams = self._ngram_reasons(enc, parts, np.array([0]), np.array([k]), np.array([j]), with_gain=True, sign=sign)
        return Explanation(res, tokens, cues, ngrams.get(0, []), self.threshold, self.version)

    def _unjudged(self, text: str, enc: Encoded, d: int, other_script: bool) -> Result:
        """non_political with P=1 and the reason why the text could not be judged."""
        f = self._featurizer
        if not text.strip():
            why = "teks kosong: tidak bisa dinilai"
        elif other_script:
            why = "teks tidak beraksara Latin: model hanya menilai teks Indonesia/daerah beraksara Latin"
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
        with_gain: bool = False,
        sign: float = 1.0,
    ) -> dict[int, list[Any]]:
        """Top n-grams by contribution to logit(label) - logit(best non-partisan label) of the multinomial model
        plus the binary model's flagged logit, for `docs` only (with `with_gain`, (n-gram, contribution) pairs).

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
        # multinomial: label k against label j; plus the binary model's push towards "flagged" (last column)
        tok[tp] = (tok_uni[tp, k] - tok_uni[tp, j] + sign * tok_uni[tp, -1]) * inv_w[td] + (
            tok_chr[tp, k] - tok_chr[tp, j] + sign * tok_chr[tp, -1]
        ) * inv_c[td]
        bd = doc_of[bi_pos]
        bp = np.nonzero(chosen[bd])[0]
        big = np.zeros(len(bi_pos))
        big[bp] = (tok_bi[bp, label_idx[bd[bp]]] - tok_bi[bp, other_idx[bd[bp]]] + sign * tok_bi[bp, -1]) * inv_w[
            bd[bp]
        ]
        # the TOP_NGRAMS + 2 best positive candidates (words and bigrams) of every chosen document, in one sort
        cand_doc = np.concatenate((td, bd[bp]))
        cand_gain = np.concatenate((tok[tp], big[bp]))
        cand_lo = np.concatenate((tp - starts[td], bi_pos[bp] - starts[bd[bp]]))
        cand_hi = np.concatenate((tp - starts[td], bi_pos[bp] + 1 - starts[bd[bp]]))
        keep = cand_gain > 0
        cand_doc, cand_gain, cand_lo, cand_hi = cand_doc[keep], cand_gain[keep], cand_lo[keep], cand_hi[keep]
        # one float key sorts by document, then by falling gain (gains are far below 1e6 in magnitude)
        order = np.argsort(cand_doc * 1e7 - cand_gain, kind="stable")
        cand_doc = cand_doc[order]
        group = np.flatnonzero(np.diff(cand_doc, prepend=-1))  # first row of each document's run
        rank = np.arange(len(cand_doc)) - np.repeat(group, np.diff(np.append(group, len(cand_doc))))
        sel = rank < TOP_NGRAMS + 2
        top = order[sel]
        sel_doc = cand_doc[sel]
        sel_lo, sel_hi = cand_lo[top], cand_hi[top]
        # an n-gram's normal-form ids as one integer (a word: id * m; a bigram: id * m + next id + 1), so that a word
        # or a bigram repeated in a post is found without building tuples
        m = max(len(f.table), int(enc.ids.max(initial=0)) + 1) + 1
        first_id = enc.ids[starts[sel_doc] + sel_lo]
        next_id = enc.ids[np.minimum(starts[sel_doc] + sel_hi, max(len(enc.ids) - 1, 0))]
        keys = (first_id * m + np.where(sel_hi > sel_lo, next_id + 1, 0)).tolist()
        gains, los, his = cand_gain[top].tolist(), sel_lo.tolist(), sel_hi.tolist()
        if not keys:
            return out
        bounds = np.flatnonzero(np.diff(sel_doc, prepend=-1)).tolist()  # first row of each document
        docs_l = sel_doc[bounds].tolist()
        chosen_doc: list[int] = []
        chosen: list[list[Any]] = []  # [gain, lo, hi] of the n-grams shown, document by document
        for d, a, b in zip(docs_l, bounds, [*bounds[1:], len(keys)], strict=True):
            cand: dict[int, list[Any]] = {}  # by normal-form ids: a word repeated counts once, summed
            for r in range(a, b):
                got = cand.get(keys[r])
                if got is None:
                    cand[keys[r]] = [gains[r], los[r], his[r]]
                else:
                    got[0] += gains[r]
            best = sorted(cand.values(), key=_minus_gain)[:TOP_NGRAMS]
            chosen_doc += [d] * len(best)
            chosen += best
        shown = f.display_many(enc, chosen_doc, [c[1] for c in chosen], [c[2] for c in chosen])
        for d, g, c in zip(chosen_doc, shown, chosen, strict=True):
            out.setdefault(d, []).append((g, round(c[0], 3)) if with_gain else g)
        return out


def _minus_gain(v: list[Any]) -> float:
    return -v[0]  # type: ignore[no-any-return]


def _unpack(t: tuple[Any, ...]) -> Result:
    return Result(Label(t[0]), dict(zip(_CODES, t[1], strict=True)), t[2], t[3])


# -- JSONL ----------------------------------------------------------------------------------------
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_row(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """(row, "") if the line is a classifiable row, else (None, reason)."""
    try:
        row = from_json(line)  # fast path (never yields lone surrogates); errors are re-parsed for their message
        slow = False
    except ValueError:
        row = _slow_parse(line)
        if isinstance(row, str):
            return None, row
        slow = True
    if not isinstance(row, dict):
        return None, f"expected a JSON object, got {_json_type(row)}"
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
    if "\ufffd" in text or (slow and _SURROGATE.search(text)):
        return None, "text is not valid UTF-8 (replacement or surrogate characters found)"
    bio = row.get("author_bio")
    if bio is not None and not isinstance(bio, str):
        return None, f"'author_bio' must be a string or null, got {type(bio).__name__}"
    return row, ""


def _slow_parse(line: bytes) -> Any:
    """The row via the standard library (which accepts lone surrogate escapes), or the reason it is not JSON."""
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    try:
        return json.loads(s)
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "malformed JSON: nested too deeply"


def _json_type(value: Any) -> str:
    return type(value).__name__


def _dump(obj: dict[str, Any]) -> bytes:
    try:
        return to_json(obj) + b"\n"
    except (ValueError, TypeError):  # a lone surrogate in some other field: keep it, escaped
        return json.dumps(obj, ensure_ascii=True).encode("ascii") + b"\n"


@dataclass
class LinesResult:
    """What `classify_lines` made of some input lines: output and reject bytes, and their counts."""

    out: bytes
    rejects: bytes
    written: int
    rejected: int
    flagged: int
    per_label: dict[str, int]
    seconds: float = 0.0  # time it took (the caller balances the two processes with it)


def classify_lines(clf: Classifier, items: Sequence[tuple[int, bytes]]) -> LinesResult:
    """Classify (line number, raw line) pairs in the calling process: the JSONL work of one batch."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing and writing make many small acyclic objects; cyclic-GC passes would cost ~15%
    t0 = time.perf_counter()
    try:
        res = _classify_lines(clf, items)
        res.seconds = time.perf_counter() - t0
        return res
    finally:
        if gc_was_enabled:
            gc.enable()


def _classify_lines(clf: Classifier, items: Sequence[tuple[int, bytes]]) -> LinesResult:
    rows: list[dict[str, Any]] = []
    rejects: list[bytes] = []
    for n, line in items:
        row, reason = _check_row(line)
        if row is None:
            raw = line.decode("utf-8", "backslashreplace")  # rejects are rare: the standard library's spacing
            rejects.append(json.dumps({"line": n, "reason": reason, "raw": raw}, ensure_ascii=False).encode() + b"\n")
        else:
            rows.append(row)
    per_label = {code: 0 for code in _CODES}
    flagged = 0
    out: list[bytes] = []
    if rows:
        results = clf.predict_local([r["text"] for r in rows], [r.get("author_bio") for r in rows])
        scores = _round6(np.array([list(res.scores.values()) for res in results], dtype=np.float64))
        for row, res, sc in zip(rows, results, scores, strict=True):
            row["label"] = res.label.value
            row["scores"] = dict(zip(_CODES, sc, strict=True))
            row["flagged"] = res.flagged
            row["reasons"] = res.reasons
            row["model_version"] = clf.version
            out.append(_dump(row))
            per_label[res.label.value] += 1
            flagged += res.flagged
    return LinesResult(b"".join(out), b"".join(rejects), len(rows), len(rejects), flagged, per_label)


def _round6(a: np.ndarray) -> list[list[float]]:
    """`round(v, 6)` of every value of a 2-D array, as lists, vectorised. Python's round is correctly rounded (the
    exact binary value to 6 decimals, half to even); rint(v * 1e6) / 1e6 gives the same float unless v * 1e6 lies
    within rounding error of a half (or v is huge or not finite): those few values go through Python's round."""
    f = a * 1e6
    rows: list[list[float]] = (np.rint(f) / 1e6).tolist()
    with np.errstate(invalid="ignore"):
        risky = ~(np.abs(a) < 1e9) | (np.abs(f - np.floor(f) - 0.5) < 1e-6)
    if risky.any():
        for i, j in zip(*np.nonzero(risky), strict=True):
            rows[i][j] = round(float(a[i, j]), 6)
    return rows


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            yield n, line.rstrip(b"\r\n")


def classify_jsonl(
    in_path: Path,
    out_path: Path,
    model_dir: Path | None = None,
    batch_size: int = 5000,
    registry_dir: Path | None = REGISTRY_DIR,
) -> ClassifyStats:
    """Classify a JSONL file of posts, streaming `batch_size` rows at a time.

    Input rows: {"id", "text", "author_bio"?, ...}. Output rows: the input plus "label", "scores",
    "flagged", "reasons", "model_version" (existing keys of those names are replaced). Bad rows go to
    `<out_path>.rejects.jsonl` as {"line", "reason", "raw"} and do not stop the run; blank lines are
    skipped. The output is written to `<out_path>.part` and renamed when complete. Rows keep their input order.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    t0 = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    clf = Classifier.load(model_dir, registry_dir=registry_dir)
    if batch_size >= PARALLEL_MIN and in_path.stat().st_size >= 1_000_000:
        clf.warm_up()  # a big file: the helper starts now (a spawned one boots while the first batch is read)
    stats = ClassifyStats()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rejects_path = out_path.with_name(out_path.name + ".rejects.jsonl")
    part = out_path.with_name(out_path.name + ".part")
    try:
        with part.open("wb") as out, rejects_path.open("wb") as rej:
            batch: list[tuple[int, bytes]] = []

            def flush() -> None:
                for chunk in clf.classify_lines(batch):
                    out.write(chunk.out)
                    rej.write(chunk.rejects)
                    stats.written += chunk.written
                    stats.rejected += chunk.rejected
                    stats.flagged += chunk.flagged
                    for k, v in chunk.per_label.items():
                        stats.per_label[k] += v
                batch.clear()

            for n, line in _lines(in_path):
                if not line.strip():
                    continue
                stats.read += 1
                batch.append((n, line))
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
