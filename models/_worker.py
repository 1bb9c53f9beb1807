"""Helper process of models.predict.Classifier: scores part of each big batch on a second core.

On Linux the helper is a fork of the calling process (`fork`): it inherits the imported modules (spaCy alone
takes ~2 s of CPU to import) and the loaded Classifier, so it is ready within milliseconds instead of seconds.
The forked child closes every inherited file descriptor but its two pipes (a pipe of the caller's to another
process must still reach end of file when the caller closes it), ignores SIGINT (the caller stops it by closing
its pipe), replaces the locks it may have inherited held, never writes to the caller's stdout and leaves with
os._exit (no atexit handlers, no flushing of inherited buffers). Elsewhere, or if fork fails, it is started as
`python -c "...; main()" MODEL_DIR [REGISTRY_DIR]` (`command`, not multiprocessing: no re-import of the
caller's __main__) and loads the model itself.

Both talk over two pipes in frames: 8-byte big-endian length + pickle. First frame out, once the helper has
classified a sample line: ("ready", version). Then one reply per request frame:

* ("predict", texts, bios) -> ("ok", [(label, scores tuple, flagged, reasons), ...])
* ("lines", [(line number, raw JSONL line), ...]) -> ("ok", models.predict.LinesResult): the helper parses,
  scores and writes its part of a `classify_jsonl` batch itself, so JSON work is split across the cores too.

or ("error", message). Exits at end of input.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.predict import Classifier

_LEN = struct.Struct(">Q")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = [(1, b'{"id": 1, "text": "Ayo coblos nomor 2 #Pilih02 \\u270c\\ufe0f", "author_bio": "relawan"}')]


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


def serve(clf: Classifier, inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer requests until end of input (the helper's loop, forked or spawned)."""
    from models.predict import classify_lines

    classify_lines(clf, SAMPLE)  # the whole path once before saying "ready" (a forked child that would hang
    write_frame(out, ("ready", clf.version))  # on an inherited lock hangs here, and the caller never uses it)
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


# -- spawned helper --------------------------------------------------------------------------------
def command(model_dir: Path, registry_dir: Path | None = None) -> list[str]:
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from models._worker import main; main()"
    return [sys.executable, "-c", boot, str(model_dir), *([str(registry_dir)] if registry_dir is not None else [])]


def spawn(model_dir: Path, registry_dir: Path | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command(model_dir, registry_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")  # frames go to the real stdout; stray prints go to stderr
    os.dup2(2, 1)
    from models.predict import Classifier

    registry_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    clf = Classifier.load(Path(sys.argv[1]), workers=0, registry_dir=registry_dir)
    serve(clf, sys.stdin.buffer, out)


# -- forked helper ---------------------------------------------------------------------------------
class Forked:
    """A forked helper, with the part of subprocess.Popen's interface that models.predict uses."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"helper {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def fork(clf: Classifier) -> Forked:
    """Fork the calling process into a helper serving `clf` (OSError if the system refuses)."""
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (req_r, req_w, rep_r, rep_w):
            os.close(fd)
        raise
    if pid == 0:  # the helper: never returns into the caller's code
        code = 1
        try:
            _child(clf, req_r, rep_w)
            code = 0
        finally:
            os._exit(code)
    os.close(req_r)
    os.close(rep_w)
    return Forked(pid, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"))


def _child(clf: Classifier, inp_fd: int, out_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the caller, which closes our input
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the caller's handler (it would run the caller's code)
    keep = {0, 1, 2, inp_fd, out_fd}
    for fd in _open_fds():
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # stray prints go to stderr, never into the caller's stdout
    gc.freeze()  # inherited objects stay out of our collections: fewer copied-on-write pages
    clf.after_fork()
    with os.fdopen(inp_fd, "rb") as inp, os.fdopen(out_fd, "wb") as out:
        serve(clf, inp, out)


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # pragma: no cover - no /proc: the usual range
        return list(range(3, 1024))
