"""Helper process of models.predict.Classifier: scores half of each big batch on a second core.

Started as `python -c "...; main()" MODEL_DIR [REGISTRY_DIR]` (not multiprocessing: no fork of a threaded caller,
no re-import of the caller's __main__). Talks over its stdin/stdout in frames: 8-byte big-endian length +
pickle. First frame out: ("ready", version). Then one reply per request frame:

* ("predict", texts, bios) -> ("ok", [(label, scores tuple, flagged, reasons), ...])
* ("lines", [(line number, raw JSONL line), ...]) -> ("ok", models.predict.LinesResult): the helper parses,
  scores and writes its half of a `classify_jsonl` batch itself, so JSON work is split across the cores too.

or ("error", message). Exits at end of input.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from pathlib import Path
from typing import IO, Any

_LEN = struct.Struct(">Q")
ROOT = Path(__file__).resolve().parent.parent


def write_frame(f: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_LEN.pack(len(data)))
    f.write(data)
    f.flush()


def read_exact(f: IO[bytes], n: int) -> bytes | None:
    chunks = []
    while n:
        b = f.read(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame(f: IO[bytes]) -> Any:
    """The next object, or None at end of stream."""
    head = read_exact(f, _LEN.size)
    if head is None:
        return None
    body = read_exact(f, _LEN.unpack(head)[0])
    if body is None:
        return None
    return pickle.loads(body)


def command(model_dir: Path, registry_dir: Path | None = None) -> list[str]:
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from models._worker import main; main()"
    return [sys.executable, "-c", boot, str(model_dir), *([str(registry_dir)] if registry_dir is not None else [])]


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")  # frames go to the real stdout; stray prints go to stderr
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    from models.predict import Classifier, classify_lines

    registry_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    clf = Classifier.load(Path(sys.argv[1]), workers=0, registry_dir=registry_dir)
    write_frame(out, ("ready", clf.version))
    while True:
        req = read_frame(inp)
        if req is None:
            return
        try:
            if req[0] == "lines":
                write_frame(out, ("ok", classify_lines(clf, req[1])))
            else:
                _, texts, bios = req
                res = [
                    (r.label.value, tuple(r.scores.values()), r.flagged, r.reasons) for r in clf.predict(texts, bios)
                ]
                write_frame(out, ("ok", res))
        except Exception as exc:  # noqa: BLE001 - report, the parent does the batch itself
            write_frame(out, ("error", f"{type(exc).__name__}: {exc}"))
