"""ASN signal per author: computed from bio and display name when posts are loaded, stored with its reasons, and
`pantau authors suggest` lists likely-ASN accounts that the watchlist does not follow yet."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipeline.authors import suggest_accounts
from pipeline.cli import app
from pipeline.schema import Post, sha256_text
from pipeline.storage import Store, posts_to_arrow
from tests.conftest import make_post

PEOPLE = {
    "guru_pns": ("Bu Ani", "Guru PNS di SD Negeri 3 Karangsari. Abdi negara."),
    "camat_tm": ("Pak Camat", "Camat Bukit Jaya, Pemkab Tanah Merah"),
    "penjual_bakso": ("Mas Kardi", "Jualan bakso nomor 2 di pasar."),
    "dipantau": ("Pak Darto", "Kepala SMP Negeri 1. NIP 196905141994031007"),
}


def load_people(store: Store) -> None:
    posts = []
    for i, (handle, (name, bio)) in enumerate(PEOPLE.items()):
        author = {"platform_id": f"id-{handle}", "handle": handle, "display_name": name, "bio": bio}
        posts.append(
            Post.model_validate(make_post(i, platform="x", author=author, url=f"https://x.com/{handle}/status/{i}"))
        )
    store.load_batch("r1", posts_to_arrow(posts, [sha256_text(p.text) for p in posts], "r1"), None, [])
    row = {"kind": "account", "platform": "x", "handle": "@Dipantau", "name": "", "agency": "", "region_code": "35.91",
           "region_name": "", "nip": "", "identified_by": "uji", "enabled": True}  # fmt: skip
    store.replace_watchlist([row])


def test_signal_is_stored_per_author(store: Store) -> None:
    load_people(store)
    rows = {r["handle"]: r for r in store.query("SELECT handle, asn_score, asn_reasons FROM authors")}
    assert rows["guru_pns"]["asn_score"] > 0.8 and "menyebut abdi negara" in rows["guru_pns"]["asn_reasons"]
    assert rows["penjual_bakso"]["asn_score"] == 0.0 and rows["penjual_bakso"]["asn_reasons"] == []
    assert "ada nomor berbentuk NIP (18 digit)" in rows["dipantau"]["asn_reasons"]


def test_suggestions_leave_out_the_watchlist_and_the_unlikely(store: Store) -> None:
    load_people(store)
    found = suggest_accounts(store, min_score=0.4)
    assert [s.handle for s in found] == ["guru_pns", "camat_tm"]
    assert found[0].score >= found[1].score and found[0].posts == 1 and found[0].reasons
    assert suggest_accounts(store, min_score=0.4, platform="mastodon") == []


def test_authors_suggest_command(tmp_path: Path) -> None:
    store = Store(tmp_path / "pantau.duckdb")
    store.init()
    load_people(store)
    result = CliRunner().invoke(
        app, ["authors", "suggest", "--min-score", "0.4"], env={"PANTAU_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert "guru_pns" in result.output and "camat_tm" in result.output and "dipantau" not in result.output
    assert "belum di watchlist: 2" in result.output
