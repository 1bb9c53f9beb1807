"""How the web server shares the DuckDB file with the nightly load: open it only while requests need it, and step
aside when another process wants it.

DuckDB lets one process hold the file; every other open fails while it is held. The workspace therefore keeps no
connection between quiet periods. While requests are in flight, one *keeper* connection (opened through
`Store.connect`) keeps the database instance alive, so each request's own short `Store.connect()` reuses it instead
of re-reading the file (an open costs 25-45 ms on a store of a million posts; a reuse costs 0.02 ms). The keeper is
closed as soon as no request is in flight, and also:

- when another process tries to open the file: on Linux an inotify watch reports every open(2) of the file, and the
  server's own opens happen only while it is (re)opening the keeper, so an open seen while the keeper is steady is
  someone else's. The server then drains its requests, closes, and stays closed for `web_db_gap_s` so that the
  other process's next retry finds the file free (`Store.connect` retries, and every retry is another open);
- after `web_db_max_hold_s` of continuous use, for `web_db_gap_s`, as a fallback where inotify is missing. Where
  the watch works this is not done: each such pause drains every request, checkpoints, closes and reopens the
  file (a stall of 0.5-2 s under load) for no one.

A request that arrives while another process holds the file waits in `Store.connect`'s bounded retry and then
succeeds. Writes inside the server are serialised by `write_lock`, so two reviewers' transactions never conflict;
decisions, and the audit log's records of evidence viewed or exported, are written in groups under it, one
transaction for all that arrived meanwhile (`groupcommit.py`).
"""

from __future__ import annotations

import ctypes
import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pipeline.storage import Store

_IN_OPEN = 0x20


class _OpenWatch:
    """Reports open(2) calls on one file, from any process (inotify; Linux only)."""

    def __init__(self, path: Path) -> None:
        self.fd = -1
        self.path = path
        self._inode = -1
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                return
            self.fd = fd
            if not self.rearm():
                os.close(fd)
                self.fd = -1
        except (OSError, AttributeError):  # no libc inotify here: the max-hold fallback applies
            self.fd = -1

    def rearm(self) -> bool:
        """Watch the file now at `path` (again, if it was replaced by another file since). False if it cannot."""
        if self.fd < 0:
            return False
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            return False
        if inode == self._inode:
            return True
        if self._libc.inotify_add_watch(self.fd, os.fsencode(self.path), _IN_OPEN) < 0:
            return False
        self._inode = inode
        return True

    @property
    def available(self) -> bool:
        return self.fd >= 0

    def wait(self, timeout: float) -> bool:
        """True if at least one open happened (events are drained)."""
        if self.fd < 0:
            time.sleep(timeout)
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready) and self.drain() > 0

    def drain(self) -> int:
        if self.fd < 0:
            return 0
        seen = 0
        try:
            while True:
                seen += len(os.read(self.fd, 65536))
        except BlockingIOError:
            pass
        return seen

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Gate:
    """Admits requests to the store; owns the keeper connection and when it is open. One per server process."""

    def __init__(self, store: Store, max_hold_s: float = 5.0, gap_s: float = 0.3, linger_s: float = 0.05) -> None:
        self.store = store
        self.max_hold_s = max_hold_s
        self.gap_s = gap_s
        self.linger_s = linger_s
        self.write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._keeper: ExitStack | None = None
        self._opening = False
        self._yielding = False
        self._active = 0
        self._opened_at = 0.0
        self._idle_since = 0.0
        self._closed_until = 0.0
        self._stopped = False
        self.yields = 0  # how often the file was closed to let another process in (tests, benchmark note)
        self.opens = 0  # how often the keeper opened the file
        self._watch = _OpenWatch(store.path)
        self._watcher = threading.Thread(target=self._watch_loop, name="db-gate", daemon=True)
        self._watcher.start()

    @contextmanager
    def session(self) -> Iterator[Store]:
        """Hold the store open for one request; use the yielded Store's connect/transaction/query inside."""
        self._enter()
        try:
            yield self.store
        finally:
            self._leave()

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """A session whose writes are serialised with the server's other writes."""
        with self.session() as store, self.write_lock:
            yield store

    def close(self) -> None:
        """Stop watching and close the keeper; sessions still work afterwards, each opening the file itself."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._cond.notify_all()
        self._watcher.join(timeout=2)
        with self._cond:
            if self._keeper is not None and self._active == 0:
                self._close_keeper()
            self._watch.close()

    # --- admission ------------------------------------------------------------------------------------------------

    def _enter(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                if self._keeper is not None and not self._yielding:
                    if self._watch.available or now - self._opened_at < self.max_hold_s:
                        self._active += 1
                        return
                    self._yielding = True  # held long enough: drain, close, leave a gap
                    if self._active == 0:
                        self._close_keeper(gap=True)
                        continue
                if self._yielding or self._opening or now < self._closed_until:
                    wait = self._closed_until - now if now < self._closed_until and not self._yielding else None
                    self._cond.wait(timeout=wait)
                    continue
                self._opening = True
                break
        try:
            keeper = ExitStack()
            keeper.enter_context(self.store.connect())  # retries while another process holds the file
            self._watch.rearm()  # the file may have been replaced while closed (a restore)
            self._watch.drain()  # our own open(2) is in the queue now; anything later is another process
        except BaseException:
            with self._cond:
                self._opening = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._keeper = keeper
            self.opens += 1
            self._opened_at = time.monotonic()
            self._opening = False
            self._active += 1
            self._cond.notify_all()

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._idle_since = time.monotonic()
                if self._yielding or self._stopped:
                    self._close_keeper(gap=self._yielding)
            self._cond.notify_all()

    def _close_keeper(self, gap: bool = False) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()
        if gap:
            self._closed_until = time.monotonic() + self.gap_s
            self.yields += 1
        self._yielding = False

    # --- background: close when idle, step aside when another process opens the file ---------------------------

    def _watch_loop(self) -> None:
        while True:
            other_opened = self._watch.wait(timeout=self.linger_s)
            with self._cond:
                if self._stopped:
                    return
                steady = self._keeper is not None and not self._opening
                if other_opened and steady:
                    self._yielding = True
                if steady and self._active == 0:
                    if self._yielding:
                        self._close_keeper(gap=True)
                    elif time.monotonic() - self._idle_since >= self.linger_s:
                        self._close_keeper()
                self._cond.notify_all()
