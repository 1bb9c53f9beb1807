"""The import formats (spiders.importers): every good row of each fixture export becomes a Post, every bad one a
reject whose reason names the file, the line and what is wrong; unusable files and mappings are InputErrors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.schema import Reject, parse_post
from spiders.importers import import_to_landing, resolve_mapping
from tests.spiders.golden import FIXTURES_ROOT

EXPORTS = FIXTURES_ROOT / "import"
WHEN = datetime(2024, 11, 28, 1, 2, 3, tzinfo=UTC)


def run(tmp_path: Path, name: str, fmt: str, mapping: str | None = None) -> tuple[list, list[str]]:
    result = import_to_landing(
        EXPORTS / name, fmt, EXPORTS / mapping if mapping else None, tmp_path, "r1", collected_at=WHEN
    )
    landing = tmp_path / "import"
    posts = [parse_post(line) for line in (landing / "r1.jsonl").read_text(encoding="utf-8").splitlines()]
    rejects = [Reject.model_validate_json(line) for line in (landing / "r1.rejects.jsonl").read_text().splitlines()]
    assert (result.posts, result.rejects) == (len(posts), len(rejects))
    assert all(r.stage == "import" and r.raw and r.run_id == "r1" for r in rejects)
    target = json.loads((landing / "r1.targets.jsonl").read_text())
    assert (target["target"], target["fetched"], target["rejected"]) == (f"import:{name}", len(posts), len(rejects))
    return posts, [r.reason for r in rejects]


def test_meta_content_library_csv(tmp_path: Path) -> None:
    posts, reasons = run(tmp_path, "meta_content_library.csv", "meta-csv")
    assert [p.platform_post_id for p in posts] == ["meta:1029384756", "meta:1029384757", "meta:1029384758"]
    first = posts[0]
    assert (first.platform.value, first.author.handle, first.author.display_name) == (
        "import",
        "sri.wahyuni.guru",
        "Sri Wahyuni",
    )
    assert first.posted_at == datetime(2024, 11, 2, 1, 15, tzinfo=UTC) and first.engagement.likes == 212
    assert posts[2].author.handle == "100046"  # no username: the owner id stands in
    assert reasons == [
        "meta_content_library.csv:5: platform_post_id: column 'id' is empty or missing",
        "meta_content_library.csv:6: posted_at: 'kemarin sore' is not a time in the 'iso' format "
        "(Invalid isoformat string: 'kemarin sore')",
        "meta_content_library.csv:7: likes: 'banyak' is not a whole number",
        "meta_content_library.csv:8: 1 cell(s) more than the header's 13 columns",
        "meta_content_library.csv:9: row.text: invalid UTF-8 (byte 0xff at character 11)",
    ]


def test_tiktok_research_api_json(tmp_path: Path) -> None:
    posts, reasons = run(tmp_path, "tiktok_research_api.json", "tiktok-json")
    assert [p.platform_post_id for p in posts] == ["tiktok:7436512098765432101", "tiktok:7436512098765432102"]
    assert posts[0].url == "https://www.tiktok.com/@bu_guru_lia/video/7436512098765432101"
    assert posts[0].engagement.views == 40213 and posts[0].posted_at == datetime(2024, 11, 5, 7, 0, tzinfo=UTC)
    assert reasons == [
        "tiktok_research_api.json:1 video 2: posted_at: column 'create_time' is empty or missing",
        "tiktok_research_api.json:1 video 3: video is not an object",
    ]


def test_x_api_json_becomes_the_same_records_as_the_spider(tmp_path: Path) -> None:
    posts, reasons = run(tmp_path, "x_api_answers.jsonl", "x-json")
    assert [(p.platform.value, p.platform_post_id) for p in posts] == [
        ("x", "1853447105541046277"),
        ("x", "1856480132421046280"),
    ]
    assert posts[0].repost_of == "1852999153873846273" and posts[0].author.bio.startswith("Sekretaris Kecamatan")
    assert posts[0].url == "https://x.com/hendra_bkj/status/1853447105541046277" and posts[0].language == "id"
    assert (
        reasons[0]
        == "x_api_answers.jsonl:2 tweet 0: tweet 1856999999999999999: author_id '42' is not in includes.users"
    )
    assert reasons[1] == "x_api_answers.jsonl:3: expected an X API answer with a data array"
    assert "posted_at has no time zone" in reasons[2]
    assert reasons[3].startswith("x_api_answers.jsonl:5: malformed JSON")


def test_generic_csv_and_jsonl_with_mappings(tmp_path: Path) -> None:
    posts, reasons = run(tmp_path / "csv", "laporan_warga.csv", "csv", "laporan_warga.toml")
    assert [p.platform_post_id for p in posts] == ["laporan:L-001", "laporan:L-002"]
    assert posts[0].posted_at == datetime(2024, 11, 2, 13, 15, tzinfo=UTC)  # 20:15 WIB
    assert reasons == [
        "laporan_warga.csv:4: posted_at: '31/11/2024 07:30' is not a time in the '%d/%m/%Y %H:%M' format "
        "(day is out of range for month)"
    ]
    posts, reasons = run(tmp_path / "jsonl", "arsip.jsonl", "jsonl", "arsip.toml")
    assert [(p.platform_post_id, p.author.platform_id, p.text) for p in posts] == [
        ("A1", "u1", "Netralitas ASN harga mati.")
    ]
    assert reasons == [
        "arsip.jsonl:2: author: column(s) ['user.id'] are empty or missing",
        "arsip.jsonl:3: expected a JSON object, got list",
    ]


@pytest.mark.parametrize(
    ("fmt", "mapping", "message"),
    [
        ("excel", None, "unknown format 'excel'"),
        ("csv", None, "--format csv needs --mapping FILE"),
        ("x-json", "arsip.toml", "x-json needs no mapping"),
    ],
)
def test_unusable_requests_are_input_errors(fmt: str, mapping: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_mapping(fmt, EXPORTS / mapping if mapping else None)


def test_bad_mapping_files_and_headers_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\ntext = "isi"\nwarna = "x"\n')
    with pytest.raises(InputError, match=r"unknown field\(s\) \['warna'\]"):
        resolve_mapping("csv", bad)
    bad.write_text(
        'platform = "friendster"\n[columns]\nplatform_post_id = "a"\ntext = "b"\nposted_at = "c"\nauthor_id = "d"\n'
    )
    with pytest.raises(InputError, match="platform 'friendster' is not one of"):
        resolve_mapping("csv", bad)
    bad.write_text("[columns\n")
    with pytest.raises(InputError, match="is not valid TOML"):
        resolve_mapping("jsonl", bad)
    wrong_header = tmp_path / "x.csv"
    wrong_header.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"the header lacks column\(s\)"):
        import_to_landing(wrong_header, "meta-csv", None, tmp_path, "r1")
    with pytest.raises(InputError, match="does not exist"):
        import_to_landing(tmp_path / "nope.csv", "meta-csv", None, tmp_path, "r1")
