"""The case file of a confirmed violation: a zip to forward to Bawaslu or the employing agency.

Contents: `index.html` (one page that prints well to PDF), `post.json` (post, author, watchlist entry, edit
history), `prediction.json`, `decisions.json`, `raw.json` (the payload byte for byte as captured, so its sha256 is
the post's `raw_sha256`) and `manifest.json` (the sha256 of every other file).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from pipeline.errors import WorkspaceError


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


def build(evidence: dict[str, Any], html: str, generated_by: str, generated_at: datetime) -> bytes:
    """The zip's bytes. Refuses an item that is not a confirmed violation."""
    if evidence["item"]["status"] != "confirmed":
        raise WorkspaceError("not_confirmed")
    post = {k: v for k, v in evidence["post"].items() if k != "raw"}
    files: dict[str, bytes] = {
        "index.html": html.encode("utf-8"),
        "post.json": _dump(
            {
                "post": post,
                "author": evidence["author"],
                "watchlist": evidence["watch"],
                "versions": evidence["versions"],
                "review_item": evidence["item"],
            }
        ),
        "prediction.json": _dump(evidence["prediction"]),
        "decisions.json": _dump(evidence["decisions"]),
        "raw.json": evidence["post"]["raw"].encode("utf-8"),
    }
    manifest = {
        "item": {"platform": post["platform"], "platform_post_id": post["platform_post_id"]},
        "generated_at": generated_at,
        "generated_by": generated_by,
        "algorithm": "sha256",
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "raw_sha256_as_captured": evidence["post"]["raw_sha256"],
    }
    files["manifest.json"] = _dump(manifest)
    buf = io.BytesIO()
    folder = f"kasus-{post['platform']}-{post['platform_post_id']}".replace("/", "_")
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{folder}/{name}", data)
    return buf.getvalue()
