"""The replay server's other platforms: a registry of route modules (Bluesky, Telegram, X, YouTube, RSS sites).

Each module (spiders.replay.<platform>) declares `ROUTES`, a list of (method, route name, path pattern),
optionally `ROBOTS_LINES` (what it adds to robots.txt), and `build(folder, generate, seed) -> Source`. Its data
comes from `<platform_data>/<platform>/` when that folder exists, else from the bundled
`spiders/replay/data/<platform>/`; with `generate=N` the module makes N synthetic posts instead. Bundled or given
data is loaded (and checked) when the server starts; generated data on the first request, so a server started for
one platform does not build the others.
"""

from __future__ import annotations

import importlib
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from spiders.replay.answers import Answer, ReplayRequest, json_answer

BUNDLED = Path(__file__).resolve().parent / "data"
# The only credentials the replay server accepts (as PANTAU_* variables, the way spiders receive them): fictional
# values, so tests and the demo can exercise the login paths. Anything else is refused as the platform would.
REPLAY_CREDENTIALS = {
    "PANTAU_BLUESKY_HANDLE": "pantau-ops.bsky.social",
    "PANTAU_BLUESKY_APP_PASSWORD": "replay-app-pass-2024",
    "PANTAU_X_BEARER_TOKEN": "replay-x-bearer-token",
    "PANTAU_YOUTUBE_API_KEY": "replay-youtube-api-key",
}
MODULES: tuple[str, ...] = ("bluesky", "telegram", "x", "youtube", "rss")

Route = tuple[str, str, re.Pattern[str]]


class Source:
    """One platform's data and answers; subclasses override what their platform does differently."""

    name: ClassVar[str] = ""

    def answer(self, route: str, request: ReplayRequest) -> Answer:
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        return {}

    def too_many(self) -> Answer:
        """The platform's own 429 body."""
        return json_answer(429, {"error": "Too many requests"})

    def limit_headers(self, limit: int, remaining: int, reset: datetime) -> dict[str, str]:
        """The platform's spelling of its rate-limit headers (none by default)."""
        return {}

    def targets(self) -> list[dict[str, str]]:
        """What a watchlist could follow here: rows {kind, handle} (`GET /_replay/<platform>/targets`)."""
        return []

    def admin(self, action: str, query: dict[str, str]) -> Answer | None:
        """`POST /_replay/<platform>/<action>`: test knobs; `delete?id=` and `edit?id=&text=` change a post as
        its author would (every platform), others are the platform's own (youtube/quota). None = unknown."""
        if action not in ("delete", "edit") or not query.get("id"):
            return None
        done = self.delete(query["id"]) if action == "delete" else self.edit(query["id"], query.get("text", ""))
        return json_answer(200 if done else 404, {action: query["id"], "done": done})

    def delete(self, post_id: str) -> bool:
        """Remove a post, as its author deleting it; False when there is no such post."""
        return False

    def edit(self, post_id: str, text: str) -> bool:
        """Change a post's text, as its author editing it; False when there is no such post."""
        return False


class Platforms:
    """The platform sources of one server: routed by path, built once (see the module docstring)."""

    def __init__(self, folder: Path | None = None, generate: int | None = None, seed: int = 0) -> None:
        self.folder = folder
        self.generate = generate
        self.seed = seed
        self._modules = {name: importlib.import_module(f"spiders.replay.{name}") for name in MODULES}
        self._sources: dict[str, Source] = {}
        self._lock = threading.Lock()
        if generate is None:
            for name in MODULES:
                self.get(name)

    def data_folder(self, name: str) -> Path:
        given = self.folder / name if self.folder is not None else None
        return given if given is not None and given.is_dir() else BUNDLED / name

    def get(self, name: str) -> Source:
        with self._lock:
            source = self._sources.get(name)
            if source is None:
                build = self._modules[name].build
                source = self._sources[name] = build(self.data_folder(name), self.generate, self.seed)
            return source

    def route(self, method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        """(platform, route name, path parameters) of a request, or None when no platform serves it."""
        for name, module in self._modules.items():
            routes: list[Route] = module.ROUTES
            for verb, route, pattern in routes:
                match = pattern.match(path)
                if match and verb == method:
                    return name, route, match.groupdict()
        return None

    def robots_lines(self) -> list[str]:
        """Lines the platforms add to the server's robots.txt (a module's optional ROBOTS_LINES)."""
        return [line for module in self._modules.values() for line in getattr(module, "ROBOTS_LINES", [])]

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._sources)

    def health(self) -> dict[str, Any]:
        return {name: self._sources[name].health() for name in self.loaded()}
