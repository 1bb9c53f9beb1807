"""Fixtures of the workspace tests: a seeded store, its app, and signed-in clients per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.config import Settings
from pipeline.storage import Store
from pipeline.web.app import create_app
from tests.web.seed import add_user, seed, sign_in


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path, lock_timeout_s=30, login_max_failures=3)


@pytest.fixture
def seeded(settings: Settings) -> Store:
    store = Store(settings.database, settings.lock_timeout_s)
    store.init()
    seed(store)
    for name, role in (("rina", "reviewer"), ("budi", "reviewer"), ("sari", "supervisor"), ("ana", "analyst")):
        add_user(store, name, role)
    add_user(store, "adm", "admin")
    return store


@pytest.fixture
def app(settings: Settings, seeded: Store) -> Iterator[object]:
    application = create_app(settings)
    yield application
    application.state.gate.close()


def _client(app: object, name: str | None) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=True)  # type: ignore[arg-type]
    if name:
        response = sign_in(client, name)
        assert response.status_code == 200 and response.url.path in ("/queue", "/users"), response.text[:300]
    return client


@pytest.fixture
def clients(app: object) -> Iterator[dict[str, TestClient]]:
    made: dict[str, TestClient] = {}

    class _Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> TestClient:
            made[name] = self[name] = _client(app, None if name == "anon" else name)
            return made[name]

    yield _Lazy()
    for c in made.values():
        c.close()
