"""Candidate registries: who runs in which election, and a compiled matcher that finds them in posts.

An operator describes each election in one TOML file under `models/registry/` (format in
`models/registry/README.md`): region, candidates and running mates, nicknames, ballot numbers, parties, slogans,
hashtags. `Registry.load()` reads every file there and turns each name, nickname, acronym, slogan and hashtag into
a *phrase*: a sequence of normal-form tokens (models.text.normalize), so a phrase matches however the post spells
it ("Pak Haryo", "pak haryooo", "#LanjutkanHarsi").

Matching runs on the token stream the features already have (no second pass over the text): `first` maps the
first token of every phrase to the phrases that start with it; models.features marks those tokens with one bit
and checks the rest of a phrase only where such a token occurs, so posts that mention no candidate cost nothing.
tests/models/test_candidates.py checks that the matches equal those of spaCy's `PhraseMatcher` over the same
tokens.

Ambiguity. A one-word name that is also a common word ("Bagus", "Amin") would fire on "pelayanannya bagus";
such a word (one listed in `lexicon/words.txt`) only matches after an honorific or a ballot word ("Pak Bagus",
"paslon Bagus") or as a hashtag ("#BAGUS"). Every one-word name also gets those honorific forms.

Registries never need retraining: the model sees only generic cues (a registered candidate is named; one of
their slogans or hashtags is used), and the reasons name the candidate. Files with `heldout = true` are used when
classifying but not when training (the demo election is a held-out evaluation).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from models.text import normalize, word_list
from pipeline.errors import RegistryError

REGISTRY_DIR = Path(__file__).resolve().parent / "registry"
KINDS = ("pilpres", "pilkada", "pileg")
HONORIFICS = (
    "pak", "bapak", "bu", "ibu", "mas", "mbak", "bang", "abang", "kang", "akang", "teh", "teteh", "cak", "ning",
    "gus", "uda", "uni", "daeng", "om", "bung", "kak", "abah", "buya", "kyai", "kiai", "haji", "ustadz",
)  # fmt: skip
BALLOT_WORDS = (
    "paslon", "calon", "capres", "cawapres", "cagub", "cawagub", "cabup", "cawabup", "cawalkot", "caleg",
)  # fmt: skip
NAME, TAG, ELECTION = "name", "tag", "election"  # phrase kinds: a candidate named / their slogan or tag / the race


@dataclass(frozen=True)
class Candidate:
    election_id: str
    election_name: str
    voting_day: date | None
    number: int
    name: str
    running_mate: str
    parties: tuple[str, ...]

    @property
    def pair(self) -> str:
        return f"{self.name}–{self.running_mate}" if self.running_mate else self.name

    def describe(self) -> str:
        """Indonesian, for reasons: "paslon nomor 2 Bagus Pranoto–Ahmad Fauzan Hilmi (Pilkada ...)"."""
        return f"paslon nomor {self.number} {self.pair} ({self.election_name})"


@dataclass(frozen=True)
class Phrase:
    tokens: tuple[str, ...]
    kind: str  # NAME, TAG or ELECTION
    candidate: int  # index into Registry.candidates; -1 for an election-wide tag
    election: int  # index into Registry.elections
    source: str  # as written in the file


@dataclass
class Registry:
    elections: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    sha256: str = ""
    _seen: set[tuple[tuple[str, ...], str, int]] = field(default_factory=set, repr=False)
    _first: tuple[int, dict[str, dict[str | None, tuple[int, ...]]]] | None = field(default=None, repr=False)

    # -- loading ---------------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path | None = REGISTRY_DIR, include_heldout: bool = True) -> Registry:
        """Every `*.toml` in `directory` (none if it is None or missing), sorted by file name."""
        if directory is None or not Path(directory).is_dir():
            return cls()
        return cls.from_files(sorted(Path(directory).glob("*.toml")), include_heldout=include_heldout)

    @classmethod
    def from_files(cls, paths: Iterable[Path], include_heldout: bool = True) -> Registry:
        reg = cls()
        digest = hashlib.sha256()
        for path in paths:
            path = Path(path)
            try:
                raw = path.read_bytes()
                data = tomllib.loads(raw.decode("utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise RegistryError(f"{path.name}: cannot read: {exc}") from None
            election = _check_election(path.name, data)
            if election["heldout"] and not include_heldout:
                continue
            digest.update(path.name.encode() + b"\0" + raw + b"\0")
            reg.files.append(path)
            reg._add(path.name, election, data)
        reg.sha256 = digest.hexdigest() if reg.files else ""
        return reg

    def _add(self, fname: str, election: dict[str, Any], data: dict[str, Any]) -> None:
        e_idx = len(self.elections)
        self.elections.append(election)
        for tag in _strings(fname, "election.hashtags", election.get("hashtags", [])):
            self._phrase(fname, tag, ELECTION, -1, e_idx, hashtag=True)
        raw = data.get("candidates")
        if not isinstance(raw, list) or not raw:
            raise RegistryError(f"{fname}: needs at least one [[candidates]] table")
        seen: set[int] = set()
        for i, c in enumerate(raw, 1):
            where = f"{fname}: candidates #{i}"
            if not isinstance(c, dict):
                raise RegistryError(f"{where}: must be a table")
            number, name = c.get("number"), c.get("name")
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 99:
                raise RegistryError(f"{where}: 'number' must be the ballot number, an integer 1-99")
            if number in seen:
                raise RegistryError(f"{where}: ballot number {number} is used twice")
            seen.add(number)
            if not isinstance(name, str) or not name.strip():
                raise RegistryError(f"{where}: 'name' is required")
            mate = c.get("running_mate", "")
            if not isinstance(mate, str):
                raise RegistryError(f"{where}: 'running_mate' must be a string")
            known = {"number", "name", "running_mate", "nicknames", "acronym", "parties", "slogans", "hashtags"}
            unknown = sorted(set(c) - known)
            if unknown:
                raise RegistryError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
            parties = tuple(_strings(where, "parties", c.get("parties", [])))
            cand = Candidate(
                election["id"], election["name"], election["voting_day"], number, name.strip(), mate.strip(), parties
            )
            k = len(self.candidates)
            self.candidates.append(cand)
            names = [cand.name] + ([cand.running_mate] if cand.running_mate else [])
            names += _strings(where, "nicknames", c.get("nicknames", []))
            acronym = c.get("acronym", "")
            if not isinstance(acronym, str):
                raise RegistryError(f"{where}: 'acronym' must be a string")
            if acronym.strip():
                names.append(acronym.strip())
            if cand.running_mate:  # "Haryo–Siti": the first words of both names, as posts write the pair
                names.append(f"{cand.name.split()[0]} {cand.running_mate.split()[0]}")
            for n in names:
                self._phrase(where, n, NAME, k, e_idx)
            for s in _strings(where, "slogans", c.get("slogans", [])):
                self._phrase(where, s, TAG, k, e_idx)
            for t in _strings(where, "hashtags", c.get("hashtags", [])):
                self._phrase(where, t, TAG, k, e_idx, hashtag=True)

    def _phrase(self, where: str, text: str, kind: str, cand: int, e_idx: int, hashtag: bool = False) -> None:
        if hashtag:
            if not text.startswith("#") or len(text) < 2 or " " in text:
                raise RegistryError(f"{where}: hashtag {text!r} must look like '#Pilih02'")
            toks = normalize(text)[:1]  # the whole tag as one token ("#pilih02")
        else:
            toks = [t for t in normalize(text) if t not in ("URL", "MENTION")]
        if not toks:
            raise RegistryError(f"{where}: {text!r} has no word to match")
        variants = [tuple(toks)]
        if len(toks) == 1 and not hashtag:
            word = toks[0]
            if word in word_list() or word in HONORIFICS or len(word) < 3:
                variants = []  # a common word alone is not a name: only with an honorific / ballot word
            variants += [(h, word) for h in HONORIFICS + BALLOT_WORDS]
        for v in variants:
            key = (v, kind, cand)
            if key not in self._seen:
                self._seen.add(key)
                self.phrases.append(Phrase(v, kind, cand, e_idx, text))

    # -- matching --------------------------------------------------------------------------------------
    @property
    def first(self) -> dict[str, dict[str | None, tuple[int, ...]]]:
        """First token -> {second token (None for one-token phrases) -> indices of those phrases}. Two levels,
        because an honorific ("pak") starts a phrase for every one-word name: the second token picks the few
        that can match in O(1). Built once (the registry does not change after loading)."""
        if self._first is None or self._first[0] != len(self.phrases):
            self._first = (len(self.phrases), _first_index(self.phrases))
        return self._first[1]

    def candidates_at(self, first: str, second: str | None) -> tuple[int, ...]:
        """Phrases that may start with these two tokens (one-token phrases first, then longer ones)."""
        entry = self.first.get(first)
        if entry is None:
            return ()
        return entry.get(None, ()) + (entry.get(second, ()) if second is not None else ())

    def match(self, tokens: Sequence[str]) -> list[tuple[int, int, int]]:
        """(start, end, phrase index) of every phrase occurrence in a normal-form token list (reference
        implementation, plain Python; models.features has the one used for scoring)."""
        out = []
        for i, tok in enumerate(tokens):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            for p in self.candidates_at(tok, nxt):
                ph = self.phrases[p].tokens
                if tuple(tokens[i : i + len(ph)]) == ph:
                    out.append((i, i + len(ph), p))
        return out

    def party_words(self) -> frozenset[str]:
        """Normal-form single tokens of the registered parties ("gerindra", "pdip")."""
        words = set()
        for c in self.candidates:
            for party in c.parties:
                toks = normalize(party)
                if len(toks) == 1 and toks[0] not in word_list():  # not "garuda" (also the national team)
                    words.add(toks[0])
        return frozenset(words)

    def describe_phrase(self, p: int) -> str:
        ph = self.phrases[p]
        if ph.kind == ELECTION:
            return f"tagar pemilihan {self.elections[ph.election]['name']}"
        return self.candidates[ph.candidate].describe()


def _first_index(phrases: Sequence[Phrase]) -> dict[str, dict[str | None, tuple[int, ...]]]:
    first: dict[str, dict[str | None, list[int]]] = {}
    for i, p in enumerate(phrases):
        second = p.tokens[1] if len(p.tokens) > 1 else None
        first.setdefault(p.tokens[0], {}).setdefault(second, []).append(i)
    return {k: {s: tuple(v) for s, v in d.items()} for k, d in first.items()}


def _strings(where: str, name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise RegistryError(f"{where}: '{name}' must be a list of non-empty strings")
    return [x.strip() for x in value]


def _check_election(fname: str, data: dict[str, Any]) -> dict[str, Any]:
    e = data.get("election")
    if not isinstance(e, dict):
        raise RegistryError(f"{fname}: needs an [election] table")
    for key in ("id", "name", "region"):
        if not isinstance(e.get(key), str) or not e[key].strip():
            raise RegistryError(f"{fname}: [election] needs '{key}' (a string)")
    if e.get("kind") not in KINDS:
        raise RegistryError(f"{fname}: [election] 'kind' must be one of {', '.join(KINDS)}")
    day = e.get("voting_day")
    if day is not None and not isinstance(day, date):
        raise RegistryError(f"{fname}: [election] 'voting_day' must be a date such as 2024-11-27")
    heldout = e.get("heldout", False)
    if not isinstance(heldout, bool):
        raise RegistryError(f"{fname}: [election] 'heldout' must be true or false")
    known = {"id", "name", "kind", "region", "office", "voting_day", "hashtags", "heldout", "note"}
    unknown = sorted(set(e) - known)
    if unknown:
        raise RegistryError(f"{fname}: [election] unknown field(s) {unknown}; known: {sorted(known)}")
    return {**e, "voting_day": day, "heldout": heldout}
