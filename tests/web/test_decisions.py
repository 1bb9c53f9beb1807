"""Deciding: the four-eyes rule end to end over HTTP, append-only decisions with who and when, the audit page and
audit log, and the case file of a confirmed violation."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

from fastapi.testclient import TestClient

from pipeline.storage import Store
from tests.web.seed import csrf_of, key

ONE = key(1)
PATH = f"/items/{ONE[0]}/{ONE[1]}"


def decide(client: TestClient, decision: str, path: str = PATH, **fields: str) -> object:
    page = client.get(path).text
    sha = re.findall(r'class="hash">([0-9a-f]{64})<', page)[1]  # the page shows the raw, then the text sha256
    data = {"csrf_token": csrf_of(page), "decision": decision, "text_sha256": sha, **fields}
    return client.post(path.replace("/items/", "/decide/"), data=data)


def status(store: Store, k: tuple[str, str] = ONE) -> str:
    return str(store.query("SELECT status FROM review_items WHERE platform_post_id = ?", [k[1]])[0]["status"])


VIOLATION = {"category": "endorsement", "skb_item": "2", "note": "ajakan memilih nomor satu"}


def test_violation_is_confirmed_only_by_a_second_person(clients: dict[str, TestClient], seeded: Store) -> None:
    rina, budi = clients["rina"], clients["budi"]
    response = decide(rina, "violation", **VIOLATION)
    assert response.status_code == 200 and "Keputusan tersimpan: menunggu konfirmasi" in response.text
    assert status(seeded) == "second_review"
    again = decide(rina, "violation", **VIOLATION)  # the same person cannot confirm their own call
    assert again.status_code == 409 and "keputusan berikutnya milik orang lain" in again.text
    assert status(seeded) == "second_review"
    assert decide(budi, "violation", category="endorsement", skb_item="6").status_code == 200
    assert status(seeded) == "confirmed"
    rows = seeded.query("SELECT reviewer, role, decision, status_before, status_after FROM review_decisions")
    assert [(r["reviewer"], r["status_before"], r["status_after"]) for r in rows] == [
        ("rina", "pending", "second_review"),
        ("budi", "second_review", "confirmed"),
    ]
    assert decide(clients["sari"], "not_violation").status_code == 409  # final: nothing overwrites it


def test_disagreement_goes_to_a_supervisor(clients: dict[str, TestClient], seeded: Store) -> None:
    decide(clients["rina"], "violation", **VIOLATION)
    decide(clients["budi"], "not_violation", dismiss_reason="news_or_information")
    assert status(seeded) == "disputed"
    peninjau = clients["rina"].get("/queue").text
    assert "/items/mastodon/" + ONE[1] not in peninjau.split('<table class="queue">')[-1]  # not in a reviewer's work
    sari = clients["sari"]
    assert "/items/mastodon/" + ONE[1] in sari.get("/queue").text
    assert decide(sari, "second_opinion").status_code == 409  # a supervisor must settle it
    assert decide(sari, "violation", **VIOLATION).status_code == 200
    assert status(seeded) == "confirmed"


def test_supervisor_may_dismiss_at_second_review(clients: dict[str, TestClient], seeded: Store) -> None:
    decide(clients["rina"], "violation", **VIOLATION)
    decide(clients["sari"], "not_violation", note="berita, bukan ajakan")
    assert status(seeded) == "dismissed"


def test_not_violation_and_second_opinion(clients: dict[str, TestClient], seeded: Store) -> None:
    two = f"/items/mastodon/{key(2)[1]}"
    decide(clients["rina"], "not_violation", path=two, dismiss_reason="neutral_reminder", note="imbauan")
    assert status(seeded, key(2)) == "dismissed"
    row = seeded.query("SELECT dismiss_reason, note FROM review_decisions WHERE platform_post_id = ?", [key(2)[1]])
    assert row == [{"dismiss_reason": "neutral_reminder", "note": "imbauan"}]
    decide(clients["rina"], "second_opinion", note="ragu")
    assert status(seeded) == "second_opinion"
    assert decide(clients["rina"], "violation", **VIOLATION).status_code == 409  # asked for a second opinion
    decide(clients["budi"], "violation", **VIOLATION)
    assert status(seeded) == "second_review"  # still needs a second person to say violation


def test_decision_form_is_validated(clients: dict[str, TestClient], seeded: Store) -> None:
    rina = clients["rina"]
    assert decide(rina, "violation", category="endorsement").status_code == 409  # no SKB item
    assert decide(rina, "violation", category="'; DROP TABLE x; --", skb_item="2").status_code == 409
    assert decide(rina, "approve").status_code == 409
    assert decide(rina, "not_violation", dismiss_reason="because").status_code == 409
    assert (
        decide(rina, "violation", note="x" * 5000, **{k: v for k, v in VIOLATION.items() if k != "note"}).status_code
        == 409
    )
    assert status(seeded) == "pending"
    assert seeded.query("SELECT count(*) AS n FROM review_decisions")[0]["n"] == 0


def test_a_decision_on_a_text_that_changed_is_refused(clients: dict[str, TestClient], seeded: Store) -> None:
    rina = clients["rina"]
    page = rina.get(PATH).text
    data = {"csrf_token": csrf_of(page), "decision": "not_violation", "text_sha256": "0" * 64}
    response = rina.post(PATH.replace("/items/", "/decide/"), data=data)
    assert response.status_code == 409 and "Teks unggahan berubah" in response.text


def test_deciding_moves_to_the_next_item_with_its_lease(clients: dict[str, TestClient], seeded: Store) -> None:
    response = decide(clients["rina"], "not_violation")
    assert response.url.path == f"/items/mastodon/{key(2)[1]}"
    assert seeded.query("SELECT holder, platform_post_id FROM review_leases") == [
        {"holder": "rina", "platform_post_id": key(2)[1]}
    ]


def test_views_and_decisions_are_in_the_audit_log_and_page(clients: dict[str, TestClient], seeded: Store) -> None:
    decide(clients["rina"], "violation", **VIOLATION)
    clients["ana"].get(PATH)
    log = seeded.query("SELECT actor, action FROM audit_log WHERE entity = 'review_item' ORDER BY audit_id")
    actions = [(r["actor"], r["action"]) for r in log]
    assert ("rina", "view") in actions and ("rina", "decide") in actions and ("ana", "view") in actions
    page = clients["ana"].get(PATH.replace("/items/", "/audit/")).text
    assert "rina" in page and "Pelanggaran" in page and "menunggu → menunggu konfirmasi" in page
    assert "decide" in page and "view" in page


def test_decisions_table_is_append_only_through_the_workspace(clients: dict[str, TestClient], seeded: Store) -> None:
    decide(clients["rina"], "violation", **VIOLATION)
    first = seeded.query("SELECT * FROM review_decisions")
    decide(clients["budi"], "violation", **VIOLATION)
    rows = seeded.query("SELECT * FROM review_decisions ORDER BY decision_id")
    assert rows[0] == first[0] and len(rows) == 2
    assert all(r["decided_at"] is not None and r["reviewer"] for r in rows)


def test_case_file_of_a_confirmed_violation(clients: dict[str, TestClient], seeded: Store) -> None:
    rina = clients["rina"]
    refused = rina.get(PATH.replace("/items/", "/casefile/"))
    assert refused.status_code == 409  # not confirmed yet
    decide(rina, "violation", **VIOLATION)
    decide(clients["budi"], "violation", **VIOLATION)
    response = rina.get(PATH.replace("/items/", "/casefile/"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    files = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    assert set(files) == {"index.html", "post.json", "prediction.json", "decisions.json", "raw.json", "manifest.json"}
    manifest = json.loads(files["manifest.json"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    post = seeded.query("SELECT raw_sha256 FROM posts WHERE platform_post_id = ?", [ONE[1]])[0]
    assert hashlib.sha256(files["raw.json"]).hexdigest() == post["raw_sha256"] == manifest["raw_sha256_as_captured"]
    assert [d["reviewer"] for d in json.loads(files["decisions.json"])] == ["rina", "budi"]
    html = files["index.html"].decode()
    assert "@media print" in html and "ajakan memilih nomor satu" in html and "<script" not in html
    exports = seeded.query("SELECT actor FROM audit_log WHERE action = 'export'")
    assert exports == [{"actor": "rina"}]
    assert clients["ana"].get(PATH.replace("/items/", "/casefile/")).status_code == 403
