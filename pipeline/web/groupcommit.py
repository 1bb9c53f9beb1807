"""Group commit of the server's writes that rush in: reviewers' decisions, and the audit log's record of each
evidence page viewed or exported. Those that arrive while a transaction is being written wait, and are then written
together in the next one, so that ten busy reviewers share one commit (and its fsync) instead of queueing for ten.

There is no writer thread: the first waiting request that finds no group being written becomes the writer. It
takes the server's write lock, and only then takes everything waiting (up to `MAX_GROUP`), so that what arrived
while it waited for the lock rides along. Each decision is checked on its own, in arrival order, against the store
as the group's earlier decisions left it (`repo.decide_group`); a refused one gets its own error and writes nothing.
Nobody gets an answer before their group has committed. If the group's transaction fails as a whole (a DuckDB
error), each of its members is tried again alone, in a transaction of its own, and fails only if that fails too; if
the store cannot be opened at all (another process kept it past the retry budget), every member of the group gets
that error. Either way nothing is acknowledged unless it was written.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.errors import StoreLockedError
from pipeline.storage import Store
from pipeline.web import repo
from pipeline.web.db import Gate
from pipeline.web.foureyes import Decision
from pipeline.web.queuecache import QueueCache

MAX_GROUP = 32  # members per transaction at most (bounds the size of its statements)
log = logging.getLogger(__name__)
Outcome = repo.Decided | None  # a decision's new status and next item; None for an access log


@dataclass(frozen=True)
class _Deciding:
    """A decision as the route hands it over; its candidates for the next item are added under the write lock."""

    key: repo.Key
    user: str
    role: str
    decision: Decision
    seen_sha: str
    decided: set[repo.Key]  # the items this person decided, as the in-memory queue knows them


@dataclass
class _Waiting:
    """One request's write, and then its outcome."""

    write: _Deciding | repo.AccessLog
    outcome: Outcome = None
    error: BaseException | None = None
    done: bool = False

    def finish(self, outcome: Outcome | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.outcome = outcome
        self.done = True

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        return self.outcome


class GroupCommit:
    """Writes the server's decisions and access logs in groups. One per server process."""

    def __init__(self, gate: Gate, cache: QueueCache, lease_minutes: float, clock: Callable[[], datetime]) -> None:
        self.gate = gate
        self.cache = cache
        self.lease_minutes = lease_minutes
        self.clock = clock
        self._cond = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._writing = False
        self.sizes: Counter[int] = Counter()  # transactions committed, by how many members they carried
        self.failed_groups = 0  # group transactions that failed as a whole (their members were tried alone)

    @property
    def waiting(self) -> int:
        """Members waiting for a group (tests)."""
        with self._cond:
            return len(self._waiting)

    def decide(
        self, key: repo.Key, user: str, role: str, d: Decision, seen_sha: str, decided: set[repo.Key]
    ) -> repo.Decided:
        """Write this decision with whatever else is waiting; once it is committed, return the item's new status and
        the next item leased to this person. Raises WorkspaceError if the decision was refused, or the error that
        kept it from being written."""
        outcome = self._submit(_Deciding(key, user, role, d, seen_sha, decided))
        assert outcome is not None
        return outcome

    def log(self, user: str, action: str, key: repo.Key, detail: dict[str, Any]) -> None:
        """Record an evidence view or export in the audit log, with whatever else is waiting; return once it is
        committed (or raise the error that kept it from being written)."""
        self._submit(repo.AccessLog(user, action, key, detail))

    def _submit(self, write: _Deciding | repo.AccessLog) -> Outcome:
        me = _Waiting(write)
        with self._cond:
            self._waiting.append(me)
            while not me.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                self._cond.release()
                try:
                    self._write_next(me)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()
        return me.result()

    def _take(self) -> list[_Waiting]:
        with self._cond:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        return group

    def _write_next(self, me: _Waiting) -> None:
        """Write the next group (the caller's own write is in it unless MAX_GROUP others came first). Every member
        taken into the group is finished here, whatever happens."""
        group: list[_Waiting] = []
        try:
            with self.gate.writing() as store:
                group = self._take()
                self._write(store, group)
        except BaseException as exc:
            if not group:  # the store could not be opened: the writer's own write fails, the others stay queued
                with self._cond:
                    if me in self._waiting:
                        self._waiting.remove(me)
                group = [me]
            for waiting in group:
                if not waiting.done:
                    waiting.finish(exc)
            if not isinstance(exc, Exception):
                raise

    def _write(self, store: Store, group: list[_Waiting]) -> None:
        """One transaction for the group, under the write lock; then the in-memory queue follows, in commit order."""
        # stamped and ranked under the lock: decisions are stamped in the order they commit, and the next items are
        # chosen after the decisions and leases committed before this group
        now = self.clock()
        requests = [self._request(w.write, now) for w in group]
        outcomes: list[Outcome | BaseException]
        try:
            outcomes = list(repo.decide_group(store, requests, now, self.lease_minutes))
            self.sizes[len(group)] += 1
        except StoreLockedError:
            raise
        except Exception as exc:
            if len(group) == 1:
                raise
            self.failed_groups += 1
            log.warning("a group of %d writes failed (%s); writing each alone", len(group), exc)
            outcomes = [self._alone(store, r, now) for r in requests]
        expires = now + timedelta(minutes=self.lease_minutes)
        for waiting, outcome in zip(group, outcomes, strict=True):
            if isinstance(waiting.write, _Deciding) and isinstance(outcome, tuple):
                status, following = outcome
                self.cache.after_decision(waiting.write.key, waiting.write.user, status, now, following, expires)
            waiting.finish(outcome)

    def _request(self, write: _Deciding | repo.AccessLog, now: datetime) -> repo.DecisionRequest | repo.AccessLog:
        """A decision with its decider's candidates for the next item, from the in-memory queue."""
        if isinstance(write, repo.AccessLog):
            return write
        candidates = self.cache.candidates(write.role, write.decided, write.user, now, skip=write.key)
        return repo.DecisionRequest(
            write.key, write.user, write.role, write.decision, write.seen_sha, tuple(candidates)
        )

    def _alone(
        self, store: Store, request: repo.DecisionRequest | repo.AccessLog, now: datetime
    ) -> Outcome | BaseException:
        """One member of a failed group, in a transaction of its own: its outcome, or the error that stopped it."""
        try:
            (outcome,) = repo.decide_group(store, [request], now, self.lease_minutes)
            self.sizes[1] += 1
        except Exception as exc:  # noqa: BLE001 - handed to the request that made it
            return exc
        return outcome
